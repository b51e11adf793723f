//! The autoscaler's decisions: what it observes of a pool at a scrape and the pure functions of its
//! three policies (threshold, predictive, Dynamo's SLA planner). Their settings are plain data in
//! [`crate::spec::autoscaler`]; the scrape events, cold starts and draining are in [`super::scale`].

use crate::core::SimTime;
use crate::spec::autoscaler::{Policy, PoolScaling, Predictor, ScaleDown, ScaleUp};

/// What the autoscaler sees of one pool at a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PoolObservation {
    pub now_ns: SimTime,
    /// Replicas counted toward the pool's size: serving plus starting (draining ones are leaving).
    pub replicas: u32,
    pub serving: u32,
    pub queue_depth: f64,
    /// Queue growth over the window, requests per second.
    pub queue_growth_per_s: f64,
    /// Windowed P99s; `None` when no request finished that stage in the window.
    pub ttft_p99_ms: Option<f64>,
    pub tpot_p99_ms: Option<f64>,
    pub batch_utilization: f64,
    pub gpu_utilization: f64,
    /// Requests the pool finished per serving replica per second over the window.
    pub served_per_replica_s: f64,
    /// The pool's last replica-count change.
    pub last_change_ns: Option<SimTime>,
    pub cold_start_ns: u64,
}

/// Why a decision was taken (kept in the time series so a user can see it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Hold,
    QueueDepth,
    Ttft,
    Tpot,
    BatchUtilization,
    QueueGrowth,
    Idle,
    Forecast,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Hold => "hold",
            Reason::QueueDepth => "queue_depth",
            Reason::Ttft => "ttft_p99",
            Reason::Tpot => "tpot_p99",
            Reason::BatchUtilization => "batch_utilization",
            Reason::QueueGrowth => "queue_growth",
            Reason::Idle => "idle",
            Reason::Forecast => "forecast",
        }
    }
}

/// The first exceeded scale-up threshold, in the guide's order.
pub fn scale_up_reason(up: &ScaleUp, o: &PoolObservation) -> Option<Reason> {
    let over = |limit: Option<f64>, v: Option<f64>| matches!((limit, v), (Some(l), Some(v)) if v > l);
    if over(up.queue_depth, Some(o.queue_depth)) {
        Some(Reason::QueueDepth)
    } else if over(up.ttft_p99_ms, o.ttft_p99_ms) {
        Some(Reason::Ttft)
    } else if over(up.batch_utilization, Some(o.batch_utilization)) {
        Some(Reason::BatchUtilization)
    } else if over(up.tpot_p99_ms, o.tpot_p99_ms) {
        Some(Reason::Tpot)
    } else {
        None
    }
}

/// Every set scale-down threshold holds (at least one must be set) and the cooldown has passed.
pub fn may_scale_down(down: &ScaleDown, o: &PoolObservation) -> bool {
    let set = down.gpu_utilization.is_some() || down.batch_utilization.is_some();
    let under = |limit: Option<f64>, v: f64| limit.is_none_or(|l| v < l);
    let cooled = o.last_change_ns.is_none_or(|t| o.now_ns >= t + down.cooldown_ns);
    set && cooled
        && under(down.gpu_utilization, o.gpu_utilization)
        && under(down.batch_utilization, o.batch_utilization)
        && o.queue_depth == 0.0
}

/// The threshold and predictive policies: the pool's desired replica count, within its bounds.
pub fn reactive_desired(policy: Policy, s: &PoolScaling, o: &PoolObservation) -> (u32, Reason) {
    let clamp = |n: u32| n.clamp(s.min_replicas, s.max_replicas);
    if o.replicas < s.min_replicas {
        return (s.min_replicas, Reason::Hold);
    }
    if let Some(reason) = scale_up_reason(&s.up, o) {
        let mut add = 1;
        if policy == Policy::Predictive {
            add = add.max(growth_replicas(o));
        }
        return (clamp(o.replicas + add), reason);
    }
    if policy == Policy::Predictive {
        if let Some(limit) = s.up.queue_depth {
            let ahead = o.queue_depth + o.queue_growth_per_s * o.cold_start_ns as f64 / 1e9;
            if o.queue_growth_per_s > 0.0 && ahead > limit {
                return (clamp(o.replicas + growth_replicas(o)), Reason::QueueGrowth);
            }
        }
    }
    if o.replicas > s.min_replicas && may_scale_down(&s.down, o) {
        return (clamp(o.replicas - 1), Reason::Idle);
    }
    (clamp(o.replicas), Reason::Hold)
}

/// Replicas that absorb the queue's growth at the pool's observed per-replica service rate (at least 1).
fn growth_replicas(o: &PoolObservation) -> u32 {
    if o.queue_growth_per_s <= 0.0 || o.served_per_replica_s <= 0.0 {
        return 1;
    }
    ((o.queue_growth_per_s / o.served_per_replica_s).ceil() as u32).max(1)
}

