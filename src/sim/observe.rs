//! What the run records as it goes: the time series, first tokens, inter-token latencies, KV use
//! and prefix hits.

use super::*;
use crate::core::SimTime;

#[derive(Default, Clone, Copy)]
pub(super) struct SampleMark {
    pub(super) t: SimTime,
    pub(super) arrived: u64,
    pub(super) completed: u64,
    pub(super) rejected: u64,
    pub(super) timed_out: u64,
    pub(super) out_tok: u64,
    pub(super) prefill_busy: u64,
    pub(super) decode_busy: u64,
    pub(super) prefix_total: u64,
    pub(super) prefix_hit: u64,
    pub(super) prefill_serve: u64,
    pub(super) decode_serve: u64,
}

/// A step's inter-token latency, `gaps` times (the sequences that were already running), into the
/// summary's histogram (batched per worker) and the scraped one.
pub(super) fn note_step_itl(
    m: &mut RunMetrics,
    obs: &mut scale::Observations,
    batch: &mut HistBatch,
    dur: u64,
    gaps: u64,
) {
    m.itl.record_batched(batch, dur, gaps);
    obs.note_itl(dur, gaps);
}

/// `r`'s first token came at `now` (unless it already had one, or timed out).
pub(super) fn note_first_token(r: &mut Req, now: SimTime, m: &mut RunMetrics, obs: &mut scale::Observations) {
    if r.t_first == NONE && !r.cancelled {
        r.t_first = now;
        m.ttft.record(now - r.arrival_ns);
        obs.note_ttft(now, now - r.arrival_ns);
    }
}

/// KV use only grows at admission and at step start, so checking there catches every peak.
#[inline]
pub(super) fn note_kv_usage(m: &mut RunMetrics, w: &mut GenWorker) {
    // the worker's capacity is fixed, so only a new peak of its own can raise the pool's
    if w.used_tok > w.peak_used_tok {
        w.peak_used_tok = w.used_tok;
        let usage = w.used_tok as f64 / w.cap_tok.max(1) as f64;
        if usage > m.kv_peak_usage {
            m.kv_peak_usage = usage;
        }
    }
}

impl Sim<'_> {
    pub(super) fn on_sample(&mut self, now: SimTime) {
        let prev = self.last_sample;
        // busy time up to now, including steps still running, so no interval gets more than its length
        let prefill_busy: u64 =
            self.prefill.iter().map(|w| w.busy_ns + if w.busy { now - w.step_start } else { 0 }).sum();
        let decode_busy: u64 = self.gen.iter().map(|w| w.busy_ns + if w.busy { now - w.step_start } else { 0 }).sum();
        let prefill_serve: u64 = self.prefill.iter().map(|w| w.rep.served_until(now)).sum();
        let decode_serve: u64 = self.gen.iter().map(|w| w.rep.served_until(now)).sum();
        let dt = (now - prev.t).max(1) as f64;
        let kv_bytes = |tok: u64| tok * self.kv_bytes_per_tok;
        let (p_start, p_serve, p_drain) = self.replica_counts(Pool::Prefill);
        let (d_start, d_serve, d_drain) = self.replica_counts(Pool::Decode);
        let ms = |v: Option<u64>| v.map_or(0.0, |ns| ns as f64 / 1e6);
        let ttft_p99_ms = ms(scale::p99(self.obs.ts_ttft.drain(..)));
        let tpot_p99_ms = ms(scale::p99(self.obs.ts_tpot.drain(..)));
        let (kv_sum, kv_n) = std::mem::take(&mut self.obs.ts_kv);
        let row = TimeseriesRow {
            time_s: now.as_ns() as f64 / 1e9,
            arrivals: self.m.arrived - prev.arrived,
            completed: self.m.completed - prev.completed,
            rejected: self.m.rejected - prev.rejected,
            timed_out: self.m.timed_out - prev.timed_out,
            in_flight_requests: self.in_system,
            prefill_queue_depth: self.prefill_queues.iter().map(|q| q.len() as u64).sum(),
            prefix_hit_ratio: {
                let total = self.m.prefix_blocks_total - prev.prefix_total;
                if total > 0 {
                    (self.m.prefix_blocks_hit - prev.prefix_hit) as f64 / total as f64
                } else {
                    0.0
                }
            },
            decode_waiting: self.gen.iter().map(|w| w.waiting.len() as u64).sum(),
            decode_batch_size: self.gen.iter().map(|w| w.running.len() as u64).sum(),
            kv_transfers_in_flight: self.links.iter().map(|l| l.in_flight as u64 + l.queue.len() as u64).sum(),
            kv_cache_usage_bytes: kv_bytes(self.gen.iter().map(|w| w.used_tok).sum()),
            kv_cache_capacity_bytes: kv_bytes(self.gen.iter().filter(|w| w.rep.up()).map(|w| w.cap_tok).sum()),
            output_tok_s: (self.m.output_tok_completed - prev.out_tok) as f64 / (dt / 1e9),
            prefill_utilization: if prefill_serve > prev.prefill_serve {
                (prefill_busy - prev.prefill_busy) as f64 / (prefill_serve - prev.prefill_serve) as f64
            } else {
                0.0
            },
            decode_utilization: (decode_busy - prev.decode_busy) as f64
                / (decode_serve - prev.decode_serve).max(1) as f64,
            arrival_rate_s: (self.m.arrived - prev.arrived) as f64 / (dt / 1e9),
            ttft_p99_ms,
            tpot_p99_ms,
            kv_transfer_ms: if kv_n > 0 { kv_sum as f64 / kv_n as f64 / 1e6 } else { 0.0 },
            decode_batch_utilization: self.batch_utilization(Pool::Decode),
            prefill_replicas_desired: self.scaler.desired[0],
            prefill_replicas_starting: p_start,
            prefill_replicas_serving: p_serve + p_drain,
            decode_replicas_desired: self.scaler.desired[1],
            decode_replicas_starting: d_start,
            decode_replicas_serving: d_serve + d_drain,
        };
        self.series.push(row);
        self.last_sample = SampleMark {
            t: now,
            arrived: self.m.arrived,
            completed: self.m.completed,
            rejected: self.m.rejected,
            timed_out: self.m.timed_out,
            out_tok: self.m.output_tok_completed,
            prefill_busy,
            decode_busy,
            prefix_total: self.m.prefix_blocks_total,
            prefix_hit: self.m.prefix_blocks_hit,
            prefill_serve,
            decode_serve,
        };
        if self.work_left() {
            self.q.schedule(now + self.input.timeseries_interval_ns, Ev::Sample);
        }
    }

    /// Counts a request's first prefill against the prefix-hit ratio.
    pub(super) fn note_prefix(&mut self, slot: u32, cached_tok: u32) {
        if let Some(b) = &self.reqs[slot as usize].blocks {
            self.m.prefix_blocks_total += b.len() as u64;
            self.m.prefix_blocks_hit += (cached_tok as u64).div_ceil(PREFIX_BLOCK_TOK as u64).min(b.len() as u64);
        }
    }
}
