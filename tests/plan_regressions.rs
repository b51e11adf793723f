//! Regressions found in review of `pdsim plan`: each test failed before its fix.

mod common;
use common::*;

use std::path::{Path, PathBuf};

const SLA: &str = "ttft_p99_ms=2000,tpot_p99_ms=40";

/// The chosen row of the report: (GPUs, TTFT P99, TPOT P99).
fn chosen(report: &str) -> (u64, f64, f64) {
    let row = report
        .split("## Chosen")
        .nth(1)
        .and_then(|t| t.lines().find(|l| l.starts_with("| ") && !l.starts_with("| deployment")))
        .unwrap_or_else(|| panic!("no chosen row: {report}"));
    let c: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
    (c[1].parse().unwrap(), c[2].parse().unwrap(), c[3].parse().unwrap())
}

fn plan(files: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    plan_sla(files, out, SLA, extra)
}

fn plan_sla(files: &Path, out: &Path, sla: &str, extra: &[&str]) -> std::process::Output {
    let mut a: Vec<std::ffi::OsString> = vec!["plan".into(), files.into(), "--sla".into(), sla.into()];
    a.extend(extra.iter().map(|s| (*s).into()));
    a.extend(["--out".into(), out.as_os_str().to_owned()]);
    pdsim(&a)
}

/// The production scenario with `edit` applied to its text, written to a scratch directory.
fn production_variant(tag: &str, edit: impl Fn(String) -> String) -> (PathBuf, PathBuf) {
    let dir = scratch(tag);
    let text = edit(std::fs::read_to_string(scenario("llama70b-production.yaml")).unwrap());
    (write(&dir, "s.yaml", &text), dir)
}

