//! Metric scrapes and the autoscaler's decisions at them inside the simulation (replica life cycles
//! are in [`super::replicas`], the policies' pure functions in [`super::autoscaler`]).
//!
//! At every scrape the pools are observed over a trailing window (the way Prometheus-fed autoscalers
//! see them), the configured policy picks each pool's replica count, and the difference is applied:
//! new replicas serve after their cold start, removed ones stop taking work and leave once drained.

use super::autoscaler::{forecast, planner_desired, reactive_desired, PoolObservation, Reason};
use super::*;
use crate::core::SimTime;
use crate::metrics::{PoolScrape, PromHist};
use crate::spec::autoscaler::{Policy, PoolScaling};

/// Cumulative counters at one scrape, to difference over the window.
#[derive(Clone, Copy, Default)]
pub(super) struct Mark {
    t: SimTime,
    busy: [u64; 2],
    serve: [u64; 2],
    queue: [u64; 2],
    served: [u64; 2],
    arrived: u64,
    in_tok: u64,
    out_tok: u64,
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

/// The autoscaler's own state: the pools' sizes it started from and wants, when it last changed
/// them, and what it did.
pub(super) struct AutoscalerState {
    pub initial: [u32; 2],
    pub desired: [u32; 2],
    pub last_change: [Option<SimTime>; 2],
    /// The model's weights over the storage bandwidth plus the container start (same for both pools).
    pub cold_start_ns: u64,
    pub events: Vec<ScaleEvent>,
}

impl AutoscalerState {
    pub fn new(input: &SimInput) -> AutoscalerState {
        let c = input.cluster;
        let initial = match c.mode {
            Mode::Disaggregated => [c.prefill.replicas, c.decode.replicas],
            Mode::Aggregated => [0, c.aggregated.replicas],
        };
        let cold = input.autoscaler.map_or(0, |a| a.cold_start.ns(input.model.weight_bytes(input.weights_dtype)));
        AutoscalerState { initial, desired: initial, last_change: [None; 2], cold_start_ns: cold, events: Vec::new() }
    }
}

fn idx(p: Pool) -> usize {
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
    /// Whether requests are in the system or still to arrive (other pending events, such as a
    /// timeout check or a replica's start, do not keep sampling going on their own).
    pub(super) fn work_left(&self) -> bool {
        self.in_system > 0 || self.arrivals_pending > 0
    }

    fn mark(&self, now: SimTime) -> Mark {
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

    pub(super) fn on_scrape(&mut self, now: SimTime) {
        let window = self.obs.window_ns;
        let from = now.saturating_sub(window);
        while self.obs.win_ttft.front().is_some_and(|&(t, _)| t <= from) {
            self.obs.win_ttft.pop_front();
        }
        while self.obs.win_tpot.front().is_some_and(|&(t, _)| t <= from) {
            self.obs.win_tpot.pop_front();
        }
        // draining workers whose last work ended by a timeout have had no event to notice it
        for w in 0..self.prefill.len() {
            if self.prefill[w].rep.life == Life::Draining {
                self.dispatch_prefill(now);
                self.check_drained_prefill(now, w);
            }
        }
        for d in 0..self.gen.len() {
            if self.gen[d].rep.life == Life::Draining {
                self.try_admit(now, d);
                self.check_drained_gen(now, d);
            }
        }
        let cur = self.mark(now);
        while self.obs.marks.len() > 1 && self.obs.marks[1].t <= from {
            self.obs.marks.pop_front();
        }
        let then = self.obs.marks.front().copied().unwrap_or_default();
        let dt_s = (now - then.t).max(1) as f64 / 1e9;
        let rate = (cur.arrived - then.arrived) as f64 / dt_s;
        self.obs.rate_history.push_back((now, rate));
        while self.obs.rate_history.front().is_some_and(|&(t, _)| t <= from) {
            self.obs.rate_history.pop_front();
        }
        // once the last request has ended nothing is left to scale for
        if let Some(a) = self.input.autoscaler.filter(|_| self.work_left()) {
            let ttft = p99(self.obs.win_ttft.iter().map(|&(_, v)| v)).map(|v| v as f64 / 1e6);
            let tpot = p99(self.obs.win_tpot.iter().map(|&(_, v)| v)).map(|v| v as f64 / 1e6);
            let pools: &[Pool] = match self.input.cluster.mode {
                Mode::Disaggregated => &[Pool::Decode, Pool::Prefill],
                Mode::Aggregated => &[Pool::Decode],
            };
            for &pool in pools {
                let Some(s) = a.pool(pool) else { continue };
                let i = idx(pool);
                let (starting, serving, _) = self.replica_counts(pool);
                let d_serve_s = (cur.serve[i] - then.serve[i]) as f64 / 1e9;
                let o = PoolObservation {
                    now_ns: now,
                    replicas: starting + serving,
                    serving,
                    queue_depth: cur.queue[i] as f64,
                    queue_growth_per_s: (cur.queue[i] as f64 - then.queue[i] as f64) / dt_s,
                    ttft_p99_ms: ttft,
                    tpot_p99_ms: tpot,
                    batch_utilization: self.batch_utilization(pool),
                    gpu_utilization: if d_serve_s > 0.0 {
                        (cur.busy[i] - then.busy[i]) as f64 / 1e9 / d_serve_s
                    } else {
                        0.0
                    },
                    served_per_replica_s: if d_serve_s > 0.0 {
                        (cur.served[i] - then.served[i]) as f64 / d_serve_s
                    } else {
                        0.0
                    },
                    last_change_ns: self.scaler.last_change[i],
                    cold_start_ns: self.scaler.cold_start_ns,
                };
                let (mut desired, mut reason) = match a.policy {
                    Policy::Threshold | Policy::Predictive => reactive_desired(a.policy, s, &o),
                    Policy::Planner(p) => {
                        let n = self.planner_desired(pool, s, p, &cur, &then, now);
                        let cooled = o.last_change_ns.is_none_or(|t| now >= t + s.down.cooldown_ns);
                        if n < o.replicas && !cooled {
                            (o.replicas, Reason::Hold)
                        } else {
                            (n, if n == o.replicas { Reason::Hold } else { Reason::Forecast })
                        }
                    }
                };
                if pool == Pool::Prefill && a.auto_match_prefill && self.scaler.initial[1] > 0 {
                    let matched = (self.scaler.desired[1] as u64 * self.scaler.initial[0] as u64)
                        .div_ceil(self.scaler.initial[1] as u64) as u32;
                    let matched = matched.clamp(s.min_replicas, s.max_replicas);
                    if matched > desired {
                        (desired, reason) = (matched, Reason::Forecast);
                    }
                }
                self.scale_to(now, pool, desired, reason);
            }
        }
        self.obs.marks.push_back(cur);
        let row = self.scrape_row(now);
        self.obs.scrapes.push(row);
        if self.work_left() {
            self.q.schedule(now + self.obs.scrape_ns, Ev::Scrape);
        }
    }

    /// Running sequences / (maxBatchSize x serving replicas); for prefill, requests in batches.
    pub(super) fn batch_utilization(&self, pool: Pool) -> f64 {
        let (_, serving, draining) = self.replica_counts(pool);
        let up = (serving + draining).max(1) as f64;
        match pool {
            Pool::Prefill => {
                let in_batches: usize = self.prefill.iter().filter(|w| w.busy).map(|w| w.batch.len()).sum();
                in_batches as f64 / (up * self.input.cluster.prefill.max_batch_size.max(1) as f64)
            }
            Pool::Decode => {
                let running: usize = self.gen.iter().map(|w| w.running.len()).sum();
                running as f64 / (up * self.tpl.gen_max_batch.max(1) as f64)
            }
        }
    }

    /// Dynamo's SLA planner: `ceil(forecast demand / per-replica throughput at the SLA)`.
    fn planner_desired(
        &mut self,
        pool: Pool,
        s: &PoolScaling,
        p: crate::spec::autoscaler::Predictor,
        cur: &Mark,
        then: &Mark,
        now: SimTime,
    ) -> u32 {
        let a = self.input.autoscaler.expect("planner runs with an autoscaler");
        let history: Vec<(SimTime, f64)> = self.obs.rate_history.iter().copied().collect();
        let rate = forecast(p, &history, now + self.scaler.cold_start_ns);
        let arrived = cur.arrived - then.arrived;
        if arrived == 0 {
            return planner_desired(s, 0.0, 1.0);
        }
        let isl = ((cur.in_tok - then.in_tok) / arrived).max(1);
        let osl = ((cur.out_tok - then.out_tok) / arrived).max(1);
        let ttft_ns = a.ttft_p99_ms.map(|ms| (ms * 1e6) as u64);
        let tpot_ns = a.tpot_p99_ms.map(|ms| (ms * 1e6) as u64);
        let mean = |w: &VecDeque<(SimTime, u64)>| {
            if w.is_empty() {
                None
            } else {
                Some(w.iter().map(|&(_, v)| v as f64).sum::<f64>() / w.len() as f64)
            }
        };
        let (ttft_mean, tpot_mean) = (mean(&self.obs.win_ttft), mean(&self.obs.win_tpot));
        match (self.input.cluster.mode, pool) {
            (Mode::Disaggregated, Pool::Prefill) => {
                let cfg = &self.input.cluster.prefill;
                let cost = self.prefill_cost.as_mut().expect("disaggregated mode has a prefill cost");
                let cap = prefill_tok_s_at_sla(cost, isl, cfg.max_batch_size, cfg.max_batch_tokens as u64, ttft_ns);
                // Dynamo's planner corrects its profile by observed / expected TTFT: what the
                // profile misses is queueing, so the demand grows by that factor (never shrinks)
                let mut one = StepShape::default();
                one.add_prefill(isl, 0);
                let expected = cost.step_ns(&one) as f64;
                let correction = ttft_mean.map_or(1.0, |m| (m / expected).max(1.0));
                planner_desired(s, rate * isl as f64 * correction, cap)
            }
            (Mode::Disaggregated, Pool::Decode) => {
                // and by observed / expected inter-token time at the running batch: the TPOT target
                // the profile is read at shrinks by that factor
                let (_, serving, draining) = self.replica_counts(Pool::Decode);
                let running: usize = self.gen.iter().map(|w| w.running.len()).sum();
                let b = (running as u64 / (serving + draining).max(1) as u64).max(1);
                let shape = StepShape { decode_seqs: b, decode_ctx_tok: b * (isl + osl / 2), ..Default::default() };
                let expected = self.gen_cost.step_ns(&shape) as f64;
                let correction = tpot_mean.map_or(1.0, |m| (m / expected).max(1.0));
                let target = tpot_ns.map(|t| (t as f64 / correction) as u64);
                let cap = decode_tok_s_at_sla(
                    &mut self.gen_cost,
                    isl,
                    osl,
                    self.tpl.gen_max_batch,
                    self.tpl.gen_cap_tok,
                    target,
                );
                planner_desired(s, rate * osl as f64, cap)
            }
            (Mode::Aggregated, _) => {
                let budget = self.tpl.gen_chunk_tok;
                let pcap = prefill_tok_s_at_sla(&mut self.gen_cost, isl, self.tpl.gen_max_batch, budget, ttft_ns);
                let dcap = decode_tok_s_at_sla(
                    &mut self.gen_cost,
                    isl,
                    osl,
                    self.tpl.gen_max_batch,
                    self.tpl.gen_cap_tok,
                    tpot_ns,
                );
                // replica-seconds each request needs, prefill and decode sharing the worker
                let per_req_s = isl as f64 / pcap.max(1e-9) + osl as f64 / dcap.max(1e-9);
                planner_desired(s, rate * per_req_s, 1.0)
            }
        }
    }

    /// Sets a pool's replica count: starts replicas (serving after their cold start) or removes them,
    /// cancelling starts first, then draining the least-loaded serving replicas.
    pub(super) fn scale_to(&mut self, now: SimTime, pool: Pool, desired: u32, reason: Reason) {
        let i = idx(pool);
        let (starting, serving, _) = self.replica_counts(pool);
        let current = starting + serving;
        self.scaler.desired[i] = desired;
        if desired == current {
            return;
        }
        self.scaler.events.push(ScaleEvent {
            time_s: now.as_ns() as f64 / 1e9,
            pool: pool.name(),
            from: current,
            to: desired,
            reason: reason.name(),
        });
        self.scaler.last_change[i] = Some(now);
        if desired > current {
            // replicas still draining hold their GPUs: start no more than the maximum allows
            // now; later scrapes start the rest once they have left
            let (_, _, draining) = self.replica_counts(pool);
            let max = self.input.autoscaler.and_then(|a| a.pool(pool)).map_or(u32::MAX, |s| s.max_replicas);
            let room = max.saturating_sub(current + draining);
            for _ in 0..(desired - current).min(room) {
                self.start_replica(now, pool);
            }
        } else {
            for _ in desired..current {
                self.remove_replica(now, pool);
            }
        }
        let held = |l: Life| l != Life::Off;
        let n_held = match pool {
            Pool::Prefill => self.prefill.iter().filter(|w| held(w.rep.life)).count() as u32,
            Pool::Decode => self.gen.iter().filter(|w| held(w.rep.life)).count() as u32,
        };
        match pool {
            Pool::Prefill => self.m.prefill_replicas_max = self.m.prefill_replicas_max.max(n_held),
            Pool::Decode => self.m.decode_replicas_max = self.m.decode_replicas_max.max(n_held),
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
                max_batch_size: (serving + draining) as u64 * self.input.cluster.prefill.max_batch_size as u64,
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

    fn scrape_row(&self, now: SimTime) -> ScrapeRow {
        ScrapeRow {
            t_ns: now.as_ns(),
            prefill: (self.input.cluster.mode == Mode::Disaggregated).then(|| self.pool_scrape(Pool::Prefill, now)),
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

/// Prefill throughput (prompt tokens/s) of one replica running the largest batch of `isl`-token
/// prompts whose step still fits the TTFT target (Dynamo's planner profiles prefill the same way:
/// throughput per GPU at the TTFT SLA).
fn prefill_tok_s_at_sla(cost: &mut StepTimer, isl: u64, max_batch: u32, max_tok: u64, ttft_ns: Option<u64>) -> f64 {
    let most = (max_tok / isl).clamp(1, max_batch.max(1) as u64);
    let mut best = 0.0f64;
    let mut k = 1u64;
    loop {
        let mut shape = StepShape::default();
        for _ in 0..k {
            shape.add_prefill(isl, 0);
        }
        let t = cost.step_ns(&shape).max(1);
        if k == 1 || ttft_ns.is_none_or(|l| t <= l) {
            best = best.max((k * isl) as f64 / (t as f64 / 1e9));
        }
        if k == most {
            break;
        }
        k = (k * 2).min(most);
    }
    best
}

/// Decode throughput (output tokens/s) of one replica at the largest batch that fits its KV cache
/// and keeps the step (= TPOT) within the target.
fn decode_tok_s_at_sla(
    cost: &mut StepTimer,
    isl: u64,
    osl: u64,
    max_batch: u32,
    cap_tok: u64,
    tpot_ns: Option<u64>,
) -> f64 {
    let most = (cap_tok / (isl + osl)).clamp(1, max_batch.max(1) as u64);
    let mut best = 0.0f64;
    let mut n = 1u64;
    loop {
        let shape = StepShape { decode_seqs: n, decode_ctx_tok: n * (isl + osl / 2), ..Default::default() };
        let t = cost.step_ns(&shape).max(1);
        if n == 1 || tpot_ns.is_none_or(|l| t <= l) {
            best = best.max(n as f64 / (t as f64 / 1e9));
        }
        if n == most {
            break;
        }
        n = (n * 2).min(most);
    }
    best
}
