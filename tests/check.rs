//! `pdsim check`: passes an unchanged tree, catches a 5% TTFT regression (exit 1), rejects bad input
//! (exit 2).

mod common;
use common::*;

use std::path::Path;

fn baseline(dir: &Path, scenario: &str) -> std::path::PathBuf {
    write(dir, "small.yaml", scenario);
    let b = dir.join("baseline");
    std::fs::create_dir_all(&b).unwrap();
    write(
        &b,
        "baseline.json",
        r#"{"tolerance_pct": 2, "scenarios": [{"name": "small", "files": ["../small.yaml"], "sets": ["requests=400"]}]}"#,
    );
    let o = pdsim(["check".as_ref(), "--baseline".as_ref(), b.as_os_str(), "--update".as_ref()]);
    assert!(o.status.success(), "{}", stderr(&o));
    b
}

fn check(b: &Path) -> std::process::Output {
    pdsim(["check".as_ref(), "--baseline".as_ref(), b.as_os_str()])
}

#[test]
fn unchanged_tree_passes_and_a_5_percent_ttft_regression_fails() {
    let dir = scratch("check");
    let b = baseline(&dir, SMALL);
    let o = check(&b);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("all 11 metrics within tolerance"), "{}", stdout(&o));

    // a tree whose TTFT P99 is 5% above the recorded one: the recorded value is 1/1.05 of today's
    let text = std::fs::read_to_string(b.join("baseline.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ttft = v["scenarios"][0]["metrics"]["ttft_ms.p99"].as_f64().unwrap();
    v["scenarios"][0]["metrics"]["ttft_ms.p99"] = serde_json::json!(ttft / 1.05);
    std::fs::write(b.join("baseline.json"), serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let o = check(&b);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    let bad: Vec<&str> = out.lines().filter(|l| l.ends_with("| REGRESSED |")).collect();
    assert_eq!(bad.len(), 1, "{out}");
    assert!(bad[0].starts_with("| small | ttft_ms.p99 |") && bad[0].contains("+5.00%"), "{out}");
    assert!(out.contains("1 of 11 metrics regressed beyond tolerance"), "{out}");
    // a wider tolerance lets it pass
    let o = pdsim(["check".as_ref(), "--baseline".as_ref(), b.as_os_str(), "--tolerance".as_ref(), "6".as_ref()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn a_deployment_change_that_slows_prefill_is_caught() {
    let dir = scratch("check-change");
    let b = baseline(&dir, SMALL);
    // the same traffic on a prefill pool that batches one prompt at a time, KV over TCP
    let changed = SMALL.replace("maxBatchSize: 8, maxBatchTokens: 8192", "maxBatchSize: 1, maxBatchTokens: 8192");
    write(&dir, "small.yaml", &changed.replace("backend: nccl", "backend: tcp"));
    let o = check(&b);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).lines().any(|l| l.contains("| ttft_ms.p99 |") && l.ends_with("| REGRESSED |")),
        "{}",
        stdout(&o)
    );
}

#[test]
fn bad_baselines_are_input_errors() {
    let dir = scratch("check-bad");
    let o = check(&dir.join("nope"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("baseline.json"), "{}", stderr(&o));
    let b = dir.join("b");
    std::fs::create_dir_all(&b).unwrap();
    write(&b, "baseline.json", "{\"scenarios\": [\n  {\"name\": 3}\n]}");
    let o = check(&b);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("baseline.json:2:"), "{}", stderr(&o));
    write(
        &b,
        "baseline.json",
        r#"{"scenarios": [{"name": "x", "files": ["missing.yaml"], "metrics": {"ttft_ms.p99": 1}}]}"#,
    );
    let o = check(&b);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("scenario x") && stderr(&o).contains("missing.yaml"), "{}", stderr(&o));
}
