//! The deployment guide's alerts on the burst scenario: each fires when, and only when, the simulated
//! series cross its threshold for its `for:` duration. The expected firing intervals are computed here
//! straight from the scraped counters and gauges (bucket increases over the window, Prometheus'
//! `histogram_quantile` interpolation), independently of the PromQL evaluator.

mod common;
use common::*;

use pdsim::input as scenario;
use pdsim::metrics::{PromHist, ScrapeRow, PROM_BUCKETS_S};
use pdsim::runner::{alert_interval_ns, run, RunOptions};

const WINDOW_NS: u64 = 300_000_000_000;
const LOOKBACK_NS: u64 = 300_000_000_000;

/// Prometheus' classic-histogram quantile over bucket increases (`le` cumulative, last = +Inf).
fn quantile(q: f64, increases: &[f64]) -> f64 {
    let total = *increases.last().unwrap();
    if total <= 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let i = increases.iter().position(|&c| c >= rank).unwrap();
    if i == PROM_BUCKETS_S.len() {
        return PROM_BUCKETS_S[PROM_BUCKETS_S.len() - 1];
    }
    let (lo, below) = if i == 0 { (0.0, 0.0) } else { (PROM_BUCKETS_S[i - 1], increases[i - 1]) };
    let hi = PROM_BUCKETS_S[i];
    if increases[i] == below {
        return hi;
    }
    lo + (hi - lo) * (rank - below) / (increases[i] - below)
}

fn cumulative(h: &PromHist) -> Vec<f64> {
    let mut v: Vec<f64> = h.le.iter().map(|&c| c as f64).collect();
    v.push(h.count as f64);
    v
}

/// P99 over the increase between the first and last scrape in (t - 5m, t] (rate's extrapolation
/// scales every bucket alike and cancels in the quantile).
fn p99_at(rows: &[ScrapeRow], t: u64, h: fn(&ScrapeRow) -> &PromHist) -> Option<f64> {
    let w: Vec<&ScrapeRow> = rows.iter().filter(|r| r.t_ns > t.saturating_sub(WINDOW_NS) && r.t_ns <= t).collect();
    if w.len() < 2 {
        return None;
    }
    let (a, b) = (cumulative(h(w[0])), cumulative(h(w[w.len() - 1])));
    let inc: Vec<f64> = a.iter().zip(&b).map(|(x, y)| y - x).collect();
    Some(quantile(0.99, &inc))
}

/// The latest scrape at or before `t`, within the 5-minute lookback.
fn at(rows: &[ScrapeRow], t: u64) -> Option<&ScrapeRow> {
    rows.iter().rev().find(|r| r.t_ns <= t && r.t_ns + LOOKBACK_NS > t)
}

/// Firing intervals in seconds from a condition evaluated every `step` ns.
fn firing(cond: impl Fn(u64) -> bool, for_ns: u64, step: u64, end: u64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let (mut since, mut open) = (None::<u64>, None::<u64>);
    let mut t = step;
    while t <= end {
        since = if cond(t) { since.or(Some(t)) } else { None };
        let fires = since.is_some_and(|s| t - s >= for_ns);
        match (fires, open) {
            (true, None) => open = Some(t),
            (false, Some(s)) => {
                out.push((s as f64 / 1e9, t as f64 / 1e9));
                open = None;
            }
            _ => {}
        }
        t += step;
    }
    if let Some(s) = open {
        out.push((s as f64 / 1e9, end as f64 / 1e9));
    }
    out
}

#[test]
fn guide_alerts_fire_exactly_when_the_series_cross_their_thresholds() {
    let autoscaled = check_alerts(&[]);
    // without the autoscaler the burst's prefill backlog grows for ten minutes: that alert fires too,
    // one minute after the queue passes 50
    let fixed = check_alerts(&["autoscaler.enabled=false".to_string()]);
    let backlog = |a: &[serde_json::Value]| a[3]["firing"].as_array().unwrap().len();
    assert_eq!(backlog(&autoscaled), 0);
    assert!(backlog(&fixed) >= 1);
    let first = fixed[3]["firing"][0][0].as_f64().unwrap();
    assert!(first > 660.0 && first < 900.0, "{first}");
}

fn check_alerts(sets: &[String]) -> Vec<serde_json::Value> {
    let s = scenario::load(&[scenario("llama70b-burst.yaml"), scenario("dynamo-alerts.yaml")], sets).unwrap();
    assert_eq!(s.alerts.rules.len(), 5);
    let r = run(&s, &RunOptions::default()).unwrap();
    let rows = &r.output.scrapes;
    let end = rows.last().unwrap().t_ns;
    let step = alert_interval_ns(&s);
    assert_eq!(step, 30_000_000_000);
    let min = 60_000_000_000;
    let expected: Vec<(&str, Vec<(f64, f64)>)> = vec![
        ("DynamoHighTTFT", firing(|t| p99_at(rows, t, |r| &r.ttft).is_some_and(|v| v > 0.5), 5 * min, step, end)),
        ("DynamoHighTPOT", firing(|t| p99_at(rows, t, |r| &r.tpot).is_some_and(|v| v > 0.05), 5 * min, step, end)),
        (
            "DynamoKVCacheNearlyFull",
            firing(
                |t| {
                    at(rows, t)
                        .is_some_and(|r| r.decode.kv_usage_bytes as f64 / r.decode.kv_capacity_bytes as f64 > 0.9)
                },
                2 * min,
                step,
                end,
            ),
        ),
        (
            "DynamoPrefillQueueBacklog",
            firing(|t| at(rows, t).is_some_and(|r| r.prefill.unwrap().queue_depth > 50), min, step, end),
        ),
        (
            "DynamoSlowKVTransfer",
            firing(|t| p99_at(rows, t, |r| &r.kv_transfer).is_some_and(|v| v > 0.05), 5 * min, step, end),
        ),
    ];
    let alerts = &r.summary.alerts;
    assert_eq!(alerts.len(), expected.len());
    let mut fired = 0;
    for (a, (name, want)) in alerts.iter().zip(&expected) {
        assert_eq!(a["name"], *name);
        let got: Vec<(f64, f64)> =
            a["firing"].as_array().unwrap().iter().map(|f| (f[0].as_f64().unwrap(), f[1].as_f64().unwrap())).collect();
        assert_eq!(&got, want, "{name}");
        fired += !got.is_empty() as usize;
    }
    // the burst makes some of them fire, and not all of them
    assert!(fired >= 1 && fired < expected.len(), "{alerts:?}");
    alerts.clone()
}

#[test]
fn alert_rules_are_checked_when_the_scenario_loads() {
    let dir = scratch("alerts");
    let bad = std::fs::read_to_string(scenario("dynamo-alerts.yaml"))
        .unwrap()
        .replace("dynamo_prefill_queue_depth > 50", "rate(dynamo_prefill_queue_depth[5m] > 50");
    let f = write(&dir, "rules.yaml", &bad);
    let o = pdsim(["run".as_ref(), scenario("llama70b-burst.yaml").as_os_str(), f.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("rules.yaml:")
            && e.contains("spec.groups[0].rules[3].expr")
            && e.contains("DynamoPrefillQueueBacklog"),
        "{e}"
    );
    let bad = std::fs::read_to_string(scenario("dynamo-alerts.yaml")).unwrap().replace("for: 1m", "for: soon");
    let f = write(&dir, "rules2.yaml", &bad);
    let o = pdsim(["run".as_ref(), scenario("llama70b-burst.yaml").as_os_str(), f.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("spec.groups[0].rules[3].for"), "{}", stderr(&o));
}
