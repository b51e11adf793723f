//! What a run measured: request outcomes, latency histograms (HDR, 3 significant digits), pool busy
//! time, KV usage and a time series on the simulated clock. Definitions follow aiperf/genai-perf
//! (DESIGN.md §3).

pub mod export;
pub mod series;

use hdrhistogram::Histogram;
use serde::Serialize;

/// A latency histogram in nanoseconds.
#[derive(Clone)]
pub struct LatencyHist {
    h: Histogram<u64>,
    sum_ns: u128,
}

/// Values of one histogram bucket held back by [`LatencyHist::record_batched`].
#[derive(Debug, Clone, Copy, Default)]
pub struct HistBatch {
    lo: u64,
    hi: u64,
    value: u64,
    n: u64,
}

impl Default for LatencyHist {
    fn default() -> Self {
        LatencyHist { h: Histogram::new(3).expect("3 significant digits is a valid histogram precision"), sum_ns: 0 }
    }
}

/// `{mean,p50,p90,p99,max}` in milliseconds, as in `summary.json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencyStats {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl LatencyHist {
    pub fn record(&mut self, ns: u64) {
        self.record_n(ns, 1);
    }

    pub fn record_n(&mut self, ns: u64, count: u64) {
        if count == 0 {
            return;
        }
        // auto-resizing histogram: recording cannot fail for u64 values
        let _ = self.h.record_n(ns.max(1), count);
        self.sum_ns += ns as u128 * count as u128;
    }

    /// Records `ns`, `count` times, holding it back in `batch` while the values that follow fall
    /// in the same bucket (the histogram cannot tell them apart) to record them as one entry: a
    /// decode worker's steps come by the million with nearly equal times. [`Self::flush`] each
    /// batch before reading.
    #[inline]
    pub fn record_batched(&mut self, batch: &mut HistBatch, ns: u64, count: u64) {
        self.sum_ns += ns.max(1) as u128 * count as u128;
        self.count_batched(batch, ns, count);
    }

    /// [`Self::record_batched`] for values whose sum the caller adds with [`Self::add_sum_ns`].
    #[inline]
    pub fn count_batched(&mut self, batch: &mut HistBatch, ns: u64, count: u64) {
        let ns = ns.max(1);
        if batch.n > 0 && batch.lo <= ns && ns <= batch.hi {
            batch.n += count;
            return;
        }
        self.flush(batch);
        if count > 0 {
            *batch =
                HistBatch { lo: self.h.lowest_equivalent(ns), hi: self.h.highest_equivalent(ns), value: ns, n: count };
        }
    }

    /// Adds to the sum of the recorded values (for the mean) what [`Self::count_batched`] left out.
    pub fn add_sum_ns(&mut self, ns: u128) {
        self.sum_ns += ns;
    }

    /// Records what [`Self::record_batched`] holds back in `batch`.
    pub fn flush(&mut self, batch: &mut HistBatch) {
        if batch.n > 0 {
            let _ = self.h.record_n(batch.value, batch.n);
            batch.n = 0;
        }
    }

    pub fn count(&self) -> u64 {
        self.h.len()
    }

    pub fn merge(&mut self, other: &LatencyHist) {
        let _ = self.h.add(&other.h);
        self.sum_ns += other.sum_ns;
    }

    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.h.is_empty() {
            return 0.0;
        }
        self.h.value_at_quantile(q) as f64 / 1e6
    }

    pub fn stats_ms(&self) -> LatencyStats {
        if self.h.is_empty() {
            return LatencyStats::default();
        }
        LatencyStats {
            mean: self.sum_ns as f64 / self.h.len() as f64 / 1e6,
            p50: self.quantile_ms(0.50),
            p90: self.quantile_ms(0.90),
            p99: self.quantile_ms(0.99),
            max: self.h.max() as f64 / 1e6,
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    /// Refused at the frontend (over `maxConcurrentRequests`, over `maxInputLength`, or longer than
    /// a worker's whole KV cache).
    Rejected,
    TimedOut,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Rejected => "rejected",
            Outcome::TimedOut => "timed_out",
        }
    }
}

