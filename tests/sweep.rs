//! `pdsim sweep` and `pdsim merge` end to end: identical results whatever the thread count or
//! sharding, resume after an interruption, failing points isolated, common random numbers.

mod common;
use common::*;

use std::path::{Path, PathBuf};

const FILES: &[&str] = &["points.csv", "frontier.csv", "frontier.svg", "throughput.svg", "frontier.png"];

/// A 24-point sweep of the small scenario; point 23 (prefill.tp=3) cannot run.
fn sweep_file(dir: &Path) -> PathBuf {
    write(dir, "small.yaml", &SMALL.replace("rate: 20", "rate: 40").replace("requests: 300", "requests: 600"));
    write(
        dir,
        "s.yaml",
        "kind: Sweep\nname: small\nscenario: small.yaml\nset: [router.policy=least_loaded]\naxes:\n  \
         - {key: prefill.replicas, range: {min: 1, max: 2}}\n  - {key: decode.replicas, values: [1, 2, 3]}\n  \
         - {key: decode.maxBatchSize, values: [8, 64]}\n  - {key: prefill.tp, values: [1, 3]}\n\
         constraints: [\"total_gpus <= 4\"]\nobjectives: [ttft_p99_ms, usd_per_1m_output_tok]\n",
    )
}

fn sweep(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let mut a: Vec<&std::ffi::OsStr> = vec!["sweep".as_ref()];
    a.extend_from_slice(args);
    let o = pdsim(a);
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

fn same(a: &Path, b: &Path) {
    for f in FILES {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f} differs");
    }
}

#[test]
fn threads_shards_and_resume_give_identical_results() {
    let dir = scratch("sweep");
    let s = sweep_file(&dir);
    let (one, two) = (dir.join("one"), dir.join("two"));
    let o = sweep(&[s.as_os_str(), "--out".as_ref(), one.as_os_str(), "--threads".as_ref(), "1".as_ref()]);
    let text = stdout(&o);
    assert!(text.starts_with("24 points: "), "{text}");
    sweep(&[s.as_os_str(), "--out".as_ref(), two.as_os_str(), "--threads".as_ref(), "2".as_ref()]);
    same(&one, &two);

    // failing and skipped points are reported, the others ran
    let csv = std::fs::read_to_string(one.join("points.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 24);
    let failed: Vec<&&str> = rows.iter().filter(|r| r.contains(",failed,")).collect();
    assert_eq!(failed.len(), 12, "{csv}");
    assert!(failed.iter().all(|r| r.contains("prefill.tp")), "{failed:?}");
    assert!(rows.iter().any(|r| r.contains(",skipped,constraint total_gpus <= 4,")), "{csv}");
    assert!(rows.iter().filter(|r| r.contains(",ok,")).count() >= 10);
    assert!(text.contains("failed: ") && text.contains("prefill.tp"), "{text}");

    // four shards merged = one run
    let mut shards = Vec::new();
    for i in 0..4 {
        let d = dir.join(format!("shard{i}"));
        let o = sweep(&[s.as_os_str(), "--out".as_ref(), d.as_os_str(), "--shard".as_ref(), format!("{i}/4").as_ref()]);
        assert!(stdout(&o).contains("pdsim merge"), "{}", stdout(&o));
        shards.push(d);
    }
    let merged = dir.join("merged");
    let mut a: Vec<&std::ffi::OsStr> = vec!["merge".as_ref()];
    a.extend(shards.iter().map(|d| d.as_os_str()));
    a.extend(["--out".as_ref(), merged.as_os_str()]);
    let o = pdsim(&a);
    assert!(o.status.success(), "{}", stderr(&o));
    same(&one, &merged);
    // a missing shard is an error that says how many points are missing
    let o = pdsim(["merge".as_ref(), shards[0].as_os_str(), "--out".as_ref(), dir.join("partial").as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("18 of 24 points are missing"), "{}", stderr(&o));

    // an interrupted run: half the journal, a torn last line; --resume runs only the rest
    let resumed = dir.join("resumed");
    std::fs::create_dir_all(&resumed).unwrap();
    std::fs::copy(one.join("sweep.json"), resumed.join("sweep.json")).unwrap();
    let journal = std::fs::read_to_string(one.join("points.jsonl")).unwrap();
    let mut half: String = journal.lines().take(10).map(|l| format!("{l}\n")).collect();
    half.push_str("{\"id\": 17, \"val");
    std::fs::write(resumed.join("points.jsonl"), half).unwrap();
    let o = sweep(&[s.as_os_str(), "--out".as_ref(), resumed.as_os_str(), "--resume".as_ref()]);
    assert!(stdout(&o).contains("(14 run now, 10 from the journal)"), "{}", stdout(&o));
    same(&one, &resumed);

    // resuming a changed sweep is refused
    let changed = std::fs::read_to_string(&s).unwrap().replace("values: [8, 64]", "values: [8, 32]");
    std::fs::write(&s, changed).unwrap();
    let o = pdsim(["sweep".as_ref(), s.as_os_str(), "--out".as_ref(), resumed.as_os_str(), "--resume".as_ref()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("holds a different sweep"), "{}", stderr(&o));
}

#[test]
fn points_share_their_workload_draws() {
    // points that differ only in price see the very same requests: identical latencies
    let dir = scratch("crn");
    write(&dir, "small.yaml", SMALL);
    let s = write(
        &dir,
        "s.yaml",
        "kind: Sweep\nscenario: small.yaml\naxes:\n  - {key: pricing.usd_per_gpu_hour, values: [1, 3]}\n",
    );
    let out = dir.join("out");
    sweep(&[s.as_os_str(), "--out".as_ref(), out.as_os_str()]);
    let csv = std::fs::read_to_string(out.join("points.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    let h = rdr.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    for m in ["ttft_p50_ms", "ttft_p99_ms", "tpot_p99_ms", "e2e_p99_ms", "output_tok_s"] {
        assert_eq!(rows[0][col(m)], rows[1][col(m)], "{m}");
    }
    let usd = |r: &csv::StringRecord| r[col("usd_per_1m_output_tok")].parse::<f64>().unwrap();
    assert!((usd(&rows[1]) / usd(&rows[0]) - 3.0).abs() < 1e-3);
}

#[test]
fn bad_sweep_files_are_errors_with_line_and_field() {
    let dir = scratch("badsweep");
    let s = write(&dir, "s.yaml", "kind: Sweep\nscenario: small.yaml\naxes:\n  - {key: decode.replica, values: [1]}\n");
    let o = pdsim(["sweep".as_ref(), s.as_os_str(), "--out".as_ref(), dir.join("o").as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("s.yaml:4:5: axes.key: `decode.replica` is not a --set key"), "{}", stderr(&o));
    let o = pdsim(["sweep".as_ref(), s.as_os_str(), "--shard".as_ref(), "4/4".as_ref()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--shard 4/4: expected I/N"), "{}", stderr(&o));
}
