//! The autoscaler end to end: how late it reacts to a step in load, when new capacity serves, that it
//! does not flap under constant load, keeps its bounds, and loses no request while draining.

use std::path::Path;

use pdsim::input::load_from_strs;
use pdsim::metrics::{Outcome, ScaleEvent};
use pdsim::runner::{run, RunOptions, RunResult};

/// Llama-3.1-8B, one TP1 prefill and one TP1 decode replica; 1k-token prompts.
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
    scaleDownThreshold: {gpuUtilization: 0.2, cooldownSeconds: 120}
  decode:
    minReplicas: 1
    maxReplicas: 6
    scaleUpThreshold: {batchUtilization: 0.9}
    scaleDownThreshold: {batchUtilization: 0.1, cooldownSeconds: 120}
  metrics: {scrapeInterval: 10s, window: 30s}
  coldStart: {storageBandwidthGBps: 2, containerStartSeconds: 20}
";

fn scenario_doc(workload: &str, duration_s: u32) -> String {
    format!(
        "kind: Scenario\nname: autoscale\nworkload:\n{workload}\n  isl: 1024\n  osl: 64\nduration: {duration_s}s\nseed: 7\n"
    )
}

/// Runs `doc` on `deployment` under `autoscaler`, recording every request.
fn run_docs(doc: &str, deployment: &str, autoscaler: &str, sets: &[&str]) -> RunResult {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let s = load_from_strs(&[("s.yaml", doc), ("d.yaml", deployment), ("a.yaml", autoscaler)], Path::new("."), &sets)
        .unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions { record_requests: true, ..RunOptions::default() };
    run(&s, &opts).unwrap()
}

fn simulate(workload: &str, duration_s: u32, sets: &[&str]) -> RunResult {
    run_docs(&scenario_doc(workload, duration_s), DEPLOYMENT, AUTOSCALER, sets)
}

fn ups<'a>(events: &'a [ScaleEvent], pool: &str) -> Vec<&'a ScaleEvent> {
    events.iter().filter(|e| e.pool == pool && e.to > e.from).collect()
}

/// Cold start of Llama-3.1-8B bf16 (16.06 GB) at 2 GB/s plus 20 s.
fn cold_start_s() -> f64 {
    let m = pdsim::spec::model::ModelSpec::preset("llama-3.1-8b").unwrap();
    20.0 + m.weight_bytes(pdsim::spec::model::Dtype::Bf16) as f64 / 2e9
}

#[test]
fn step_load_scales_up_within_a_scrape_plus_window_and_serves_a_cold_start_later() {
    // 8 req/s, then 60 req/s from t = 300 s: one prefill replica cannot keep up
    let r = simulate("  kind: step\n  profile: [[0, 8], [300s, 60]]", 600, &[]);
    let m = &r.output.metrics;
    assert!(m.accounted() && m.completed == m.arrived, "{} of {}", m.completed, m.arrived);
    let first_up = ups(&r.output.scale_events, "prefill")[0].clone();
    // when the prefill queue first passed the threshold (1 s samples)
    let crossed = r
        .output
        .timeseries
        .iter()
        .find(|row| row.prefill_queue_depth > 20)
        .map(|row| row.time_s)
        .expect("the queue crosses the threshold");
    assert!(crossed >= 300.0, "the queue crossed at {crossed} s, before the step");
    let (scrape, window) = (10.0, 30.0);
    assert!(
        first_up.time_s >= crossed - 1.0 && first_up.time_s <= crossed + scrape + window,
        "first scale-up at {} s; threshold crossed at {crossed} s",
        first_up.time_s
    );
    assert_eq!(first_up.reason, "queue_depth");
    // nothing scaled up before the step
    assert!(r.output.scale_events.iter().all(|e| e.time_s >= 300.0), "{:?}", r.output.scale_events);
    // the new replica (worker 1) takes its first batch no sooner than one cold start later, and soon after
    let ready = first_up.time_s + cold_start_s();
    let first_batch = r
        .output
        .requests
        .iter()
        .filter(|q| q.prefill_worker == Some(1))
        .filter_map(|q| q.prefill_start_ns)
        .min()
        .expect("the new replica serves") as f64
        / 1e9;
    assert!(first_batch >= ready - 1e-6, "served at {first_batch} s, ready at {ready} s");
    assert!(first_batch <= ready + 1.0, "served at {first_batch} s, ready at {ready} s: the queue was full");
    // while it started, the time series shows it starting, not serving
    let at = |t: f64| r.output.timeseries.iter().find(|row| row.time_s >= t).unwrap();
    let mid = at(first_up.time_s + cold_start_s() / 2.0);
    assert!(mid.prefill_replicas_starting >= 1, "{mid:?}");
    // replicas held cost money: more GPU-hours than the starting deployment
    let static_run = simulate("  kind: step\n  profile: [[0, 8], [300s, 60]]", 600, &["autoscaler.enabled=false"]);
    assert!(r.summary.cost.gpu_hours > static_run.summary.cost.gpu_hours);
    assert!(r.summary.ttft_ms.p99 < static_run.summary.ttft_ms.p99);
}