/// One row of `requests.csv`. Times are ns from the start of the run; stages a request never
/// reached are `None`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRecord {
    pub id: u64,
    pub outcome: Outcome,
    pub arrival_ns: u64,
    pub input_tok: u32,
    pub output_tok: u32,
    pub prefill_start_ns: Option<u64>,
    pub prefill_end_ns: Option<u64>,
    pub kv_transfer_start_ns: Option<u64>,
    pub kv_transfer_end_ns: Option<u64>,
    pub first_token_ns: Option<u64>,
    pub end_ns: u64,
    pub prefill_worker: Option<u32>,
    pub decode_worker: Option<u32>,
    pub preemptions: u32,
}

/// One row of `timeseries.csv`: the state at `time_ns` and rates over the interval before it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeseriesRow {
    pub time_s: f64,
    pub arrivals: u64,
    pub completed: u64,
    pub rejected: u64,
    pub timed_out: u64,
    pub in_flight_requests: u64,
    pub prefill_queue_depth: u64,
    /// Share of prompt blocks prefilled in this interval that came from a prefix cache.
    pub prefix_hit_ratio: f64,
    pub decode_waiting: u64,
    pub decode_batch_size: u64,
    pub kv_transfers_in_flight: u64,
    pub kv_cache_usage_bytes: u64,
    pub kv_cache_capacity_bytes: u64,
    pub output_tok_s: f64,
    pub prefill_utilization: f64,
    pub decode_utilization: f64,
    /// Arrivals per second over the interval.
    pub arrival_rate_s: f64,
    /// P99 TTFT of first tokens and P99 TPOT of requests finished in the interval (0 when none).
    pub ttft_p99_ms: f64,
    pub tpot_p99_ms: f64,
    /// Mean KV transfer time of transfers finished in the interval (0 when none).
    pub kv_transfer_ms: f64,
    /// Running sequences / (maxBatchSize x serving decode-side replicas).
    pub decode_batch_utilization: f64,
    /// Replicas per pool: the autoscaler's target, starting (cold start), serving (incl. draining).
    pub prefill_replicas_desired: u32,
    pub prefill_replicas_starting: u32,
    pub prefill_replicas_serving: u32,
    pub decode_replicas_desired: u32,
    pub decode_replicas_starting: u32,
    pub decode_replicas_serving: u32,
}

/// Upper bounds (seconds) of the Prometheus histograms pdsim exports: the Prometheus client
/// libraries' default buckets (`DefBuckets` in client_golang, `DEFAULT_BUCKETS` in client_python).
pub const PROM_BUCKETS_S: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A cumulative Prometheus histogram (classic buckets, `+Inf` implied by `count`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PromHist {
    /// Observations <= each bound of [`PROM_BUCKETS_S`].
    pub le: [u64; PROM_BUCKETS_S.len()],
    pub count: u64,
    /// Sum of the observations in integer nanoseconds: exact, whatever order they come in.
    pub sum_ns: u128,
}

impl PromHist {
    /// Records `n` observations of `ns` nanoseconds.
    pub fn observe_n_ns(&mut self, ns: u64, n: u64) {
        let s = ns as f64 / 1e9;
        for (i, &b) in PROM_BUCKETS_S.iter().enumerate() {
            if s <= b {
                self.le[i] += n;
            }
        }
        self.count += n;
        self.sum_ns += ns as u128 * n as u128;
    }

    /// Sum of the observations in seconds (Prometheus' `_sum`).
    pub fn sum_s(&self) -> f64 {
        self.sum_ns as f64 / 1e9
    }
}

/// One pool at one scrape.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PoolScrape {
    pub desired: u32,
    pub starting: u32,
    pub serving: u32,
    pub draining: u32,
    pub queue_depth: u64,
    /// Requests in batches now, and the pool's batch capacity (maxBatchSize x serving replicas).
    pub batch_size: u64,
    pub max_batch_size: u64,
    /// Busy share of serving time over the autoscaler's window.
    pub gpu_utilization: f64,
    pub kv_usage_bytes: u64,
    pub kv_capacity_bytes: u64,
}