/// The written plan, run with the `--set` arguments its header tells the user to give, reproduces the
/// chosen deployment (GPUs within 0, TTFT/TPOT within 1%).
fn assert_round_trip(report: &str, plan_yaml: &Path) {
    let (gpus, ttft, tpot) = chosen(report);
    let text = std::fs::read_to_string(plan_yaml).unwrap();
    let cmd = text.lines().nth(1).unwrap();
    let sets: Vec<&str> = cmd.split(" --set ").skip(1).collect();
    let mut extra: Vec<String> = Vec::new();
    for s in sets {
        extra.push("--set".into());
        extra.push(s.trim().into());
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let v = run_json(&[plan_yaml], &extra);
    assert_eq!(v["gpus"].as_u64().unwrap(), gpus, "GPUs: report {gpus}, rerun {}\n{text}", v["gpus"]);
    let (rt, rp) = (v["ttft_ms"]["p99"].as_f64().unwrap(), v["tpot_ms"]["p99"].as_f64().unwrap());
    assert!((rt - ttft).abs() <= 0.01 * ttft + 1.0, "TTFT P99: report {ttft}, rerun {rt}");
    assert!((rp - tpot).abs() <= 0.01 * tpot + 0.1, "TPOT P99: report {tpot}, rerun {rp}");
}

#[test]
fn aggregated_shapes_respect_max_gpus() {
    // --max-gpus 2: an aggregated TP4 shape gets max = (2 / 4).max(1) = 1 replica = 4 GPUs, and the
    // aggregated branch of Search::shape never checks the budget.
    let dir = scratch("r2-maxgpus");
    let o = plan(
        &scenario("llama70b-production.yaml"),
        &dir.join("out"),
        &["--set", "requests=300", "--set", "workload.rate=0.5", "--max-gpus", "2"],
    );
    if o.status.code() == Some(0) {
        let (gpus, _, _) = chosen(&stdout(&o));
        assert!(gpus <= 2, "--max-gpus 2 but the chosen plan uses {gpus} GPUs:\n{}", stdout(&o));
    } else {
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    }
}

#[test]
fn plan_yaml_keeps_the_deployments_router_policy() {
    // routerPolicy lives in the DGDR's frontend config; the written DGDR drops it (round_robin again)
    let (f, dir) =
        production_variant("r2-router", |t| t.replace("routerPolicy: round_robin", "routerPolicy: kv_aware"));
    let out = dir.join("out");
    let o = plan(&f, &out, &["--set", "requests=3000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_round_trip(&stdout(&o), &out.join("plan.yaml"));
}

#[test]
fn plan_yaml_keeps_the_deployments_model() {
    // the model given only as the DGDR's spec.model: the written DGDR has no spec.model
    let (f, dir) = production_variant("r2-model", |t| t.replace("model: llama-3.1-70b\n", ""));
    let out = dir.join("out");
    let o = plan(&f, &out, &["--set", "requests=3000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_round_trip(&stdout(&o), &out.join("plan.yaml"));
}

#[test]
fn plan_yaml_with_an_inline_aggregated_pool_in_the_scenario_document() {
    // The Scenario document's `aggregated:` block wins over the DGDR and is copied verbatim.
    let (f, dir) = production_variant("r2-inline", |t| {
        t.replace(
            "backend: trtllm\nweights",
            "backend: trtllm\nmode: aggregated\naggregated:\n  replicas: 4\n  tp: 4\n  maxBatchSize: 256\nweights",
        )
    });
    let out = dir.join("out");
    let o = plan(&f, &out, &["--set", "requests=1000", "--set", "workload.rate=2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_round_trip(&stdout(&o), &out.join("plan.yaml"));
}

#[test]
fn plan_yaml_header_command_reproduces_the_plan_with_deployment_sets() {
    // `--set mode=aggregated` / `--set decode.replicas=3` are repeated in the header command and
    // override the planned deployment when the user runs it.
    for sets in [
        vec!["--set", "requests=3000", "--set", "mode=aggregated"],
        vec!["--set", "requests=3000", "--set", "decode.replicas=3"],
    ] {
        let dir = scratch("r2-sets");
        let out = dir.join("out");
        let o = plan(&scenario("llama70b-production.yaml"), &out, &sets);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_round_trip(&stdout(&o), &out.join("plan.yaml"));
    }
}

#[test]
fn plan_yaml_runs_alone_at_the_planned_load() {
    // the header says `pdsim run THIS_FILE --set requests=3000`, but the file itself keeps the base's
    // `requests: 20000`; a bare `pdsim run plan.yaml` simulates another load than the one planned for
    let dir = scratch("r2-bare");
    let out = dir.join("out");
    let o = plan(&scenario("llama70b-production.yaml"), &out, &["--set", "requests=3000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = run_json(&[&out.join("plan.yaml")], &[]);
    assert_eq!(v["requests"]["arrived"], 3000, "{}", v["requests"]);
}

#[test]
fn plan_yaml_keeps_relative_paths_working() {
    let dir = scratch("r2-trace");
    let small = SMALL.replace("requests: 300\n", "requests: none\n").replace(
        "  kind: poisson\n  rate: 20\n  isl: 512\n  osl: 64\n",
        "  kind: trace\n  trace: t.csv\n  speedup: 10\n",
    );
    let rows: String = (0..400).map(|i| format!("{}.0,512,64\n", i / 2)).collect();
    write(&dir, "t.csv", &format!("TIMESTAMP,ContextTokens,GeneratedTokens\n{rows}"));
    let f = write(&dir, "s.yaml", &small);
    let out = dir.join("out");
    let o = pdsim([
        "plan".as_ref(),
        f.as_os_str(),
        "--sla".as_ref(),
        "ttft_p99_ms=500,tpot_p99_ms=40".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = pdsim(["run".as_ref(), out.join("plan.yaml").as_os_str(), "--json".as_ref()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn an_infeasible_plan_reports_the_shapes_searched_and_the_closest_candidates() {
    let dir = scratch("r2-none");
    let o = plan_sla(
        &scenario("llama70b-production.yaml"),
        &dir.join("out"),
        "ttft_p99_ms=1,tpot_p99_ms=1",
        &["--set", "requests=300"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = stdout(&o);
    assert!(!r.contains(" 0 shapes searched"), "{r}");
    let closest = r.split("The closest:").nth(1).unwrap();
    assert!(closest.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| deployment")).count() > 0, "{r}");
}
