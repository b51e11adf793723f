//! Regressions found in review of `pdsim sweep`: each test failed before its fix.

mod common;
use common::*;

use std::path::Path;

fn sweep(s: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut a: Vec<std::ffi::OsString> = vec!["sweep".into(), s.into(), "--out".into(), out.into()];
    a.extend(extra.iter().map(|x| (*x).into()));
    pdsim(&a)
}

fn rows(csv_path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(csv_path).unwrap();
    let h = r.headers().unwrap().clone();
    r.records().map(|x| h.iter().zip(x.unwrap().iter()).map(|(a, b)| (a.into(), b.into())).collect()).collect()
}

#[test]
fn points_that_served_nothing_are_not_on_the_frontier() {
    // prefill.maxInputLength=1 rejects every request: TTFT/TPOT/cost are all 0, so the point
    // dominates every real one and passes the SLA filter.
    let dir = scratch("r2-rejected");
    write(&dir, "small.yaml", SMALL);
    let s = write(
        &dir,
        "s.yaml",
        "kind: Sweep\nscenario: small.yaml\naxes:\n  - {key: prefill.maxInputLength, values: [1, 32768]}\n  \
         - {key: decode.replicas, values: [1, 2]}\nobjectives: [ttft_p99_ms, usd_per_1m_output_tok]\n\
         sla: {ttft_p99_ms: 2000, tpot_p99_ms: 40}\n",
    );
    let out = dir.join("out");
    let o = sweep(&s, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    for r in rows(&out.join("frontier.csv")) {
        assert_ne!(r["completed"], "0", "a point that completed nothing is on the frontier: {r:?}");
        assert_eq!(r["rejected"], "0", "a point that rejected requests meets the SLA: {r:?}");
    }
}

#[test]
fn resume_after_changing_the_sla_does_not_mix_results() {
    // The SLA is passed to every run (goodput_req_s, sla_attainment) but is not in the fingerprint.
    let dir = scratch("r2-sla");
    write(&dir, "small.yaml", SMALL);
    let text = "kind: Sweep\nscenario: small.yaml\nset: [requests=100]\naxes:\n  \
                - {key: decode.replicas, values: [1, 2, 3, 4]}\nsla: {ttft_p99_ms: 2000, tpot_p99_ms: 40}\n";
    let s = write(&dir, "s.yaml", text);
    let out = dir.join("out");
    assert!(sweep(&s, &out, &["--threads", "1"]).status.success());
    let journal = std::fs::read_to_string(out.join("points.jsonl")).unwrap();
    let half: String = journal.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(out.join("points.jsonl"), half).unwrap();
    write(&dir, "s.yaml", &text.replace("ttft_p99_ms: 2000", "ttft_p99_ms: 5"));
    let o = sweep(&s, &out, &["--resume"]);
    if o.status.success() {
        // accepted: then it must equal a fresh run of the changed sweep
        let fresh = dir.join("fresh");
        assert!(sweep(&s, &fresh, &[]).status.success());
        assert_eq!(
            std::fs::read_to_string(out.join("points.csv")).unwrap(),
            std::fs::read_to_string(fresh.join("points.csv")).unwrap(),
            "--resume kept goodput/attainment computed under the old SLA"
        );
    } else {
        assert_eq!(o.status.code(), Some(2));
    }
}

#[test]
fn resume_of_a_journal_without_sweep_json_is_checked_not_a_panic() {
    let dir = scratch("r2-nometa");
    write(&dir, "small.yaml", SMALL);
    let a = write(
        &dir,
        "a.yaml",
        "kind: Sweep\nscenario: small.yaml\nset: [requests=50]\naxes:\n  - {key: decode.replicas, values: [1, 2, 3]}\n",
    );
    let b = write(
        &dir,
        "b.yaml",
        "kind: Sweep\nscenario: small.yaml\nset: [requests=50]\naxes:\n  - {key: prefill.replicas, values: [1, 2]}\n  \
         - {key: decode.maxBatchSize, values: [8]}\n",
    );
    let out = dir.join("out");
    assert!(sweep(&a, &out, &[]).status.success());
    std::fs::remove_file(out.join("sweep.json")).unwrap();
    let o = sweep(&b, &out, &["--resume"]);
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
}

#[test]
fn merge_of_a_journal_line_with_the_wrong_values_is_an_error_not_a_panic() {
    let dir = scratch("r2-mergebad");
    write(&dir, "small.yaml", SMALL);
    let a = write(
        &dir,
        "a.yaml",
        "kind: Sweep\nscenario: small.yaml\nset: [requests=50]\naxes:\n  - {key: decode.replicas, values: [1, 2]}\n",
    );
    let out = dir.join("out");
    assert!(sweep(&a, &out, &[]).status.success());
    let j = std::fs::read_to_string(out.join("points.jsonl")).unwrap().replacen(
        "\"values\":[\"",
        "\"values\":[\"9\",\"",
        1,
    );
    std::fs::write(out.join("points.jsonl"), j).unwrap();
    let o = pdsim(["merge".as_ref(), out.as_os_str(), "--out".as_ref(), dir.join("m").as_os_str()]);
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn huge_ranges_and_grids_are_spec_errors_not_panics() {
    let dir = scratch("r2-huge");
    write(&dir, "small.yaml", SMALL);
    // (max - min) / step overflows usize: n wraps to 0, an axis without values, random_range(0..0) panics
    let s = write(
        &dir,
        "s.yaml",
        "kind: Sweep\nscenario: small.yaml\naxes:\n  - {key: decode.kvCacheMemoryFraction, range: {min: 0, max: 1e300, step: 1e-300}}\nsampling: {random: 3}\n",
    );
    let o = sweep(&s, &dir.join("o1"), &[]);
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(2));
    // 4 axes of 100000 values: the grid's product overflows (capacity overflow panic)
    let s = write(
        &dir,
        "g.yaml",
        "kind: Sweep\nscenario: small.yaml\naxes:\n  - {key: decode.replicas, range: {min: 1, max: 100000}}\n  \
         - {key: prefill.replicas, range: {min: 1, max: 100000}}\n  - {key: decode.maxBatchSize, range: {min: 1, max: 100000}}\n  \
         - {key: prefill.maxBatchSize, range: {min: 1, max: 100000}}\n",
    );
    let o = sweep(&s, &dir.join("o2"), &[]);
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_constraint_on_a_key_that_cannot_be_evaluated_is_a_spec_error() {
    // `workload.rate` passes the parse-time check (a --set key) but value_of() cannot evaluate it:
    // every point fails at run time and the sweep exits 0.
    let dir = scratch("r2-cons");
    write(&dir, "small.yaml", SMALL);
    let s = write(
        &dir,
        "s.yaml",
        "kind: Sweep\nscenario: small.yaml\nset: [requests=50]\naxes:\n  - {key: decode.replicas, values: [1, 2]}\n\
         constraints: [\"workload.rate <= 100\"]\n",
    );
    let o = sweep(&s, &dir.join("o"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("s.yaml:6:"), "{}", stderr(&o));
}

#[test]
fn a_non_finite_metric_survives_the_journal() {
    // usd_per_1m_output_tok = inf is written to the journal as `null`, which the reader rejects:
    // --resume (and merge) fail with "invalid type: null, expected f64".
    let dir = scratch("r2-inf");
    write(&dir, "small.yaml", SMALL);
    let s = write(
        &dir,
        "s.yaml",
        "kind: Sweep\nscenario: small.yaml\nset: [requests=50]\naxes:\n  - {key: pricing.usd_per_gpu_hour, values: [1, 1e308, 2]}\n",
    );
    let out = dir.join("out");
    assert!(sweep(&s, &out, &["--threads", "1"]).status.success());
    let o = sweep(&s, &out, &["--resume"]);
    assert!(o.status.success(), "{}", stderr(&o));
}
