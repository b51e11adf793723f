//! What the run observes as it goes: the time series, first tokens, inter-token latencies, KV use
//! and prefix hits; the trailing windows and cumulative marks that scrapes and the autoscaler read,
//! and the per-pool scrape rows (what a Prometheus server would have scraped).

use super::*;
use crate::core::SimTime;
use crate::metrics::{PoolScrape, PromHist};

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
    obs: &mut observe::Observations,
    batch: &mut HistBatch,
    dur: u64,
    gaps: u64,
) {
    m.itl.record_batched(batch, dur, gaps);
    obs.note_itl(dur, gaps);
}

/// `r`'s first token came at `now` (unless it already had one, or timed out).
pub(super) fn note_first_token(r: &mut Req, now: SimTime, m: &mut RunMetrics, obs: &mut observe::Observations) {
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
        let ttft_p99_ms = ms(p99(self.obs.ts_ttft.drain(..)));
        let tpot_p99_ms = ms(p99(self.obs.ts_tpot.drain(..)));
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

/// Cumulative counters at one scrape, to difference over the window.
#[derive(Clone, Copy, Default)]
pub(super) struct Mark {
    pub(super) t: SimTime,
    pub(super) busy: [u64; 2],
    pub(super) serve: [u64; 2],
    pub(super) queue: [u64; 2],
    pub(super) served: [u64; 2],
    pub(super) arrived: u64,
    pub(super) in_tok: u64,
    pub(super) out_tok: u64,
}

/// What the run observes for scrapes, the autoscaler's windows and the time series.
pub(super) struct Observations {
    /// 0 = no scrapes.
    pub scrape_ns: u64,
    pub window_ns: u64,
    /// First tokens and finished requests in the window: `(time, ns)`.
    pub win_ttft: VecDeque<(SimTime, u64)>,
    pub win_tpot: VecDeque<(SimTime, u64)>,
    pub marks: VecDeque<Mark>,
    pub rate_history: VecDeque<(SimTime, f64)>,
    pub arr_in_tok: u64,
    pub arr_out_tok: u64,
    pub prefill_served: u64,
    pub h_ttft: PromHist,
    pub h_tpot: PromHist,
    pub h_itl: PromHist,
    pub h_kv: PromHist,
    /// Since the last time-series sample (kept only when there is a time series).
    pub ts_on: bool,
    pub ts_ttft: Vec<u64>,
    pub ts_tpot: Vec<u64>,
    pub ts_kv: (u64, u64),
    pub scrapes: Vec<ScrapeRow>,
}

pub(super) fn idx(p: Pool) -> usize {
    match p {
        Pool::Prefill => 0,
        Pool::Decode => 1,
    }
}

pub(super) fn p99(values: impl Iterator<Item = u64>) -> Option<u64> {
    let mut v: Vec<u64> = values.collect();
    if v.is_empty() {
        return None;
    }
    // nearest rank, as the HDR histograms of the summary
    let k = ((0.99 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    Some(*v.select_nth_unstable(k).1)
}

impl Observations {
    pub fn new(input: &SimInput) -> Observations {
        let (scrape_ns, window_ns) = match input.autoscaler {
            Some(a) => (a.scrape_interval_ns, a.window_ns),
            None => (input.scrape_interval_ns, input.scrape_interval_ns * 4),
        };
        Observations {
            scrape_ns,
            window_ns: window_ns.max(scrape_ns),
            win_ttft: VecDeque::new(),
            win_tpot: VecDeque::new(),
            marks: VecDeque::new(),
            rate_history: VecDeque::new(),
            arr_in_tok: 0,
            arr_out_tok: 0,
            prefill_served: 0,
            h_ttft: PromHist::default(),
            h_tpot: PromHist::default(),
            h_itl: PromHist::default(),
            h_kv: PromHist::default(),
            ts_on: input.timeseries_interval_ns > 0,
            ts_ttft: Vec::new(),
            ts_tpot: Vec::new(),
            ts_kv: (0, 0),
            scrapes: Vec::new(),
        }
    }

    pub fn note_ttft(&mut self, now: SimTime, ns: u64) {
        let on = (self.ts_on, self.scrape_ns > 0);
        note_latency(on, now, ns, &mut self.ts_ttft, &mut self.win_ttft, &mut self.h_ttft);
    }

    pub fn note_tpot(&mut self, now: SimTime, ns: u64) {
        let on = (self.ts_on, self.scrape_ns > 0);
        note_latency(on, now, ns, &mut self.ts_tpot, &mut self.win_tpot, &mut self.h_tpot);
    }

    pub fn note_itl(&mut self, ns: u64, n: u64) {
        if self.scrape_ns > 0 {
            self.h_itl.observe_n_ns(ns, n);
        }
    }

    pub fn note_kv_transfer(&mut self, ns: u64) {
        self.ts_kv.0 += ns;
        self.ts_kv.1 += 1;
        if self.scrape_ns > 0 {
            self.h_kv.observe_n_ns(ns, 1);
        }
    }
}

/// One latency into the time-series buffer, the autoscaler's window and the exported histogram,
/// each kept only when its consumer exists (`(time series, scrapes)`).
fn note_latency(
    (ts_on, scrapes_on): (bool, bool),
    now: SimTime,
    ns: u64,
    ts: &mut Vec<u64>,
    window: &mut VecDeque<(SimTime, u64)>,
    hist: &mut PromHist,
) {
    if ts_on {
        ts.push(ns);
    }
    if scrapes_on {
        // in time order: decode runs apply their steps' ends lazily, worker after worker
        let at = window.iter().rposition(|&(t, _)| t <= now).map_or(0, |i| i + 1);
        window.insert(at, (now, ns));
        hist.observe_n_ns(ns, 1);
    }
}

impl Sim<'_> {
    pub(super) fn mark(&self, now: SimTime) -> Mark {
        let busy = |b: u64, busy: bool, start: SimTime| b + if busy { now - start } else { 0 };
        Mark {
            t: now,
            busy: [
                self.prefill.iter().map(|w| busy(w.busy_ns, w.busy, w.step_start)).sum(),
                self.gen.iter().map(|w| busy(w.busy_ns, w.busy, w.step_start)).sum(),
            ],
            serve: [
                self.prefill.iter().map(|w| w.rep.served_until(now)).sum(),
                self.gen.iter().map(|w| w.rep.served_until(now)).sum(),
            ],
            queue: [self.prefill_queue_depth(), self.decode_queue_depth()],
            served: [self.obs.prefill_served, self.m.completed],
            arrived: self.m.arrived,
            in_tok: self.obs.arr_in_tok,
            out_tok: self.obs.arr_out_tok,
        }
    }

    /// Requests waiting for prefill (entries of timed-out requests, skipped later, do not count).
    pub(super) fn prefill_queue_depth(&self) -> u64 {
        self.prefill_queues.iter().flatten().filter(|&&(slot, g)| self.alive(slot, g)).count() as u64
    }

    /// Requests waiting for admission on decode-side workers (live ones only).
    pub(super) fn decode_queue_depth(&self) -> u64 {
        self.gen.iter().flat_map(|w| w.waiting.iter()).filter(|&&(slot, g)| self.alive(slot, g)).count() as u64
    }

    /// Running sequences / (maxBatchSize x serving replicas); for prefill, requests in batches.
    pub(super) fn batch_utilization(&self, pool: Pool) -> f64 {
        let (_, serving, draining) = self.replica_counts(pool);
        let up = (serving + draining).max(1) as f64;
        match pool {
            Pool::Prefill => {
                let in_batches: usize = self.prefill.iter().filter(|w| w.busy).map(|w| w.batch.len()).sum();
                in_batches as f64 / (up * self.tpl.prefill_max_batch.max(1) as f64)
            }
            Pool::Decode => {
                let running: usize = self.gen.iter().map(|w| w.running.len()).sum();
                running as f64 / (up * self.tpl.gen_max_batch.max(1) as f64)
            }
        }
    }

    fn pool_scrape(&self, pool: Pool, now: SimTime) -> PoolScrape {
        let (starting, serving, draining) = self.replica_counts(pool);
        let i = idx(pool);
        // since the previous scrape: the last mark is this scrape's own, taken at `now`
        let n = self.obs.marks.len();
        let cur = self.obs.marks[n - 1];
        debug_assert_eq!(cur.t, now);
        let then = if n >= 2 { self.obs.marks[n - 2] } else { Mark::default() };
        let d_serve = cur.serve[i].saturating_sub(then.serve[i]);
        let gpu_utilization =
            if d_serve > 0 { cur.busy[i].saturating_sub(then.busy[i]) as f64 / d_serve as f64 } else { 0.0 };
        let kvb = self.kv_bytes_per_tok;
        match pool {
            Pool::Prefill => PoolScrape {
                desired: self.scaler.desired[0],
                starting,
                serving,
                draining,
                queue_depth: self.prefill_queue_depth(),
                batch_size: self.prefill.iter().filter(|w| w.busy).map(|w| w.batch.len() as u64).sum(),
                max_batch_size: (serving + draining) as u64 * self.tpl.prefill_max_batch as u64,
                gpu_utilization,
                kv_usage_bytes: self.prefill.iter().map(|w| w.held_tok).sum::<u64>() * kvb,
                kv_capacity_bytes: self.prefill.iter().filter(|w| w.rep.up()).map(|w| w.cap_tok).sum::<u64>() * kvb,
            },
            Pool::Decode => PoolScrape {
                desired: self.scaler.desired[1],
                starting,
                serving,
                draining,
                queue_depth: self.decode_queue_depth(),
                batch_size: self.gen.iter().map(|w| w.running.len() as u64).sum(),
                max_batch_size: (serving + draining) as u64 * self.tpl.gen_max_batch as u64,
                gpu_utilization,
                kv_usage_bytes: self.gen.iter().map(|w| w.used_tok).sum::<u64>() * kvb,
                kv_capacity_bytes: self.gen.iter().filter(|w| w.rep.up()).map(|w| w.cap_tok).sum::<u64>() * kvb,
            },
        }
    }

    pub(super) fn scrape_row(&self, now: SimTime) -> ScrapeRow {
        ScrapeRow {
            t_ns: now.as_ns(),
            prefill: matches!(self.input.cluster.topology, Topology::Disaggregated { .. })
                .then(|| self.pool_scrape(Pool::Prefill, now)),
            decode: self.pool_scrape(Pool::Decode, now),
            requests_arrived: self.m.arrived,
            requests_completed: self.m.completed,
            requests_rejected: self.m.rejected,
            requests_timed_out: self.m.timed_out,
            input_tokens: self.m.input_tok_completed,
            output_tokens: self.m.output_tok_completed,
            prefix_blocks_total: self.m.prefix_blocks_total,
            prefix_blocks_hit: self.m.prefix_blocks_hit,
            ttft: self.obs.h_ttft,
            tpot: self.obs.h_tpot,
            itl: self.obs.h_itl,
            kv_transfer: self.obs.h_kv,
            in_flight_requests: self.in_system,
        }
    }
}
