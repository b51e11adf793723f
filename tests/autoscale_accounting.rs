//! Regression tests from review: replica time is billed from a replica's start to its stop, never past the run's end.
use std::path::Path;

use pdsim::runner::{run, RunOptions, RunResult};
use pdsim::scenario::load_from_strs;

const DEPLOYMENT: &str = "\
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeploymentRequest
spec:
  model: llama-3.1-8b
  backend: trtllm
  components:
    frontend:
      replicas: 1
      config: {maxConcurrentRequests: 100000, requestTimeoutMs: 3600000}
    prefill:
      replicas: 1
      config: {tensorParallelSize: 1, maxBatchSize: 8, maxBatchTokens: 8192}
    decode:
      replicas: 1
      config: {tensorParallelSize: 1, maxBatchSize: 128, kvCacheMemoryFraction: 0.9}
    kvTransfer: {backend: nccl, maxInFlightTransfers: 64}
";

const AUTOSCALER: &str = "\
apiVersion: nvidia.com/v1alpha1
kind: DynamoAutoscaler
spec:
  prefill:
    minReplicas: 1
    maxReplicas: 6
    scaleUpThreshold: {queueDepth: 20}
  decode:
    minReplicas: 1
    maxReplicas: 1
  metrics: {scrapeInterval: 10s, window: 30s}
  coldStart: {storageBandwidthGBps: 2, containerStartSeconds: 20}
";

fn simulate(workload: &str, duration_s: u32, sets: &[&str]) -> RunResult {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let doc = format!(
        "kind: Scenario\nname: autoscale\nworkload:\n{workload}\n  isl: 1024\n  osl: 64\nduration: {duration_s}s\nseed: 7\n"
    );
    let s = load_from_strs(&[("s.yaml", &doc), ("d.yaml", DEPLOYMENT), ("a.yaml", AUTOSCALER)], Path::new("."), &sets)
        .unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions { record_requests: true, ..RunOptions::default() };
    run(&s, &opts).unwrap()
}

#[test]
fn replicas_added_mid_run_are_billed_from_their_start_not_from_t0() {
    // one prefill replica until the step at 300 s; the autoscaler adds replicas only after it
    let r = simulate("  kind: step\n  profile: [[0, 8], [300s, 60]]", 600, &[]);
    let m = &r.output.metrics;
    let ups: Vec<_> = r.output.scale_events.iter().filter(|e| e.pool == "prefill" && e.to > e.from).collect();
    assert!(!ups.is_empty());
    let first_up_ns = (ups[0].time_s * 1e9) as u64;
    // every replica beyond the first was held at most from the first scale-up to the end
    let bound = m.makespan_ns + (m.prefill_replicas_max as u64 - 1) * (m.makespan_ns - first_up_ns);
    eprintln!(
        "makespan {} s, first up {} s, max {}, prefill replica time {} s (bound {} s), mean {}",
        m.makespan_ns as f64 / 1e9,
        ups[0].time_s,
        m.prefill_replicas_max,
        m.prefill_replica_ns as f64 / 1e9,
        bound as f64 / 1e9,
        r.summary.pools.prefill.as_ref().unwrap().replicas_mean
    );
    assert!(m.prefill_replica_ns <= bound, "replica time {} > bound {}", m.prefill_replica_ns, bound);
}

#[test]
fn utilisation_does_not_collapse_when_a_replica_is_added() {
    let r = simulate("  kind: step\n  profile: [[0, 8], [300s, 60]]", 600, &[]);
    let first_up = r.output.scale_events.iter().find(|e| e.pool == "prefill" && e.to > e.from).unwrap().time_s;
    for row in r
        .output
        .scrapes
        .iter()
        .filter(|s| (s.t_ns as f64 / 1e9) > first_up - 25.0 && (s.t_ns as f64 / 1e9) < first_up + 45.0)
    {
        let p = row.prefill.unwrap();
        eprintln!(
            "scrape t={} prefill gpu_util={:.4} serving={} starting={}",
            row.t_ns as f64 / 1e9,
            p.gpu_utilization,
            p.serving,
            p.starting
        );
    }
    for row in r.output.timeseries.iter().filter(|s| s.time_s > first_up - 3.0 && s.time_s < first_up + 3.0) {
        eprintln!("sample t={} prefill_util={:.4}", row.time_s, row.prefill_utilization);
    }
    let after = r.output.scrapes.iter().find(|s| s.t_ns as f64 / 1e9 > first_up).unwrap();
    assert!(after.prefill.unwrap().gpu_utilization > 0.5, "{:?}", after.prefill);
}

#[test]
fn no_replica_time_after_the_run_ends() {
    let a = "\
apiVersion: nvidia.com/v1alpha1
kind: DynamoAutoscaler
spec:
  decode:
    minReplicas: 1
    maxReplicas: 3
    scaleDownThreshold: {gpuUtilization: 0.9, cooldownSeconds: 0}
  metrics: {scrapeInterval: 60s}
";
    let dep = DEPLOYMENT.replace("decode:\n      replicas: 1", "decode:\n      replicas: 3");
    let doc = "kind: Scenario\nname: x\nworkload:\n  kind: poisson\n  rate: 2\n  isl: 1024\n  osl: 64\nduration: 30s\nseed: 7\n";
    let s = load_from_strs(&[("s.yaml", doc), ("d.yaml", &dep), ("a.yaml", a)], Path::new("."), &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let r = run(&s, &RunOptions::default()).unwrap();
    let m = &r.output.metrics;
    eprintln!(
        "makespan {} s, events {:?}, decode replica time {} s, mean {}",
        m.makespan_ns as f64 / 1e9,
        r.output.scale_events,
        m.decode_replica_ns as f64 / 1e9,
        r.summary.pools.decode.replicas_mean
    );
    assert!(m.decode_replica_ns <= 3 * m.makespan_ns);
}
