//! The scrape tick and the autoscaler's decisions at it inside the simulation (what is observed is
//! in [`super::observe`], replica life cycles in [`super::replicas`], the policies' pure functions in
//! [`super::autoscaler`]).
//!
//! At every scrape the pools are observed over a trailing window (the way Prometheus-fed autoscalers
//! see them), the configured policy picks each pool's replica count, and the difference is applied:
//! new replicas serve after their cold start, removed ones stop taking work and leave once drained.

use super::autoscaler::{forecast, planner_desired, reactive_desired, PoolObservation, Reason};
use super::observe::{idx, p99, Mark};
use super::*;
use crate::core::SimTime;
use crate::spec::autoscaler::{Policy, PoolScaling};

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
        let initial = match &c.topology {
            Topology::Disaggregated { prefill, decode, .. } => [prefill.replicas, decode.replicas],
            Topology::Aggregated(a) => [0, a.replicas],
        };
        let cold = input.autoscaler.map_or(0, |a| a.cold_start.ns(input.model.weight_bytes(input.weights_dtype)));
        AutoscalerState { initial, desired: initial, last_change: [None; 2], cold_start_ns: cold, events: Vec::new() }
    }
}

impl Sim<'_> {
    /// Whether requests are in the system or still to arrive (other pending events, such as a
    /// timeout check or a replica's start, do not keep sampling going on their own).
    pub(super) fn work_left(&self) -> bool {
        self.in_system > 0 || self.arrivals_pending > 0
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
            let pools: &[Pool] = match self.input.cluster.topology {
                Topology::Disaggregated { .. } => &[Pool::Decode, Pool::Prefill],
                Topology::Aggregated(_) => &[Pool::Decode],
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
        match (&self.input.cluster.topology, pool) {
            (Topology::Disaggregated { .. }, Pool::Prefill) => {
                let (max_batch, max_batch_tok) = (self.tpl.prefill_max_batch, self.tpl.prefill_max_batch_tok);
                let cost = self.prefill_cost.as_mut().expect("disaggregated mode has a prefill cost");
                let cap = prefill_tok_s_at_sla(cost, isl, max_batch, max_batch_tok, ttft_ns);
                // Dynamo's planner corrects its profile by observed / expected TTFT: what the
                // profile misses is queueing, so the demand grows by that factor (never shrinks)
                let mut one = StepShape::default();
                one.add_prefill(isl, 0);
                let expected = cost.step_ns(&one) as f64;
                let correction = ttft_mean.map_or(1.0, |m| (m / expected).max(1.0));
                planner_desired(s, rate * isl as f64 * correction, cap)
            }
            (Topology::Disaggregated { .. }, Pool::Decode) => {
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
            (Topology::Aggregated(_), _) => {
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
