//! `pdsim plan` for the deployment guide's five traffic patterns: each plan is feasible and its own
//! written deployment, run again, meets the SLA.

mod common;
use common::*;

const DEPLOYMENT: &str = "---
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeploymentRequest
spec:
  components:
    frontend:
      config: {maxConcurrentRequests: 8192, requestTimeoutMs: 300000}
    prefill:
      replicas: 1
      config: {tensorParallelSize: 1, maxBatchSize: 16, maxBatchTokens: 16384, maxInputLength: 65536}
    decode:
      replicas: 1
      config: {tensorParallelSize: 1, maxBatchSize: 128, maxOutputLength: 8192, kvCacheMemoryFraction: 0.9}
    kvTransfer: {backend: nccl}
";

/// (pattern, workload lines, SLA). Chatbot, code and RAG use the trace-grounded presets;
/// summarization and batch have no grounded source, so their lengths are stated here: long prompts
/// with short summaries, and long answers under a lenient SLA.
const PATTERNS: &[(&str, &str, &str)] = &[
    ("chatbot", "  kind: poisson\n  rate: 40\n  preset: chatbot", "ttft_p99_ms=800,tpot_p99_ms=25"),
    ("code_generation", "  kind: poisson\n  rate: 20\n  preset: code_generation", "ttft_p99_ms=1000,tpot_p99_ms=25"),
    ("rag", "  kind: poisson\n  rate: 3\n  preset: rag", "ttft_p99_ms=4000,tpot_p99_ms=30"),
    (
        "summarization",
        "  kind: poisson\n  rate: 8\n  isl: {dist: lognormal, mean: 4000, sigma: 0.5, min: 256, max: 32768}\n  \
         osl: {dist: lognormal, mean: 250, sigma: 0.5, min: 16, max: 2048}",
        "ttft_p99_ms=2000,tpot_p99_ms=30",
    ),
    (
        "batch",
        "  kind: poisson\n  rate: 10\n  isl: {dist: lognormal, mean: 1000, sigma: 0.6, min: 16, max: 16384}\n  \
         osl: {dist: lognormal, mean: 1000, sigma: 0.6, min: 16, max: 4096}",
        "ttft_p99_ms=10000,tpot_p99_ms=60",
    ),
];

fn sla_of(s: &str) -> (f64, f64) {
    let get =
        |k: &str| -> f64 { s.split(',').find_map(|p| p.strip_prefix(&format!("{k}="))).unwrap().parse().unwrap() };
    (get("ttft_p99_ms"), get("tpot_p99_ms"))
}

#[test]
fn every_pattern_gets_a_plan_whose_rerun_meets_the_sla() {
    let dir = scratch("plan");
    for (name, workload, sla) in PATTERNS {
        let text = format!(
            "kind: Scenario\nname: {name}\nmodel: llama-3.1-8b\nworkload:\n{workload}\nrequests: 1500\nseed: 5\n{DEPLOYMENT}"
        );
        let f = write(&dir, &format!("{name}.yaml"), &text);
        let out = dir.join(name);
        let o = pdsim([
            "plan".as_ref(),
            f.as_os_str(),
            "--sla".as_ref(),
            sla.as_ref(),
            "--max-gpus".as_ref(),
            "16".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        assert!(o.status.success(), "{name}: {}\n{}", stderr(&o), stdout(&o));
        let report = stdout(&o);
        assert!(report.contains("## Chosen") && report.contains("## Levers"), "{report}");
        for f in ["report.md", "report.html", "frontier.svg", "frontier.png", "plan.yaml"] {
            assert!(out.join(f).exists(), "{name}: {f} missing");
        }
        // the written deployment runs as it is, and meets the SLA
        let v = run_json(&[&out.join("plan.yaml")], &[]);
        let (ttft, tpot) = sla_of(sla);
        assert_eq!(v["requests"]["completed"], 1500, "{name}: {v}");
        assert!(v["ttft_ms"]["p99"].as_f64().unwrap() <= ttft, "{name}: {}", v["ttft_ms"]);
        assert!(v["tpot_ms"]["p99"].as_f64().unwrap() <= tpot, "{name}: {}", v["tpot_ms"]);
        let gpus = v["gpus"].as_u64().unwrap();
        assert!((1..=16).contains(&gpus), "{name}: {gpus} GPUs");
        // the chosen row of the report is that deployment
        assert!(report.contains(&format!("| {gpus} |")), "{name}: {report}");
    }
}

#[test]
fn an_impossible_sla_exits_1_with_the_closest_candidates() {
    let dir = scratch("plan-none");
    let text = format!(
        "kind: Scenario\nname: tight\nmodel: llama-3.1-8b\nworkload:\n  kind: poisson\n  rate: 20\n  preset: chatbot\nrequests: 500\n{DEPLOYMENT}"
    );
    let f = write(&dir, "s.yaml", &text);
    let o = pdsim([
        "plan".as_ref(),
        f.as_os_str(),
        "--sla".as_ref(),
        "ttft_p99_ms=1,tpot_p99_ms=1".as_ref(),
        "--max-gpus".as_ref(),
        "4".as_ref(),
        "--out".as_ref(),
        dir.join("out").as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("No deployment meets the SLA"), "{}", stdout(&o));
    assert!(!dir.join("out/plan.yaml").exists());
    let o = pdsim(["plan".as_ref(), f.as_os_str(), "--sla".as_ref(), "ttft=1".as_ref()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--sla ttft=1: unknown key ttft"), "{}", stderr(&o));
}
