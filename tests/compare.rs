//! `pdsim compare`: the guide's default-vs-tuned table for two scenarios.

mod common;
use common::*;

#[test]
fn compare_prints_the_table_and_writes_its_files() {
    let dir = scratch("compare");
    let a = write(&dir, "a.yaml", SMALL);
    let b = write(
        &dir,
        "b.yaml",
        &SMALL.replace("name: small", "name: bigger").replace(
            "replicas: 1\n      config: {tensorParallelSize: 1, maxBatchSize: 64",
            "replicas: 2\n      config: {tensorParallelSize: 1, maxBatchSize: 64",
        ),
    );
    let out = dir.join("out");
    let o = pdsim(["compare".as_ref(), a.as_os_str(), b.as_os_str(), "--out".as_ref(), out.as_os_str()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = stdout(&o);
    assert!(t.starts_with("| metric | small | bigger | gain |"), "{t}");
    for m in [
        "TTFT P99 (ms)",
        "TPOT P99 (ms)",
        "throughput (output tok/s)",
        "KV transfer mean (ms)",
        "GPU utilization (%)",
        "cost ($ per 1M output tok)",
    ] {
        assert!(t.contains(&format!("| {m} |")), "{m}: {t}");
    }
    // one more decode replica: more GPUs for the same traffic, so the cost per token is worse
    assert!(t.lines().any(|l| l.starts_with("| cost") && l.ends_with("worse |")), "{t}");
    for f in ["compare.md", "compare.json", "a.summary.json", "b.summary.json"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("compare.json")).unwrap()).unwrap();
    assert_eq!(j["rows"].as_array().unwrap().len(), 8);
    let o = pdsim(["compare".as_ref(), a.as_os_str(), dir.join("missing.yaml").as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
}
