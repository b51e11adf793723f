//! What a run measured: request outcomes, latency histograms (HDR, 3 significant digits), pool busy
//! time, KV usage and a time series on the simulated clock. Definitions follow aiperf/genai-perf
//! (DESIGN.md §3).

use hdrhistogram::Histogram;
use serde::Serialize;

/// A latency histogram in nanoseconds.
#[derive(Clone)]
pub struct LatencyHist {
    h: Histogram<u64>,
    sum_ns: u128,
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
}

/// Everything the simulator measured in one run.
#[derive(Clone, Default)]
pub struct RunMetrics {
    pub arrived: u64,
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
