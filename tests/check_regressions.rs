//! Regressions found in review of `pdsim check` and `pdsim compare`: each test failed before its fix.

mod common;
use common::*;

fn check(b: &std::path::Path) -> std::process::Output {
    pdsim(["check".as_ref(), "--baseline".as_ref(), b.as_os_str()])
}

#[test]
fn a_drop_in_a_higher_is_better_metric_outside_the_table_is_a_regression() {
    // Metrics outside check::METRICS default to lower-is-better: halving sla.attainment or
    // throughput.input_tok_s reads as "improved" and the gate passes.
    let dir = scratch("r2-check");
    write(&dir, "small.yaml", SMALL);
    write(
        &dir,
        "baseline.json",
        r#"{"scenarios": [{"name": "small", "files": ["small.yaml"], "sets": ["requests=200"],
            "metrics": {"sla.attainment": 0, "throughput.input_tok_s": 0}}]}"#,
    );
    let o = pdsim(["check".as_ref(), "--baseline".as_ref(), dir.as_os_str(), "--update".as_ref()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // record a baseline twice as good as the tree: the tree lost half its attainment and throughput
    let text = std::fs::read_to_string(dir.join("baseline.json")).unwrap();
    let mut b: serde_json::Value = serde_json::from_str(&text).unwrap();
    for (_, v) in b["scenarios"][0]["metrics"].as_object_mut().unwrap() {
        *v = serde_json::json!(v.as_f64().unwrap() * 2.0);
    }
    std::fs::write(dir.join("baseline.json"), b.to_string()).unwrap();
    let o = check(&dir);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

#[test]
fn a_scenario_without_recorded_metrics_does_not_pass_vacuously() {
    let dir = scratch("r2-check-empty");
    write(&dir, "small.yaml", SMALL);
    write(
        &dir,
        "baseline.json",
        r#"{"scenarios": [{"name": "small", "files": ["small.yaml"], "sets": ["requests=100"]}]}"#,
    );
    let o = check(&dir);
    assert_ne!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn a_negative_tolerance_is_an_input_error() {
    // an unchanged tree "regresses" by 0% > -5%
    let dir = scratch("r2-check-neg");
    write(&dir, "small.yaml", SMALL);
    write(
        &dir,
        "baseline.json",
        r#"{"tolerance_pct": -5, "scenarios": [{"name": "small", "files": ["small.yaml"], "sets": ["requests=100"]}]}"#,
    );
    let o = pdsim(["check".as_ref(), "--baseline".as_ref(), dir.as_os_str(), "--update".as_ref()]);
    if o.status.success() {
        let o = check(&dir);
        assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    }
}

#[test]
fn compare_gain_against_a_zero_baseline_is_not_inf() {
    use pdsim::report::compare::{markdown, CompareRow};
    // KV transfer mean of an aggregated A (0 ms) against a disaggregated B
    let t = markdown(
        "agg",
        "disagg",
        &[CompareRow { metric: "KV transfer mean", unit: "ms", a: 0.0, b: 12.4, lower_is_better: true }],
    );
    assert!(!t.contains("inf"), "{t}");
}
