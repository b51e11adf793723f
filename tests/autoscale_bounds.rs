//! Regression test from review: replicas still draining count against maxReplicas, so the GPUs held never exceed it.
use pdsim::runner::{run, RunOptions};
use pdsim::scenario::load_from_strs;
use std::path::Path;

#[test]
fn held_replicas_stay_within_max() {
    let dep = "\
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
      replicas: 2
      config: {tensorParallelSize: 1, maxBatchSize: 8, maxBatchTokens: 8192}
    decode:
      replicas: 1
      config: {tensorParallelSize: 1, maxBatchSize: 64, kvCacheMemoryFraction: 0.9}
    kvTransfer: {backend: nccl, maxInFlightTransfers: 64}
";
    let a = "\
apiVersion: nvidia.com/v1alpha1
kind: DynamoAutoscaler
spec:
  decode:
    minReplicas: 1
    maxReplicas: 2
    scaleUpThreshold: {batchUtilization: 0.5}
    scaleDownThreshold: {batchUtilization: 0.45, cooldownSeconds: 0}
  metrics: {scrapeInterval: 5s, window: 5s}
  coldStart: {storageBandwidthGBps: 100, containerStartSeconds: 1}
";
    let doc = "kind: Scenario\nname: x\nworkload:\n  kind: step\n  profile: [[0, 3], [120s, 0.2], [150s, 3], [250s, 0.2], [280s, 3]]\n  isl: 256\n  osl: {dist: uniform, min: 200, max: 3000}\nduration: 400s\nseed: 3\n";
    let s = load_from_strs(&[("s.yaml", doc), ("d.yaml", dep), ("a.yaml", a)], Path::new("."), &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let r = run(&s, &RunOptions::default()).unwrap();
    eprintln!("events {:?}", r.output.scale_events);
    eprintln!(
        "decode max held {}, mean {}",
        r.output.metrics.decode_replicas_max, r.summary.pools.decode.replicas_mean
    );
    let worst =
        r.output.timeseries.iter().map(|x| x.decode_replicas_serving + x.decode_replicas_starting).max().unwrap();
    assert!(worst <= 2 && r.output.metrics.decode_replicas_max <= 2, "worst {worst}");
}