/// Forecasts the next value of a series sampled at scrapes: `(t_ns, value)` oldest first.
pub fn forecast(p: Predictor, history: &[(SimTime, f64)], at: SimTime) -> f64 {
    let Some(&(_, last)) = history.last() else { return 0.0 };
    match p {
        Predictor::Constant => last,
        Predictor::Linear => {
            if history.len() < 2 {
                return last;
            }
            let n = history.len() as f64;
            let t0 = history[0].0;
            let xs = history.iter().map(|&(t, _)| (t - t0) as f64 / 1e9);
            let mx = xs.clone().sum::<f64>() / n;
            let my = history.iter().map(|&(_, y)| y).sum::<f64>() / n;
            let (mut sxy, mut sxx) = (0.0, 0.0);
            for (x, &(_, y)) in xs.zip(history) {
                sxy += (x - mx) * (y - my);
                sxx += (x - mx) * (x - mx);
            }
            let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
            let x = at.saturating_since(t0) as f64 / 1e9;
            (my + slope * (x - mx)).max(0.0)
        }
    }
}

/// The planner's replica count: `ceil(demand / per-replica capacity at the SLA)`, within bounds.
pub fn planner_desired(s: &PoolScaling, demand_per_s: f64, capacity_per_replica_s: f64) -> u32 {
    let n = if capacity_per_replica_s > 0.0 { (demand_per_s / capacity_per_replica_s).ceil() as u32 } else { 0 };
    n.clamp(s.min_replicas, s.max_replicas)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scaling() -> PoolScaling {
        PoolScaling {
            min_replicas: 1,
            max_replicas: 4,
            up: ScaleUp { queue_depth: Some(10.0), ttft_p99_ms: Some(500.0), ..Default::default() },
            down: ScaleDown { gpu_utilization: Some(0.3), batch_utilization: None, cooldown_ns: 60_000_000_000 },
        }
    }

    fn obs() -> PoolObservation {
        PoolObservation {
            now_ns: SimTime::from_ns(600_000_000_000),
            replicas: 2,
            serving: 2,
            gpu_utilization: 0.5,
            cold_start_ns: 30_000_000_000,
            ..Default::default()
        }
    }

    #[test]
    fn threshold_adds_one_replica_per_decision_within_bounds() {
        let s = scaling();
        let o = PoolObservation { queue_depth: 11.0, ..obs() };
        assert_eq!(reactive_desired(Policy::Threshold, &s, &o), (3, Reason::QueueDepth));
        let o = PoolObservation { ttft_p99_ms: Some(501.0), replicas: 4, ..obs() };
        assert_eq!(reactive_desired(Policy::Threshold, &s, &o), (4, Reason::Ttft));
        // at the threshold is not over it
        let o = PoolObservation { queue_depth: 10.0, ..obs() };
        assert_eq!(reactive_desired(Policy::Threshold, &s, &o).0, 2);
    }

    #[test]
    fn scale_down_waits_for_cooldown_and_an_empty_queue() {
        let s = scaling();
        let idle = PoolObservation { gpu_utilization: 0.1, ..obs() };
        assert_eq!(reactive_desired(Policy::Threshold, &s, &idle), (1, Reason::Idle));
        let recent = PoolObservation { last_change_ns: Some(idle.now_ns - 59_000_000_000), ..idle };
        assert_eq!(reactive_desired(Policy::Threshold, &s, &recent).0, 2);
        let queued = PoolObservation { queue_depth: 1.0, ..idle };
        assert_eq!(reactive_desired(Policy::Threshold, &s, &queued).0, 2);
        let at_min = PoolObservation { replicas: 1, ..idle };
        assert_eq!(reactive_desired(Policy::Threshold, &s, &at_min).0, 1);
        // no scale-down threshold set: never scales down
        let s2 = PoolScaling { down: ScaleDown::default(), ..scaling() };
        assert_eq!(reactive_desired(Policy::Threshold, &s2, &idle).0, 2);
    }

    #[test]
    fn predictive_scales_before_the_queue_crosses() {
        let s = scaling();
        // 4 queued, growing 1/s: 34 queued one 30 s cold start from now
        let o = PoolObservation { queue_depth: 4.0, queue_growth_per_s: 1.0, served_per_replica_s: 0.4, ..obs() };
        assert_eq!(reactive_desired(Policy::Threshold, &s, &o).0, 2);
        assert_eq!(reactive_desired(Policy::Predictive, &s, &o), (4, Reason::QueueGrowth));
    }

    #[test]
    fn forecasts() {
        let s = SimTime::from_ns;
        let h = [(s(0), 10.0), (s(15_000_000_000), 20.0), (s(30_000_000_000), 30.0)];
        assert_eq!(forecast(Predictor::Constant, &h, s(60_000_000_000)), 30.0);
        assert!((forecast(Predictor::Linear, &h, s(60_000_000_000)) - 50.0).abs() < 1e-9);
        assert_eq!(forecast(Predictor::Linear, &[], s(5)), 0.0);
        assert_eq!(planner_desired(&scaling(), 10.0, 3.0), 4);
        assert_eq!(planner_desired(&scaling(), 0.0, 3.0), 1);
    }
}
