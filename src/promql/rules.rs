//! Alerting-rule evaluation: rules evaluated on their interval, `for:` handling per alert label set,
//! and the report of when each alert fired; also Prometheus durations.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use super::eval::{Evaluator, Sample, Value};
use super::parser::{parse, Expr};
use super::{secs, AlertError, AlertRule, Labels, NS_PER_S};
use crate::metrics::series::{SeriesStore, METRIC_NAME};

/// When one alert was firing during a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertReport {
    pub name: String,
    pub expr: String,
    pub for_s: f64,
    /// [start, end) in simulated seconds when the alert was FIRING (after its `for:`); an interval still open at the end of the run ends at the run's end.
    pub firing: Vec<(f64, f64)>,
    pub fired: bool,
    /// Evaluations at which the expression returned a non-empty result (pending or firing).
    pub active_evaluations: u64,
}

/// Parses a Prometheus duration: "30s", "5m", "1h30m", "250ms", "2d". Errors name the bad text.
///
/// As Prometheus' `model.ParseDuration`: integer amounts with units `y` (365d), `w`, `d`, `h`, `m`,
/// `s`, `ms`, each at most once and largest first; a bare `0` is zero.
pub fn parse_duration_ns(s: &str) -> Result<u64, AlertError> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400 * NS_PER_S),
        ("w", 7 * 86_400 * NS_PER_S),
        ("d", 86_400 * NS_PER_S),
        ("h", 3_600 * NS_PER_S),
        ("m", 60 * NS_PER_S),
        ("s", NS_PER_S),
        ("ms", 1_000_000),
    ];
    let err = |reason: String| AlertError::BadDuration { text: s.to_string(), reason };
    if s.is_empty() {
        return Err(err("empty duration".into()));
    }
    if s == "0" {
        return Ok(0);
    }
    let b = s.as_bytes();
    let (mut i, mut total, mut last_unit) = (0, 0u64, None::<usize>);
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(err(format!(
                "expected a whole number at {:?}; durations look like 30s, 5m, 1h30m, 250ms",
                &s[start..]
            )));
        }
        let amount: u64 = s[start..i].parse().map_err(|_| err(format!("{} is too large", &s[start..i])))?;
        let unit_start = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[unit_start..i];
        if unit.is_empty() {
            return Err(err(match s[i..].chars().next() {
                Some(c) => format!("unexpected {c:?} after {amount}; amounts are whole numbers with a unit"),
                None => format!("missing unit after {amount} (one of y, w, d, h, m, s, ms)"),
            }));
        }
        let Some(idx) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(err(format!("unknown unit {unit:?} (one of y, w, d, h, m, s, ms)")));
        };
        if last_unit.is_some_and(|last| last >= idx) {
            return Err(err(format!("unit {unit:?} out of order: each unit at most once, largest first")));
        }
        last_unit = Some(idx);
        total = amount
            .checked_mul(UNITS[idx].1)
            .and_then(|ns| total.checked_add(ns))
            .ok_or_else(|| err("too large".into()))?;
    }
    Ok(total)
}

/// Evaluates every rule at t = eval_interval_ns, 2*eval_interval_ns, ... <= end_ns (Prometheus evaluates rule groups on their `interval`), with Prometheus' semantics; one report per rule in input order.
///
/// Alert state follows `rules/alerting.go` (`AlertingRule.Eval`): each element the expression returns
/// is identified by its labels without `__name__`, overridden by the rule's `labels` (an empty value
/// removes the label). A new element is pending with `activeAt` = the evaluation time; it fires once
/// `t - activeAt >= for` (at once for `for: 0`); an element missing at a later evaluation is resolved,
/// and if it returns it is pending afresh. A scalar result counts as one element with no labels, as in
/// Prometheus' `EngineQueryFunc`. The report's `firing` is the union over elements: an interval starts
/// at the first evaluation where some element fires and ends at the first evaluation where none does.
///
/// Unlike Prometheus, which logs a failed evaluation and keeps the rule's state, a query error (e.g.
/// many-to-many matching) aborts with [`AlertError::Eval`], so that a broken rule is not silently quiet.
pub fn evaluate(
    rules: &[AlertRule],
    store: &SeriesStore,
    eval_interval_ns: u64,
    end_ns: u64,
) -> Result<Vec<AlertReport>, AlertError> {
    if eval_interval_ns == 0 {
        return Err(AlertError::ZeroInterval);
    }
    let exprs = rules
        .iter()
        .map(|r| parse(&r.expr).map_err(|e| AlertError::Rule { rule: r.name.clone(), source: Box::new(e) }))
        .collect::<Result<Vec<_>, _>>()?;
    rules.iter().zip(&exprs).map(|(rule, expr)| evaluate_rule(rule, expr, store, eval_interval_ns, end_ns)).collect()
}