#[test]
fn constant_load_does_not_flap_and_bounds_hold() {
    // 50 req/s for 20 minutes: more than one prefill replica serves; the pool grows at the start,
    // then holds its size while the load holds
    let r = simulate("  kind: poisson\n  rate: 50", 1200, &[]);
    let ev = &r.output.scale_events;
    assert!(ev.iter().any(|e| e.pool == "prefill" && e.to > e.from), "{ev:?}");
    for e in ev {
        assert!(e.to >= 1 && e.to <= 6, "{e:?}");
    }
    for row in &r.output.timeseries {
        for desired in [row.prefill_replicas_desired, row.decode_replicas_desired] {
            assert!((1..=6).contains(&desired), "{row:?}");
        }
        assert!(row.prefill_replicas_serving + row.prefill_replicas_starting <= 6, "{row:?}");
        assert!(row.decode_replicas_serving + row.decode_replicas_starting <= 6, "{row:?}");
        assert!(row.prefill_replicas_serving >= 1 && row.decode_replicas_serving >= 1, "{row:?}");
    }
    // after the first 5 minutes and while the load lasts: no change at all
    let settled: Vec<&ScaleEvent> = ev.iter().filter(|e| e.time_s > 300.0 && e.time_s < 1200.0).collect();
    assert!(settled.is_empty(), "{settled:?}");
}

#[test]
fn scale_down_drains_without_losing_requests() {
    // a burst, then a trickle: the pools grow, then shrink back to their minimum
    let r = simulate("  kind: step\n  profile: [[0, 60], [200s, 1]]", 900, &[]);
    let m = &r.output.metrics;
    assert_eq!(m.completed, m.arrived, "timed out {}, rejected {}", m.timed_out, m.rejected);
    assert!(r.output.requests.iter().all(|q| q.outcome == Outcome::Completed));
    let downs: Vec<&ScaleEvent> = r.output.scale_events.iter().filter(|e| e.to < e.from).collect();
    assert!(!downs.is_empty(), "{:?}", r.output.scale_events);
    // cooldown: two changes of one pool in the same direction downwards are >= 120 s apart
    for pool in ["prefill", "decode"] {
        let d: Vec<f64> = downs.iter().filter(|e| e.pool == pool).map(|e| e.time_s).collect();
        for w in d.windows(2) {
            assert!(w[1] - w[0] >= 120.0 - 1e-9, "{pool}: {d:?}");
        }
    }
    // every request that a drained replica took finished on it
    let last = r.output.timeseries.last().unwrap();
    assert!(last.prefill_replicas_serving >= 1 && last.decode_replicas_serving >= 1);
    // replica time is what the pools held, between the minimum and the maximum
    let s = &r.summary.pools;
    let p = s.prefill.as_ref().unwrap();
    assert!(p.replicas_mean >= 1.0 && p.replicas_mean <= p.replicas_max as f64, "{p:?}");
}

#[test]
fn same_seed_same_scaling() {
    let a = simulate("  kind: step\n  profile: [[0, 8], [300s, 60]]", 500, &["autoscaler.policy=predictive"]);
    let b = simulate("  kind: step\n  profile: [[0, 8], [300s, 60]]", 500, &["autoscaler.policy=predictive"]);
    assert_eq!(a.output.scale_events, b.output.scale_events);
    assert_eq!(a.summary.to_json(), b.summary.to_json());
}