/// What a Prometheus server scraping the cluster would hold at `t_ns`: cumulative counters and
/// histograms, and gauges.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeRow {
    pub t_ns: u64,
    pub prefill: Option<PoolScrape>,
    pub decode: PoolScrape,
    pub requests_arrived: u64,
    pub requests_completed: u64,
    pub requests_rejected: u64,
    pub requests_timed_out: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub prefix_blocks_total: u64,
    pub prefix_blocks_hit: u64,
    pub ttft: PromHist,
    pub tpot: PromHist,
    pub itl: PromHist,
    pub kv_transfer: PromHist,
    pub in_flight_requests: u64,
}

/// One replica-count change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleEvent {
    pub time_s: f64,
    pub pool: &'static str,
    pub from: u32,
    pub to: u32,
    pub reason: &'static str,
}

/// Everything the simulator measured in one run.
#[derive(Clone, Default)]
pub struct RunMetrics {
    pub arrived: u64,
    /// Requests whose output length the deployment's `maxOutputLength` cut short.
    pub output_clamped: u64,
    /// The longest output length the workload asked for.
    pub max_output_tok_asked: u32,
    pub completed: u64,
    pub rejected: u64,
    pub timed_out: u64,
    pub ttft: LatencyHist,
    pub tpot: LatencyHist,
    pub itl: LatencyHist,
    pub e2e: LatencyHist,
    pub kv_transfer: LatencyHist,
    pub prefill_queue: LatencyHist,
    pub decode_queue: LatencyHist,
    pub input_tok_completed: u64,
    pub output_tok_completed: u64,
    /// Completed requests that met every SLA target given to the run.
    pub sla_met: u64,
    pub preemptions: u64,
    /// Prompt blocks of requests that carry block hashes, and those served from a prefix cache.
    pub prefix_blocks_total: u64,
    pub prefix_blocks_hit: u64,
    /// Highest KV cache use of any decode (or aggregated) worker, as a share of its capacity.
    pub kv_peak_usage: f64,
    pub kv_capacity_tok_per_worker: u64,
    /// Busy GPU-group time summed over the replicas of each pool.
    pub prefill_busy_ns: u64,
    pub decode_busy_ns: u64,
    pub prefill_replicas: u32,
    pub decode_replicas: u32,
    pub prefill_gpus: u32,
    pub decode_gpus: u32,
    /// Replica time held per pool (starting, serving or draining) up to the run's end, and the most
    /// replicas held at once.
    pub prefill_replica_ns: u64,
    pub decode_replica_ns: u64,
    pub prefill_replicas_max: u32,
    pub decode_replicas_max: u32,
    /// From t = 0 to the last request's end.
    pub makespan_ns: u64,
    pub events: u64,
}

impl RunMetrics {
    /// The accounting every run must satisfy.
    pub fn accounted(&self) -> bool {
        self.arrived == self.completed + self.rejected + self.timed_out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_records_read_the_same_as_single_ones() {
        // two workers' step times, interleaved, drifting across bucket boundaries
        let mut one = LatencyHist::default();
        let mut batched = LatencyHist::default();
        let (mut a, mut b) = (HistBatch::default(), HistBatch::default());
        for i in 0..20_000u64 {
            let (x, y) = (17_000_000 + i * 383, 9_000_000 + (i % 700) * 9_000);
            let (nx, ny) = (1 + i % 5, i % 3);
            one.record_n(x, nx);
            one.record_n(y, ny);
            batched.record_batched(&mut a, x, nx);
            batched.count_batched(&mut b, y, ny);
            batched.add_sum_ns(y as u128 * ny as u128);
        }
        batched.flush(&mut a);
        batched.flush(&mut b);
        assert_eq!(one.count(), batched.count());
        assert_eq!(one.stats_ms(), batched.stats_ms());
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(one.quantile_ms(q), batched.quantile_ms(q), "{q}");
        }
    }

    #[test]
    fn prometheus_sum_does_not_depend_on_order() {
        let values: Vec<u64> = (1..5000u64).map(|i| i * 7_919 % 100_003 * 1_000 + i).collect();
        let (mut fwd, mut rev) = (PromHist::default(), PromHist::default());
        values.iter().for_each(|&v| fwd.observe_n_ns(v, 3));
        values.iter().rev().for_each(|&v| rev.observe_n_ns(v, 3));
        assert_eq!(fwd, rev);
        assert_eq!(fwd.sum_s(), values.iter().map(|&v| 3 * v as u128).sum::<u128>() as f64 / 1e9);
    }
}