fn evaluate_rule(
    rule: &AlertRule,
    expr: &Expr,
    store: &SeriesStore,
    interval: u64,
    end_ns: u64,
) -> Result<AlertReport, AlertError> {
    // alert label set -> activeAt, firing
    let mut active: HashMap<Labels, (u64, bool)> = HashMap::new();
    let mut firing = Vec::new();
    let mut open: Option<u64> = None;
    let mut active_evaluations = 0;
    let mut t = interval;
    while t <= end_ns {
        let eval_err = |message: String| AlertError::Eval { rule: rule.name.clone(), t_s: secs(t), message };
        let samples = match (Evaluator { store, t }).eval(expr).map_err(eval_err)? {
            Value::Scalar(v) => vec![Sample { metric: Arc::new(Vec::new()), v }],
            Value::Vector(v) => v,
        };
        if !samples.is_empty() {
            active_evaluations += 1;
        }
        let mut present = HashSet::with_capacity(samples.len());
        for s in &samples {
            let mut labels: BTreeMap<&str, &str> =
                s.metric.iter().filter(|(k, _)| k != METRIC_NAME).map(|(k, v)| (k.as_str(), v.as_str())).collect();
            for (k, v) in &rule.labels {
                if v.is_empty() {
                    labels.remove(k.as_str());
                } else {
                    labels.insert(k, v);
                }
            }
            let key: Labels = labels.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            if !present.insert(key) {
                return Err(eval_err(
                    "vector contains metrics with the same labelset after applying alert labels".into(),
                ));
            }
        }
        active.retain(|k, _| present.contains(k));
        for key in present {
            active.entry(key).or_insert((t, false));
        }
        let mut any_firing = false;
        for (active_at, is_firing) in active.values_mut() {
            if !*is_firing && t - *active_at >= rule.for_ns {
                *is_firing = true;
            }
            any_firing |= *is_firing;
        }
        match (any_firing, open) {
            (true, None) => open = Some(t),
            (false, Some(start)) => {
                firing.push((secs(start), secs(t)));
                open = None;
            }
            _ => {}
        }
        let Some(next) = t.checked_add(interval) else { break };
        t = next;
    }
    if let Some(start) = open {
        firing.push((secs(start), secs(end_ns)));
    }
    Ok(AlertReport {
        name: rule.name.clone(),
        expr: rule.expr.clone(),
        for_s: secs(rule.for_ns),
        fired: !firing.is_empty(),
        firing,
        active_evaluations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::check_expr;

    const S: u64 = NS_PER_S;

    fn rule(name: &str, expr: &str, for_s: u64) -> AlertRule {
        AlertRule { name: name.into(), expr: expr.into(), for_ns: for_s * S, labels: BTreeMap::new() }
    }

    /// A gauge scraped every 5 s, 1 while `lo <= t <= hi`, else 0, from 0 to 400 s.
    fn gauge(lo: u64, hi: u64) -> SeriesStore {
        let mut st = SeriesStore::new();
        for t in (0..=400).step_by(5) {
            st.push("g", &[("pod", "a")], t * S, if (lo..=hi).contains(&t) { 1.0 } else { 0.0 });
        }
        st
    }

    #[test]
    fn for_delays_firing_until_held() {
        let st = gauge(60, 200);
        let r = &evaluate(&[rule("High", "g > 0.5", 60)], &st, 15 * S, 400 * S).unwrap()[0];
        // pending at 60 s, firing from 120 s (60 s held), resolved at 210 s (first eval after 200 s)
        assert_eq!(r.firing, vec![(120.0, 210.0)]);
        assert!(r.fired);
        assert_eq!(r.active_evaluations, 10, "evaluations 60, 75, ..., 195");
        assert_eq!(r.for_s, 60.0);
        // for: 0 fires at the first active evaluation; still firing at the end: ends at the run's end
        let st = gauge(60, 1000);
        let r = &evaluate(&[rule("Now", "g > 0.5", 0)], &st, 15 * S, 400 * S).unwrap()[0];
        assert_eq!(r.firing, vec![(60.0, 400.0)]);
    }

    #[test]
    fn a_blip_shorter_than_for_never_fires() {
        let st = gauge(60, 100);
        let r = &evaluate(&[rule("Blip", "g > 0.5", 60)], &st, 15 * S, 400 * S).unwrap()[0];
        assert!(!r.fired);
        assert!(r.firing.is_empty());
        assert_eq!(r.active_evaluations, 3); // 60, 75, 90
    }

    #[test]
    fn for_is_tracked_per_label_set() {
        // pod a active 60..=110, pod b 100..=200: neither is held 60 s at once until b at 165 s
        let mut st = SeriesStore::new();
        for t in (0..=400u64).step_by(5) {
            st.push("g", &[("pod", "a")], t * S, f64::from(u8::from((60..=110).contains(&t))));
            st.push("g", &[("pod", "b")], t * S, f64::from(u8::from((100..=200).contains(&t))));
        }
        let r = &evaluate(&[rule("R", "g > 0.5", 60)], &st, 15 * S, 400 * S).unwrap()[0];
        assert_eq!(r.firing, vec![(165.0, 210.0)]);
        // an alert label set by the rule collapses both pods into one label set: an error, as in Prometheus
        let mut merged = rule("M", "g > 0.5", 0);
        merged.labels.insert("pod".into(), "x".into());
        assert!(matches!(
            evaluate(&[merged], &st, 15 * S, 400 * S),
            Err(AlertError::Eval { t_s, .. }) if t_s == 105.0
        ));
    }

    #[test]
    fn durations() {
        for (s, ns) in [
            ("30s", 30 * S),
            ("5m", 300 * S),
            ("1h30m", 5400 * S),
            ("250ms", 250_000_000),
            ("2d", 2 * 86_400 * S),
            ("1w", 7 * 86_400 * S),
            ("1y", 365 * 86_400 * S),
            ("1m30s500ms", 90 * S + 500_000_000),
            ("0", 0),
            ("0s", 0),
        ] {
            assert_eq!(parse_duration_ns(s).unwrap(), ns, "{s}");
        }
        for bad in ["", "5", "m", "1.5m", "5x", "30s5m", "-1m", "5m5m", " 5m", "99999999999y", "5M"] {
            let err = parse_duration_ns(bad).unwrap_err();
            assert!(matches!(&err, AlertError::BadDuration { text, .. } if text == bad), "{bad}: {err:?}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn example_rules_parse_and_evaluate() {
        let mut st = SeriesStore::new();
        let bounds = [0.005, 0.01, 0.05, 0.1, 0.5, 1.0];
        for k in 0..=80u64 {
            let t = k * 15 * S;
            for (pod, pool) in [("p0", "prefill"), ("d0", "decode"), ("d1", "decode")] {
                let l = [("pod", pod), ("pool", pool)];
                let c = [k, 2 * k, 5 * k, 8 * k, 9 * k, 10 * k, 10 * k];
                for h in ["dynamo_ttft_seconds", "dynamo_tpot_seconds", "dynamo_kv_transfer_latency_seconds"] {
                    st.push_histogram(h, &l, t, &bounds, &c, k as f64);
                }
                st.push("dynamo_kv_cache_usage_bytes", &l, t, 95.0);
                st.push("dynamo_kv_cache_capacity_bytes", &l, t, 100.0);
                st.push("dynamo_gpu_utilization", &l, t, 0.2);
                st.push("dynamo_decode_batch_size", &l, t, 64.0);
                st.push("dynamo_decode_max_batch_size", &l, t, 64.0);
                st.push("dynamo_output_tokens_total", &l, t, 500.0 * k as f64);
            }
            st.push("dynamo_prefill_queue_depth", &[("pool", "prefill")], t, if k > 40 { 120.0 } else { 10.0 });
        }
        let rules = [
            ("TTFT", "histogram_quantile(0.99, sum(rate(dynamo_ttft_seconds_bucket[5m])) by (le)) > 0.5", 300),
            ("TPOT", "histogram_quantile(0.99, rate(dynamo_tpot_seconds_bucket[2m])) > 0.03", 120),
            ("KvPod", "dynamo_kv_cache_usage_bytes / dynamo_kv_cache_capacity_bytes > 0.9", 60),
            ("KvAll", "sum(dynamo_kv_cache_usage_bytes) / sum(dynamo_kv_cache_capacity_bytes) > 0.9", 0),
            ("Queue", "dynamo_prefill_queue_depth > 50", 60),
            ("Idle", "avg(dynamo_gpu_utilization{pool=\"decode\"}) < 0.3", 600),
            ("Batch", "dynamo_decode_batch_size / dynamo_decode_max_batch_size > 0.95", 0),
            ("Tokens", "rate(dynamo_output_tokens_total[1m]) < 1000", 0),
            (
                "Kvx",
                "histogram_quantile(0.99, sum by (le) (rate(dynamo_kv_transfer_latency_seconds_bucket[5m]))) > 0.01",
                0,
            ),
            ("QueueMax", "max_over_time(dynamo_prefill_queue_depth[5m]) > 100", 0),
        ];
        let rules: Vec<AlertRule> = rules.iter().map(|(n, e, f)| rule(n, e, *f)).collect();
        for r in &rules {
            check_expr(&r.expr).unwrap_or_else(|e| panic!("{e}"));
        }
        let end = 1200 * S;
        let reports = evaluate(&rules, &st, 15 * S, end).unwrap();
        assert_eq!(reports.len(), rules.len());
        assert_eq!(
            reports.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["TTFT", "TPOT", "KvPod", "KvAll", "Queue", "Idle", "Batch", "Tokens", "Kvx", "QueueMax"]
        );
        let by = |n: &str| reports.iter().find(|r| r.name == n).unwrap();
        // p99 falls in (0.5, 1]: 0.5 + 0.5 * (9.9 - 9) / 1 = 0.95 > 0.5, held 5 min after the first
        // evaluation with two samples in the window (15 s)
        assert_eq!(by("TTFT").firing, vec![(315.0, 1200.0)]);
        assert_eq!(by("KvPod").firing, vec![(75.0, 1200.0)]);
        assert_eq!(by("KvAll").firing, vec![(15.0, 1200.0)]);
        assert_eq!(by("Queue").firing, vec![(675.0, 1200.0)], "above 50 from 615 s, held 60 s");
        assert_eq!(by("Idle").firing, vec![(615.0, 1200.0)]);
        assert!(by("Batch").fired);
        assert!(by("Tokens").fired, "3 pods at 33.3 tokens/s each");
        assert!(by("Kvx").fired);
        assert_eq!(by("QueueMax").firing, vec![(615.0, 1200.0)]);
        assert!(by("TPOT").fired);
        let json = serde_json::to_value(&reports[0]).unwrap();
        assert_eq!(json["firing"][0][0], 315.0);
        assert!(matches!(evaluate(&rules, &st, 0, end), Err(AlertError::ZeroInterval)));
        let bad = [rule("Bad", "rate(x[5m]", 0)];
        let err = evaluate(&bad, &st, 15 * S, end).unwrap_err();
        assert!(err.to_string().contains("\"Bad\"") && err.to_string().contains("column 11"), "{err}");
    }
}