// Regressions found in review.

/// Replicas added mid-run are billed from their start, not from t = 0.
#[test]
fn replicas_added_mid_run_are_billed_from_their_start() {
    let only_prefill =
        AUTOSCALER.replace("maxReplicas: 6\n    scaleUpThreshold: {batchUtilization: 0.9}", "maxReplicas: 1");
    let r =
        run_docs(&scenario_doc("  kind: step\n  profile: [[0, 8], [300s, 60]]", 600), DEPLOYMENT, &only_prefill, &[]);
    let m = &r.output.metrics;
    let first_up = ups(&r.output.scale_events, "prefill")[0].time_s;
    let first_up_ns = (first_up * 1e9) as u64;
    // every replica beyond the first was held at most from the first scale-up to the end
    let bound = m.makespan_ns + (m.prefill_replicas_max as u64 - 1) * (m.makespan_ns - first_up_ns);
    assert!(m.prefill_replicas_max > 1);
    assert!(m.prefill_replica_ns <= bound, "replica time {} > bound {bound}", m.prefill_replica_ns);
    // and the windowed utilisation does not collapse when one starts (its serving time starts later)
    let after = r.output.scrapes.iter().find(|s| s.t_ns as f64 / 1e9 > first_up).unwrap();
    assert!(after.prefill.unwrap().gpu_utilization > 0.5, "{:?}", after.prefill);
}

/// No scaling decision, and no replica time, after the last request ends.
#[test]
fn no_replica_time_after_the_run_ends() {
    let a = "apiVersion: nvidia.com/v1alpha1\nkind: DynamoAutoscaler\nspec:\n  decode:\n    minReplicas: 1\n    \
             maxReplicas: 3\n    scaleDownThreshold: {gpuUtilization: 0.9, cooldownSeconds: 0}\n  metrics: {scrapeInterval: 60s}\n";
    let dep = DEPLOYMENT.replace("decode:\n      replicas: 1", "decode:\n      replicas: 3");
    let doc = "kind: Scenario\nname: x\nworkload:\n  kind: poisson\n  rate: 2\n  isl: 1024\n  osl: 64\nduration: 30s\nseed: 7\n";
    let r = run_docs(doc, &dep, a, &[]);
    let m = &r.output.metrics;
    assert!(m.decode_replica_ns <= 3 * m.makespan_ns, "{} > 3 x {}", m.decode_replica_ns, m.makespan_ns);
    assert!(
        r.output.scale_events.iter().all(|e| e.time_s * 1e9 <= m.makespan_ns as f64),
        "{:?}",
        r.output.scale_events
    );
}

/// Replicas still draining count against maxReplicas: the GPUs held never exceed it.
#[test]
fn held_replicas_stay_within_max() {
    let dep = DEPLOYMENT
        .replace("prefill:\n      replicas: 1", "prefill:\n      replicas: 2")
        .replace("maxBatchSize: 128", "maxBatchSize: 64");
    let a = "apiVersion: nvidia.com/v1alpha1\nkind: DynamoAutoscaler\nspec:\n  decode:\n    minReplicas: 1\n    \
             maxReplicas: 2\n    scaleUpThreshold: {batchUtilization: 0.5}\n    \
             scaleDownThreshold: {batchUtilization: 0.45, cooldownSeconds: 0}\n  metrics: {scrapeInterval: 5s, window: 5s}\n  \
             coldStart: {storageBandwidthGBps: 100, containerStartSeconds: 1}\n";
    let doc = "kind: Scenario\nname: x\nworkload:\n  kind: step\n  profile: [[0, 3], [120s, 0.2], [150s, 3], [250s, 0.2], [280s, 3]]\n  \
               isl: 256\n  osl: {dist: uniform, min: 200, max: 3000}\nduration: 400s\nseed: 3\n";
    let r = run_docs(doc, &dep, a, &[]);
    assert!(r.output.scale_events.iter().any(|e| e.to < e.from), "the case must drain: {:?}", r.output.scale_events);
    let worst =
        r.output.timeseries.iter().map(|x| x.decode_replicas_serving + x.decode_replicas_starting).max().unwrap();
    assert!(worst <= 2 && r.output.metrics.decode_replicas_max <= 2, "worst {worst}");
}
