use std::path::{Path, PathBuf};

use super::*;
use crate::spec::deployment::*;
use crate::spec::workload::{Arrival, LengthDist, TraceFormat, WorkloadSpec};

const SCENARIO: &str = "\
kind: Scenario
name: llama70b-chat
model: llama-3.1-70b
hardware: h100-sxm
weights_dtype: bf16
kv_dtype: fp8
router: {policy: least_loaded}
prefixCache: {capacity: off}
autoscaler: {enabled: false}
workload:
  kind: poisson
  rate: 5
  isl: lognormal:mean=1000,sigma=0.8
  osl: {dist: uniform, min: 64, max: 512}
requests: 2000
duration: 10m
seed: 7
pricing: {usd_per_gpu_hour: 2.5}
";

const DGDR: &str = "\
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeploymentRequest
metadata:
  name: llama70b-production
  namespace: inference
spec:
  model: meta-llama/Llama-3.1-8B-Instruct
  backend: trtllm
  components:
    frontend:
      replicas: 1
      config:
        maxConcurrentRequests: 2048
        requestTimeoutMs: 60000
        routerPolicy: round_robin
    prefill:
      replicas: 1
      resources:
        gpu: 4
      config:
        tensorParallelSize: 4
        maxBatchSize: 32
        maxBatchTokens: 16384
        maxInputLength: 32768
    decode:
      replicas: 3
      resources:
        gpu: 4
      config:
        tensorParallelSize: 4
        maxBatchSize: 256
        maxOutputLength: 4096
        kvCacheMemoryFraction: 0.92
    kvTransfer:
      backend: nccl
      compression: none
      maxInFlightTransfers: 64
      blockSizeKB: 512
";

const VLLM_DISAGG_DGD: &str = r#"apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata:
  name: vllm-disagg
spec:
  services:
    Frontend:
      dynamoNamespace: vllm-disagg
      componentType: frontend
      replicas: 1
      extraPodSpec:
        mainContainer:
          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.4.1
    VllmDecodeWorker:
      dynamoNamespace: vllm-disagg
      envFromSecret: hf-token-secret
      componentType: worker
      subComponentType: decode
      replicas: 2
      resources:
        limits:
          gpu: "4"
      extraPodSpec:
        mainContainer:
          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.4.1
          workingDir: /workspace/components/backends/vllm
          command:
            - python3
            - -m
            - dynamo.vllm
          args:
            - --model
            - meta-llama/Llama-3.1-70B-Instruct
            - --tensor-parallel-size
            - "4"
            - --max-num-seqs
            - "128"
            - --gpu-memory-utilization
            - "0.9"
    VllmPrefillWorker:
      dynamoNamespace: vllm-disagg
      envFromSecret: hf-token-secret
      componentType: worker
      replicas: 1
      resources:
        limits:
          gpu: "4"
      extraPodSpec:
        mainContainer:
          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.4.1
          workingDir: /workspace/components/backends/vllm
          command: ["/bin/sh", "-c"]
          args:
            - "python3 -m dynamo.vllm --model meta-llama/Llama-3.1-70B-Instruct --tensor-parallel-size=4 --max-num-batched-tokens 8192 --is-prefill-worker 2>&1 | tee /tmp/vllm.log"
status:
  state: successful
"#;

const SGLANG_AGG_DGD: &str = r#"apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata:
  name: sglang-agg
spec:
  backendFramework: sglang
  services:
    Frontend:
      dynamoNamespace: sglang-agg
      componentType: frontend
      replicas: 1
      extraPodSpec:
        mainContainer:
          image: nvcr.io/nvidia/ai-dynamo/sglang-runtime:0.4.1
          command: [python3, -m, dynamo.frontend]
          args: ["--router-mode", "round-robin", "--http-port", "8000"]
    decode:
      dynamoNamespace: sglang-agg
      envFromSecret: hf-token-secret
      componentType: worker
      replicas: 2
      resources:
        limits:
          gpu: "2"
        requests:
          cpu: "10"
          memory: 40Gi
      extraPodSpec:
        mainContainer:
          image: nvcr.io/nvidia/ai-dynamo/sglang-runtime:0.4.1
          workingDir: /workspace/components/backends/sglang
          command: [python3, -m, dynamo.sglang]
          args:
            - --model-path
            - Qwen/Qwen3-32B
            - --served-model-name
            - Qwen/Qwen3-32B
            - --page-size
            - "16"
            - --tp
            - "2"
            - --trust-remote-code
            - --skip-tokenizer-init
            - --max-running-requests
            - "96"
            - --chunked-prefill-size
            - "4096"
            - --mem-fraction-static
            - "0.85"
"#;

const WORKLOAD_ONLY: &str = "\
kind: Scenario
workload: {kind: closed_loop, concurrency: 32, isl: 2000, osl: 200}
";

fn strings(sets: &[&str]) -> Vec<String> {
    sets.iter().map(|s| s.to_string()).collect()
}

fn load_strs(docs: &[(&str, &str)], sets: &[&str]) -> Result<Scenario, ScenarioError> {
    load_from_strs(docs, Path::new("/nonexistent-pdsim-base"), &strings(sets))
}

fn full() -> String {
    format!("{SCENARIO}---\n{DGDR}")
}

fn err(docs: &[(&str, &str)], sets: &[&str]) -> String {
    match load_strs(docs, sets) {
        Ok(s) => panic!("expected an error, got {s:?}"),
        Err(e) => e.to_string(),
    }
}

/// 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect("needle in text") + 1
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pdsim-scenario-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Every pool at its default.
struct Pools {
    prefill: PrefillPoolConfig,
    decode: DecodePoolConfig,
    kv_transfer: KvTransferConfig,
    aggregated: AggregatedPoolConfig,
}

impl Pools {
    fn defaults() -> Pools {
        let (prefill, decode, aggregated, kv_transfer) = crate::spec::deployment::default_pools();
        Pools { prefill, decode, kv_transfer, aggregated }
    }
}

/// Every pool's settings, whether the scenario's mode runs it or not.
fn prefill(s: &Scenario) -> &PrefillPoolConfig {
    s.topology(Mode::Disaggregated).prefill().expect("a disaggregated layout")
}

fn decode(s: &Scenario) -> &DecodePoolConfig {
    s.topology(Mode::Disaggregated).decode().expect("a disaggregated layout")
}

fn kv_transfer(s: &Scenario) -> &KvTransferConfig {
    s.topology(Mode::Disaggregated).kv_transfer().expect("a disaggregated layout")
}

fn aggregated(s: &Scenario) -> &AggregatedPoolConfig {
    s.topology(Mode::Aggregated).aggregated().expect("an aggregated layout")
}

#[test]
fn full_scenario_resolves_to_the_expected_cluster() {
    let text = full();
    let s = load_strs(&[("scenarios/x.yaml", &text)], &[]).unwrap();
    assert_eq!(s.name, "llama70b-chat");
    assert_eq!(s.sources, vec![PathBuf::from("scenarios/x.yaml")]);
    assert_eq!(s.model.name, "Llama-3.1-70B", "the Scenario's model wins over spec.model");
    assert_eq!(s.hardware.name, "h100-sxm");
    assert_eq!(s.weights_dtype, crate::spec::model::Dtype::Bf16);
    assert_eq!(s.kv_dtype, crate::spec::model::Dtype::Fp8);
    let d = ClusterConfig::dynamo_defaults(Mode::Disaggregated);
    let pools = Pools::defaults();
    assert_eq!(
        s.cluster,
        ClusterConfig {
            frontend: FrontendConfig { max_concurrent_requests: 2048, request_timeout_ns: 60_000_000_000 },
            router: RouterPolicy::LeastLoaded,
            prefix_cache: PrefixCacheCapacity::Off,
            topology: Topology::Disaggregated {
                prefill: PrefillPoolConfig {
                    parallelism: Parallelism::tp(4),
                    max_batch_size: 32,
                    max_input_length: 32768,
                    ..pools.prefill
                },
                decode: DecodePoolConfig {
                    replicas: 3,
                    parallelism: Parallelism::tp(4),
                    max_batch_size: 256,
                    max_output_length: 4096,
                    kv_cache_memory_fraction: 0.92,
                    ..pools.decode
                },
                kv_transfer: KvTransferConfig {
                    backend: KvBackend::Nccl,
                    max_in_flight_transfers: 64,
                    ..pools.kv_transfer
                },
            },
            ..d
        }
    );
    // the aggregated pool takes the decode component's settings
    assert_eq!(
        s.other_topology,
        Topology::Aggregated(AggregatedPoolConfig {
            replicas: 3,
            parallelism: Parallelism::tp(4),
            max_batch_size: 256,
            max_output_length: 4096,
            kv_cache_memory_fraction: 0.92,
            ..pools.aggregated
        })
    );
    assert_eq!(
        s.workload,
        WorkloadSpec::Synthetic {
            arrival: Arrival::Poisson { rate_per_s: 5.0 },
            isl: LengthDist::LogNormal {
                mean: 1000.0,
                sigma: 0.8,
                min: 1,
                max: crate::workload::DEFAULT_LOGNORMAL_MAX
            },
            osl: LengthDist::Uniform { min: 64, max: 512 },
        }
    );
    assert_eq!(s.limits, RunLimits { requests: Some(2000), duration_ns: Some(600_000_000_000) });
    assert_eq!(s.seed, 7);
    assert_eq!(s.usd_per_gpu_hour, 2.5);
}

/// A deployment that sets nothing but its model and two pools.
const EMPTY_DGDR: &str =
    "kind: DynamoGraphDeploymentRequest\nspec: {model: llama-3.1-8b, components: {prefill: {}, decode: {}}}\n";

#[test]
fn defaults() {
    let dgdr = EMPTY_DGDR;
    let sc = "kind: Scenario\nworkload: {rate: 2, isl: 100, osl: 10}\n";
    let s = load_strs(&[("dir/base.yaml", sc), ("dep.yaml", dgdr)], &[]).unwrap();
    assert_eq!(s.name, "base");
    assert_eq!(s.model.name, "Llama-3.1-8B");
    assert_eq!(s.seed, 42);
    assert_eq!(s.limits, RunLimits::default());
    assert_eq!(Some(s.usd_per_gpu_hour), s.hardware.usd_per_gpu_hour_default);
    // The deployment the tests build from is what an empty one resolves to.
    assert_eq!(s.cluster, ClusterConfig::dynamo_defaults(Mode::Disaggregated));
    assert_eq!(s.other_topology, Topology::dynamo_defaults(Mode::Aggregated));
    let agg = "kind: DynamoGraphDeploymentRequest\nspec: {model: llama-3.1-8b, components: {decode: {}}}\n";
    let a = load_strs(&[("dir/base.yaml", sc), ("dep.yaml", agg)], &[]).unwrap();
    assert_eq!(a.cluster, ClusterConfig::dynamo_defaults(Mode::Aggregated));
    assert_eq!(a.other_topology, Topology::dynamo_defaults(Mode::Disaggregated));
    // and one with no components at all
    let empty = "kind: DynamoGraphDeploymentRequest\nspec: {model: llama-3.1-8b}\n";
    let e = load_strs(&[("dir/base.yaml", sc), ("dep.yaml", empty)], &[]).unwrap();
    assert_eq!(e.cluster, ClusterConfig::dynamo_defaults(Mode::Aggregated));
    assert_eq!(
        s.workload,
        WorkloadSpec::Synthetic {
            arrival: Arrival::Poisson { rate_per_s: 2.0 },
            isl: LengthDist::Fixed(100),
            osl: LengthDist::Fixed(10),
        }
    );
}

#[test]
fn multi_file_merge() {
    let s = load_strs(&[("a/chat.yaml", SCENARIO), ("b/deploy.yaml", DGDR)], &[]).unwrap();
    assert_eq!(s.sources, vec![PathBuf::from("a/chat.yaml"), PathBuf::from("b/deploy.yaml")]);
    assert_eq!(decode(&s).replicas, 3);
    assert_eq!(s.model.name, "Llama-3.1-70B");
    // Without a model in the Scenario document, the deployment's is used; without a name, the Scenario
    // document's file stem.
    let sc = SCENARIO.replace("model: llama-3.1-70b\n", "").replace("name: llama70b-chat\n", "");
    let s = load_strs(&[("b/deploy.yaml", DGDR), ("a/chat.yaml", &sc)], &[]).unwrap();
    assert_eq!(s.model.name, "Llama-3.1-8B");
    assert_eq!(s.name, "chat");
    // Empty documents and comments between documents are fine.
    let text = format!("# header\n---\n{SCENARIO}---\n# nothing\n---\n{DGDR}...\n");
    assert!(load_strs(&[("x.yaml", &text)], &[]).is_ok());
}

#[test]
fn every_set_key_applies() {
    let dir = temp_dir("set");
    let trace = dir.join("t.csv");
    std::fs::write(&trace, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.0,10,5\n").unwrap();
    let trace_arg = format!("workload.trace={}", trace.display());
    type Check = fn(&Scenario) -> bool;
    let cases: Vec<(Vec<&str>, Check)> = vec![
        (vec!["model=llama-3.1-8b"], |s| s.model.name == "Llama-3.1-8B"),
        (vec!["hardware=H100"], |s| s.hardware.name == "h100-sxm"),
        (vec!["backend=vllm"], |s| s.cluster.backend == Backend::Vllm),
        (vec!["mode=aggregated"], |s| s.cluster.mode() == Mode::Aggregated),
        (vec!["weights_dtype=fp8"], |s| s.weights_dtype == crate::spec::model::Dtype::Fp8),
        (vec!["kv_dtype=bf16"], |s| s.kv_dtype == crate::spec::model::Dtype::Bf16),
        (vec!["prefill.replicas=2"], |s| prefill(s).replicas == 2),
        (vec!["prefill.tp=8"], |s| prefill(s).parallelism.tp == 8),
        (vec!["prefill.maxBatchSize=16"], |s| prefill(s).max_batch_size == 16),
        (vec!["prefill.maxBatchTokens=8192"], |s| prefill(s).max_batch_tokens == 8192),
        (vec!["prefill.maxInputLength=4096"], |s| prefill(s).max_input_length == 4096),
        (vec!["decode.replicas=5"], |s| decode(s).replicas == 5),
        (vec!["decode.tp=8"], |s| decode(s).parallelism.tp == 8),
        (vec!["decode.maxBatchSize=128"], |s| decode(s).max_batch_size == 128),
        (vec!["decode.maxOutputLength=2048"], |s| decode(s).max_output_length == 2048),
        (vec!["decode.kvCacheMemoryFraction=0.85"], |s| decode(s).kv_cache_memory_fraction == 0.85),
        (vec!["mode=aggregated", "aggregated.replicas=2"], |s| aggregated(s).replicas == 2),
        (vec!["mode=aggregated", "aggregated.tp=8"], |s| aggregated(s).parallelism.tp == 8),
        (vec!["aggregated.maxBatchSize=32"], |s| aggregated(s).max_batch_size == 32),
        (vec!["aggregated.maxBatchTokens=4096"], |s| aggregated(s).max_batch_tokens == 4096),
        (vec!["aggregated.kvCacheMemoryFraction=0.9"], |s| aggregated(s).kv_cache_memory_fraction == 0.9),
        (vec!["kvTransfer.backend=nixl"], |s| kv_transfer(s).backend == KvBackend::Nixl),
        (vec!["mode=aggregated", "kvTransfer.compression=lz4"], |s| kv_transfer(s).compression == Compression::Lz4),
        (vec!["kvTransfer.maxInFlightTransfers=8"], |s| kv_transfer(s).max_in_flight_transfers == 8),
        (vec!["kvTransfer.blockSizeKB=256"], |s| s.cluster.kv_block_size_bytes == 262_144),
        (vec!["router.policy=round-robin"], |s| s.cluster.router == RouterPolicy::RoundRobin),
        (vec!["prefixCache.capacity=off"], |s| s.cluster.prefix_cache == PrefixCacheCapacity::Off),
        (vec!["prefixCache.capacity=unbounded"], |s| s.cluster.prefix_cache == PrefixCacheCapacity::Unbounded),
        (vec!["prefixCache.capacity=5000"], |s| s.cluster.prefix_cache == PrefixCacheCapacity::Blocks(5000)),
        (vec!["router.policy=kv_aware"], |s| s.cluster.router == RouterPolicy::KvAware),
        (vec!["router.overlapWeight=2.5"], |s| s.cluster.kv_router.overlap_weight == 2.5),
        (vec!["router.temperature=0.5"], |s| s.cluster.kv_router.temperature == 0.5),
        (vec!["router.maxLocalPrefillLength=1000"], |s| s.cluster.kv_router.max_local_prefill_tok == 1000),
        (vec!["autoscaler.enabled=false"], |_| true),
        (vec!["workload.kind=offline"], |s| {
            matches!(&s.workload, WorkloadSpec::Synthetic { arrival: Arrival::Offline, .. })
        }),
        (
            vec!["workload.rate=9"],
            |s| matches!(&s.workload, WorkloadSpec::Synthetic { arrival: Arrival::Poisson { rate_per_s }, .. } if *rate_per_s == 9.0),
        ),
        (vec!["workload.kind=gamma", "workload.cv=2.5"], |s| {
            matches!(&s.workload, WorkloadSpec::Synthetic { arrival: Arrival::Gamma { rate_per_s, cv }, .. }
                if *rate_per_s == 5.0 && *cv == 2.5)
        }),
        (vec!["workload.kind=closed_loop", "workload.concurrency=64"], |s| {
            matches!(
                &s.workload,
                WorkloadSpec::Synthetic { arrival: Arrival::ClosedLoop { concurrency: 64, ramp_up_ns: 0 }, .. }
            )
        }),
        (vec!["mode=aggregated", "aggregated.enableChunkedContext=true"], |s| {
            s.cluster.topology.aggregated().is_some_and(|a| a.enable_chunked_context)
        }),
        (vec!["prefill.tp=4", "prefill.moeEp=4"], |s| {
            prefill(s).parallelism == Parallelism::expert_parallel(4, 4).unwrap()
        }),
        (vec!["prefill.tp=4", "prefill.moeTp=2"], |s| {
            prefill(s).parallelism == Parallelism::expert_parallel(4, 2).unwrap()
        }),
        (vec!["decode.tp=8", "decode.moeEp=8"], |s| {
            decode(s).parallelism == Parallelism::expert_parallel(8, 8).unwrap()
        }),
        (vec!["decode.tp=8", "decode.moeTp=4"], |s| decode(s).parallelism.moe_ep == 2),
        // the aggregated workers take the decode component's layout unless they have their own
        (vec!["mode=aggregated", "decode.tp=4", "decode.moeEp=4"], |s| aggregated(s).parallelism.moe_ep == 4),
        (vec!["mode=aggregated", "aggregated.tp=4", "aggregated.moeEp=2"], |s| aggregated(s).parallelism.moe_tp == 2),
        (vec!["mode=aggregated", "aggregated.tp=4", "aggregated.moeTp=1"], |s| aggregated(s).parallelism.moe_ep == 4),
        (vec!["expertLoad=balanced"], |s| s.cluster.expert_load == crate::spec::model::ExpertLoad::Balanced),
        (vec!["backendVersion=1.2.0rc6"], |s| {
            s.cluster.backend_version == Some(crate::spec::deployment::EngineVersion::new(1, 2, 0))
        }),
        (vec!["decode.disableOverlapScheduler=true"], |s| {
            s.cluster.topology.decode().is_some_and(|d| d.disable_overlap_scheduler)
        }),
        // the aggregated workers take the decode component's setting unless they have their own
        (vec!["mode=aggregated", "decode.disableOverlapScheduler=true"], |s| {
            s.cluster.topology.aggregated().is_some_and(|a| a.disable_overlap_scheduler)
        }),
        (
            vec!["mode=aggregated", "decode.disableOverlapScheduler=true", "aggregated.disableOverlapScheduler=false"],
            |s| s.cluster.topology.aggregated().is_some_and(|a| !a.disable_overlap_scheduler),
        ),
        (vec!["workload.kind=closed_loop", "workload.concurrency=64", "workload.rampUp=30s"], |s| {
            matches!(
                &s.workload,
                WorkloadSpec::Synthetic {
                    arrival: Arrival::ClosedLoop { concurrency: 64, ramp_up_ns: 30_000_000_000 },
                    ..
                }
            )
        }),
        (vec!["workload.isl=2048"], |s| {
            matches!(&s.workload, WorkloadSpec::Synthetic { isl: LengthDist::Fixed(2048), .. })
        }),
        (vec!["workload.osl=uniform:1-10"], |s| {
            matches!(&s.workload, WorkloadSpec::Synthetic { osl: LengthDist::Uniform { min: 1, max: 10 }, .. })
        }),
        (vec!["workload.kind=trace", "TRACE", "workload.speedup=2"], |s| {
            matches!(&s.workload, WorkloadSpec::Trace { format: TraceFormat::AzureCsv, options, path }
                if options.speedup == 2.0 && path.ends_with("t.csv"))
        }),
        (
            vec![
                "workload.kind=trace",
                "TRACE",
                "workload.format=burstgpt",
                "workload.start=10m",
                "workload.duration=30s",
                "workload.sample=0.5",
                "workload.skip_bad_lines=true",
                "workload.trace_model=ChatGPT",
            ],
            |s| {
                s.workload
                    == WorkloadSpec::Trace {
                        path: match &s.workload {
                            WorkloadSpec::Trace { path, .. } => path.clone(),
                            _ => return false,
                        },
                        format: TraceFormat::BurstGptCsv,
                        options: crate::spec::workload::TraceOptions {
                            speedup: 1.0,
                            rate: None,
                            start_ns: 600_000_000_000,
                            duration_ns: Some(30_000_000_000),
                            sample: 0.5,
                            skip_bad_lines: true,
                            model: Some("ChatGPT".into()),
                        },
                    }
            },
        ),
        // The file's `rate: 5` (poisson) is not a trace rescale; a --set one is.
        (
            vec!["workload.kind=trace", "TRACE"],
            |s| matches!(&s.workload, WorkloadSpec::Trace { options, .. } if options.rate.is_none()),
        ),
        (
            vec!["workload.kind=trace", "TRACE", "workload.rate=20"],
            |s| matches!(&s.workload, WorkloadSpec::Trace { options, .. } if options.rate == Some(20.0)),
        ),
        // The file's explicit isl/osl win over a preset's.
        (vec!["workload.preset=code"], |s| {
            matches!(&s.workload, WorkloadSpec::Synthetic { isl: LengthDist::LogNormal { .. }, .. })
        }),
        (vec!["workload.kind=diurnal", "workload.amplitude=0.3", "workload.period=1h", "workload.phase=1"], |s| {
            matches!(&s.workload, WorkloadSpec::Synthetic { arrival: Arrival::Diurnal { rate_per_s, amplitude, period_s, phase_rad }, .. }
                if *rate_per_s == 5.0 && *amplitude == 0.3 && *period_s == 3600.0 && *phase_rad == 1.0)
        }),
        (vec!["workload.kind=step", "workload.profile=0:1,10s:2"], |s| {
            matches!(&s.workload, WorkloadSpec::Synthetic { arrival: Arrival::Step { points }, .. }
                if points == &[(0.0, 1.0), (10.0, 2.0)])
        }),
        (
            vec!["workload.system_prompts=4", "workload.system_prompt_tok=1024", "workload.system_prompt_zipf=1.1"],
            |s| {
                matches!(&s.workload, WorkloadSpec::SyntheticPrefix { prefix, .. }
                if prefix.system_prompts == 4 && prefix.system_prompt_tok == 1024 && prefix.system_prompt_zipf == 1.1)
            },
        ),
        (vec!["workload.sessions.turns=3", "workload.sessions.think_time=10s"], |s| {
            matches!(&s.workload, WorkloadSpec::SyntheticPrefix { prefix, .. }
                if prefix.sessions.is_some_and(|x| x.mean_turns == 3.0 && x.think_time_s == 10.0))
        }),
        (vec!["requests=100"], |s| s.limits.requests == Some(100)),
        (vec!["requests=none", "duration=90s"], |s| {
            s.limits == RunLimits { requests: None, duration_ns: Some(90_000_000_000) }
        }),
        (vec!["seed=1"], |s| s.seed == 1),
        (vec!["pricing.usd_per_gpu_hour=4"], |s| s.usd_per_gpu_hour == 4.0),
        (
            vec![
                "autoscaler.enabled=true",
                "autoscaler.policy=planner",
                "autoscaler.predictor=linear",
                "autoscaler.scrapeInterval=10s",
                "autoscaler.window=45s",
                "autoscaler.autoMatchPrefill=true",
                "autoscaler.sla.ttftP99Ms=500",
                "autoscaler.sla.tpotP99Ms=30",
                "autoscaler.sla.requestTimeoutMs=9000",
                "autoscaler.coldStart.storageBandwidthGBps=2",
                "autoscaler.coldStart.containerStartSeconds=30",
                "autoscaler.prefill.minReplicas=1",
                "autoscaler.prefill.maxReplicas=4",
                "autoscaler.prefill.up.queueDepth=10",
                "autoscaler.prefill.up.ttftP99Ms=400",
                "autoscaler.prefill.up.batchUtilization=0.9",
                "autoscaler.prefill.up.tpotP99Ms=40",
                "autoscaler.prefill.down.gpuUtilization=0.3",
                "autoscaler.prefill.down.batchUtilization=0.2",
                "autoscaler.prefill.down.cooldownSeconds=300",
                "autoscaler.decode.minReplicas=2",
                "autoscaler.decode.maxReplicas=8",
                "autoscaler.decode.up.queueDepth=5",
                "autoscaler.decode.up.ttftP99Ms=900",
                "autoscaler.decode.up.batchUtilization=0.8",
                "autoscaler.decode.up.tpotP99Ms=25",
                "autoscaler.decode.down.gpuUtilization=0.25",
                "autoscaler.decode.down.batchUtilization=0.3",
                "autoscaler.decode.down.cooldownSeconds=600",
            ],
            |s| {
                use crate::spec::autoscaler::*;
                let Some(a) = &s.autoscaler else { return false };
                let p = a.prefill.as_ref().unwrap();
                let d = a.decode.as_ref().unwrap();
                a.policy == Policy::Planner(Predictor::Linear)
                    && a.scrape_interval_ns == 10_000_000_000
                    && a.window_ns == 45_000_000_000
                    && a.auto_match_prefill
                    && a.ttft_p99_ms == Some(500.0)
                    && a.tpot_p99_ms == Some(30.0)
                    && s.cluster.frontend.request_timeout_ns == 60_000_000_000
                    && a.cold_start == ColdStart { storage_bytes_per_s: 2e9, container_start_ns: 30_000_000_000 }
                    && (p.min_replicas, p.max_replicas) == (1, 4)
                    && p.up
                        == ScaleUp {
                            queue_depth: Some(10.0),
                            ttft_p99_ms: Some(400.0),
                            tpot_p99_ms: Some(40.0),
                            batch_utilization: Some(0.9),
                        }
                    && p.down
                        == ScaleDown {
                            gpu_utilization: Some(0.3),
                            batch_utilization: Some(0.2),
                            cooldown_ns: 300_000_000_000,
                        }
                    && (d.min_replicas, d.max_replicas) == (2, 8)
                    && d.up.queue_depth == Some(5.0)
                    && d.up.ttft_p99_ms == Some(900.0)
                    && d.up.batch_utilization == Some(0.8)
                    && d.up.tpot_p99_ms == Some(25.0)
                    && d.down.gpu_utilization == Some(0.25)
                    && d.down.batch_utilization == Some(0.3)
                    && d.down.cooldown_ns == 600_000_000_000
            },
        ),
    ];
    let text = full();
    let mut covered = std::collections::BTreeSet::new();
    for (args, check) in &cases {
        let args: Vec<String> =
            args.iter().map(|a| if *a == "TRACE" { trace_arg.clone() } else { a.to_string() }).collect();
        for a in &args {
            covered.insert(a.split('=').next().unwrap().to_string());
        }
        let s = load_from_strs(&[("x.yaml", &text)], Path::new("."), &args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert!(check(&s), "{args:?} did not apply: {s:#?}");
    }
    for k in set_keys() {
        assert!(covered.contains(k), "--set {k} is not tested");
    }
    // Later --set arguments win.
    let s = load_strs(&[("x.yaml", &text)], &["seed=1", "seed=2"]).unwrap();
    assert_eq!(s.seed, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_set_arguments() {
    let text = full();
    let docs = [("x.yaml", text.as_str())];
    let e = err(&docs, &["decode.replica=2"]);
    assert!(
        e.starts_with("--set decode.replica=2: unknown key `decode.replica`: expected one of model, hardware"),
        "{e}"
    );
    assert!(e.contains("decode.replicas"), "{e}");
    assert!(e.ends_with("; did you mean `decode.replicas`?"), "{e}");
    // A key read only from the files is named as such.
    let e = err(&docs, &["frontend.maxConcurrentRequests=5"]);
    assert!(
        e.starts_with(
            "--set frontend.maxConcurrentRequests=5: unknown key `frontend.maxConcurrentRequests` (it is read only \
             from a scenario file): expected one of model,"
        ),
        "{e}"
    );
    let e = err(&docs, &["seed"]);
    assert_eq!(e, "--set seed: expected KEY=VALUE (e.g. decode.replicas=4)");
    let e = err(&docs, &["prefill.tp=3"]);
    assert_eq!(
        e,
        "--set prefill.tp=3: prefill.tp: expected a power of two from 1 to 8 (a TP group must fit in one 8-GPU \
         NVLink node), got 3"
    );
    let e = err(&docs, &["prefill.tp=4", "prefill.moeEp=3"]);
    assert_eq!(
        e,
        "--set prefill.moeEp=3: prefill.moeEp: expected a divisor of the pool's TP (4), as MoE TP x EP = TP; got 3"
    );
    let e = err(&docs, &["decode.tp=4", "decode.moeEp=4", "decode.moeTp=2"]);
    assert_eq!(
        e,
        "--set decode.moeTp=2: decode.moeTp: 2 x decode.moeEp 4 is 8 GPUs, the pool has 4: expected MoE TP x EP = TP"
    );
    let e = err(&docs, &["expertLoad=zipf"]);
    assert!(e.contains("expected balanced, power_law_1.01 or power_law_1.2, got zipf"), "{e}");
    let e = err(&docs, &["kv_dtype=fp8_block"]);
    assert!(e.ends_with("expected bf16 or fp8, got fp8_block"), "{e}");
    let e = err(&docs, &["decode.kvCacheMemoryFraction=1.5"]);
    assert_eq!(
        e,
        "--set decode.kvCacheMemoryFraction=1.5: decode.kvCacheMemoryFraction: expected a fraction in (0, 1], got 1.5"
    );
    let e = err(&docs, &["workload.isl=uniform:9-3"]);
    assert!(e.starts_with("--set workload.isl=uniform:9-3: workload.isl: uniform length: expected min <= max"), "{e}");
    let e = err(&docs, &["model=Qwen/Qwen3-0.6B"]);
    assert!(
        e.starts_with("--set model=Qwen/Qwen3-0.6B: model: unknown model 'Qwen/Qwen3-0.6B': expected one of"),
        "{e}"
    );
    let e = err(&docs, &["backend=tgi"]);
    assert_eq!(e, "--set backend=tgi: backend: expected one of trtllm, vllm, sglang, got tgi");
    let e = err(&docs, &["duration=soon"]);
    assert!(e.starts_with("--set duration=soon: duration: expected a duration > 0"), "{e}");
    let e = err(&docs, &["router.policy=random"]);
    assert!(e.contains("router.policy: expected one of round_robin, least_loaded, kv_aware"), "{e}");
    let e = err(&docs, &["prefixCache.capacity=lots"]);
    assert!(e.contains("prefixCache.capacity: expected auto, unbounded, off or a positive block count"), "{e}");
    let e = err(&docs, &["router.temperature=-1"]);
    assert!(e.contains("router.temperature"), "{e}");
    let e = err(&docs, &["autoscaler.enabled=true"]);
    assert!(
        e.contains("autoscaler.enabled: the autoscaler is enabled but the scenario has no `kind: DynamoAutoscaler`"),
        "{e}"
    );
    let e = err(&docs, &["autoscaler.enabled=true", "autoscaler.decode.minReplicas=5"]);
    assert!(
        e.contains("autoscaler.decode.minReplicas: the deployment starts with 3 decode replicas, outside [5, 5]"),
        "{e}"
    );
    let e = err(&docs, &["autoscaler.enabled=true", "autoscaler.decode.maxReplicas=4", "autoscaler.policy=planner"]);
    assert!(e.contains("the planner policy sizes pools to meet the SLA"), "{e}");
    let e = err(&docs, &["autoscaler.enabled=true", "autoscaler.decode.up.batchUtilization=1.5"]);
    assert!(e.contains("autoscaler.decode.up.batchUtilization: expected a fraction in (0, 1], got 1.5"), "{e}");
    // A key the workload kind does not use.
    let e = err(&docs, &["workload.concurrency=4"]);
    assert!(e.contains("workload.concurrency: not used by workload kind poisson"), "{e}");
}

#[test]
fn yaml_syntax_error_has_file_and_line() {
    let text = "kind: Scenario\nworkload: {kind: poisson, rate: 5\nseed: 1\n";
    let e = err(&[("scenarios/bad.yaml", text), ("d.yaml", DGDR)], &[]);
    assert!(e.starts_with("scenarios/bad.yaml:"), "{e}");
    let line: usize = e.split(':').nth(1).unwrap().parse().unwrap();
    assert!((2..=4).contains(&line), "{e}");
    let text = format!("{DGDR}---\nkind: Scenario\n  workload: x\n bad\n");
    let e = err(&[("s.yaml", &text)], &[]);
    assert!(e.starts_with(&format!("s.yaml:{}:", line_of(&text, "  workload: x"))), "{e}");
}

#[test]
fn unknown_field_names_path_and_line() {
    let text = full().replace("        maxBatchSize: 256\n", "        maxBatchSize: 256\n        maxBatchSzie: 4\n");
    let e = err(&[("scenarios/x.yaml", &text)], &[]);
    let line = line_of(&text, "maxBatchSzie");
    assert!(
        e.starts_with(&format!(
            "scenarios/x.yaml:{line}:9: spec.components.decode.config.maxBatchSzie: unknown field `maxBatchSzie`"
        )),
        "{e}"
    );
    // In the Scenario document too, and in a second file (lines count from that file).
    let sc = SCENARIO.replace("seed: 7", "sed: 7");
    let e = err(&[("d.yaml", DGDR), ("s.yaml", &sc)], &[]);
    assert!(e.starts_with(&format!("s.yaml:{}:1: sed: unknown field `sed`", line_of(&sc, "sed: 7"))), "{e}");
    // A component pdsim does not know.
    let text = full().replace("    kvTransfer:\n", "    planner:\n      replicas: 1\n    kvTransfer:\n");
    let e = err(&[("x.yaml", &text)], &[]);
    assert!(e.contains(": spec.components.planner: unknown field `planner`"), "{e}");
}

#[test]
fn wrong_types() {
    let text = full().replace("      replicas: 3\n", "      replicas: [3]\n");
    let e = err(&[("x.yaml", &text)], &[]);
    let line = line_of(&text, "replicas: [3]");
    assert!(e.starts_with(&format!("x.yaml:{line}:")), "{e}");
    assert!(e.contains("spec.components.decode.replicas: invalid type: sequence, expected a scalar"), "{e}");
    let text = full().replace("maxBatchSize: 32", "maxBatchSize: lots");
    let e = err(&[("x.yaml", &text)], &[]);
    assert_eq!(
        e,
        format!(
            "x.yaml:{}:23: spec.components.prefill.config.maxBatchSize: expected a positive integer, got lots",
            line_of(&text, "maxBatchSize: lots")
        )
    );
    let text = full().replace("  rate: 5\n", "  rate: {a: 1}\n");
    let e = err(&[("x.yaml", &text)], &[]);
    assert!(e.contains(&format!("x.yaml:{}:", line_of(&text, "rate: {a"))), "{e}");
    assert!(e.contains("workload.rate: invalid type: map"), "{e}");
}

#[test]
fn negative_and_zero_sizes() {
    let cases: &[(&str, &str, &str)] = &[
        ("maxBatchSize: 256", "maxBatchSize: -4", "spec.components.decode.config.maxBatchSize: expected a positive integer, got -4"),
        ("      replicas: 3\n", "      replicas: 0\n", "spec.components.decode.replicas: expected a positive integer, got 0 (the decode pool is in use in disaggregated mode)"),
        ("maxBatchTokens: 16384", "maxBatchTokens: 0", "spec.components.prefill.config.maxBatchTokens: expected a positive integer, got 0"),
        ("maxInputLength: 32768", "maxInputLength: 0", "spec.components.prefill.config.maxInputLength: expected a positive integer, got 0"),
        ("kvCacheMemoryFraction: 0.92", "kvCacheMemoryFraction: 0", "spec.components.decode.config.kvCacheMemoryFraction: expected a fraction in (0, 1], got 0"),
        ("requestTimeoutMs: 60000", "requestTimeoutMs: 0", "spec.components.frontend.config.requestTimeoutMs: expected a positive integer, got 0"),
        ("maxConcurrentRequests: 2048", "maxConcurrentRequests: -1", "maxConcurrentRequests: expected a positive integer, got -1"),
        ("maxInFlightTransfers: 64", "maxInFlightTransfers: 0", "kvTransfer.maxInFlightTransfers: expected a positive integer, got 0"),
        ("tensorParallelSize: 4\n        maxBatchSize: 32", "tensorParallelSize: 6\n        maxBatchSize: 32", "spec.components.prefill.config.tensorParallelSize: 6 disagrees with spec.components.prefill.resources.gpu = 4"),
        ("  rate: 5", "  rate: 0", "workload.rate: expected a number > 0, got 0"),
        ("requests: 2000", "requests: -5", "requests: expected a positive integer, got -5"),
        ("duration: 10m", "duration: 0s", "duration: expected a duration > 0"),
        ("sigma=0.8", "sigma=-1", "workload.isl: lognormal length: expected sigma >= 0, got -1"),
        ("mean=1000", "mean=0", "workload.isl: lognormal length: expected mean > 0, got 0"),
        ("min: 64, max: 512", "min: 600, max: 512", "workload.osl: uniform length: expected min <= max"),
        ("usd_per_gpu_hour: 2.5", "usd_per_gpu_hour: -1", "pricing.usd_per_gpu_hour: expected a number >= 0, got -1"),
    ];
    for (from, to, want) in cases {
        let text = full().replacen(from, to, 1);
        assert_ne!(text, full(), "{from}");
        let e = err(&[("x.yaml", &text)], &[]);
        let line = line_of(&text, to.lines().next().unwrap());
        assert!(e.starts_with(&format!("x.yaml:{line}:")), "{to}: {e}");
        assert!(e.contains(want), "{to}: {e}");
    }
    // tp from resources.gpu alone, and a tp that is not a power of two.
    let text = full().replace("        tensorParallelSize: 4\n        maxBatchSize: 256", "        maxBatchSize: 256");
    let s = load_strs(&[("x.yaml", &text)], &[]).unwrap();
    assert_eq!(decode(&s).parallelism.tp, 4);
    let text = text.replace(
        "      resources:\n        gpu: 4\n      config:\n        maxBatchSize: 256",
        "      resources:\n        gpu: 12\n      config:\n        maxBatchSize: 256",
    );
    let e = err(&[("x.yaml", &text)], &[]);
    assert!(e.contains("spec.components.decode.resources.gpu: expected a power of two from 1 to 8"), "{e}");
    // Closed loop and trace checks.
    let sc = "kind: Scenario\nworkload: {kind: closed_loop, concurrency: 0, isl: 10, osl: 10}\n";
    let e = err(&[("s.yaml", sc), ("d.yaml", DGDR)], &[]);
    assert!(
        e.starts_with("s.yaml:2:") && e.contains("workload.concurrency: expected a positive integer, got 0"),
        "{e}"
    );
    let sc = "kind: Scenario\nworkload: {kind: closed_loop, isl: 10, osl: 10}\n";
    let e = err(&[("s.yaml", sc), ("d.yaml", DGDR)], &[]);
    assert_eq!(
        e,
        "s.yaml:2:11: workload.concurrency: missing; workload kind closed_loop needs it (e.g. concurrency: 64)"
    );
    let sc = "kind: Scenario\nworkload: {kind: trace, trace: nope.csv, speedup: 0}\n";
    let e = err(&[("s.yaml", sc), ("d.yaml", DGDR)], &[]);
    assert!(e.contains("workload.trace: no such file: /nonexistent-pdsim-base/nope.csv"), "{e}");
}

#[test]
fn length_mappings() {
    let sc = "kind: Scenario\nworkload:\n  rate: 1\n  isl: {dist: fixed, value: 128}\n  osl: {dist: lognormal, mean: 300, sigma: 0.5, max: 4096}\n";
    let s = load_strs(&[("s.yaml", sc), ("d.yaml", DGDR)], &[]).unwrap();
    assert_eq!(
        s.workload,
        WorkloadSpec::Synthetic {
            arrival: Arrival::Poisson { rate_per_s: 1.0 },
            isl: LengthDist::Fixed(128),
            osl: LengthDist::LogNormal { mean: 300.0, sigma: 0.5, min: 1, max: 4096 },
        }
    );
    let bad = sc.replace("value: 128", "min: 128");
    let e = err(&[("s.yaml", &bad), ("d.yaml", DGDR)], &[]);
    assert!(e.starts_with("s.yaml:4:") && e.contains("workload.isl.min: not used by dist fixed"), "{e}");
    let bad = sc.replace("dist: fixed", "dist: zipf");
    let e = err(&[("s.yaml", &bad), ("d.yaml", DGDR)], &[]);
    assert!(e.contains("workload.isl.dist: expected fixed, uniform or lognormal, got zipf"), "{e}");
    let bad = sc.replace("value: 128", "value: 128, step: 2");
    let e = err(&[("s.yaml", &bad), ("d.yaml", DGDR)], &[]);
    assert!(e.contains("unknown field `step`"), "{e}");
}

#[test]
fn vllm_disaggregated_manifest() {
    let s = load_strs(&[("dgd.yaml", VLLM_DISAGG_DGD), ("s.yaml", WORKLOAD_ONLY)], &[]).unwrap();
    let c = &s.cluster;
    assert_eq!(s.model.name, "Llama-3.1-70B");
    assert_eq!((c.mode(), c.backend), (Mode::Disaggregated, Backend::Vllm));
    assert_eq!((prefill(&s).replicas, prefill(&s).parallelism.tp, prefill(&s).max_batch_tokens), (1, 4, 8192));
    let d = Pools::defaults();
    assert_eq!(
        *decode(&s),
        DecodePoolConfig {
            replicas: 2,
            parallelism: Parallelism::tp(4),
            max_batch_size: 128,
            kv_cache_memory_fraction: 0.9,
            ..d.decode
        }
    );
    assert_eq!(kv_transfer(&s).backend, KvBackend::Tcp);
    assert_eq!(s.name, "s");
    // --set still applies; a bad value taken from the command line points at its argument.
    let s = load_strs(&[("dgd.yaml", VLLM_DISAGG_DGD), ("s.yaml", WORKLOAD_ONLY)], &["decode.replicas=4"]).unwrap();
    assert_eq!(decode(&s).replicas, 4);
    let bad = VLLM_DISAGG_DGD.replace("- \"128\"", "- \"-1\"");
    let e = err(&[("dgd.yaml", &bad), ("s.yaml", WORKLOAD_ONLY)], &[]);
    assert_eq!(
        e,
        format!(
            "dgd.yaml:{}:15: spec.services.VllmDecodeWorker.extraPodSpec.mainContainer.args[--max-num-seqs]: \
             expected a positive integer, got -1",
            line_of(&bad, "\"-1\"")
        )
    );
}

#[test]
fn sglang_aggregated_manifest() {
    let s = load_strs(&[("agg.yaml", &format!("{SGLANG_AGG_DGD}---\n{WORKLOAD_ONLY}"))], &[]).unwrap();
    let c = &s.cluster;
    assert_eq!(s.model.name, "Qwen3-32B");
    assert_eq!((c.mode(), c.backend, c.router), (Mode::Aggregated, Backend::Sglang, RouterPolicy::RoundRobin));
    let d = Pools::defaults();
    assert_eq!(
        *aggregated(&s),
        AggregatedPoolConfig {
            replicas: 2,
            parallelism: Parallelism::tp(2),
            max_batch_size: 96,
            max_batch_tokens: 4096,
            kv_cache_memory_fraction: 0.85,
            ..d.aggregated
        }
    );
    assert_eq!(c.total_gpus(), 4);
    // The router mode comes from the frontend's arguments: `kv` is Dynamo's KV-aware router.
    let kv = SGLANG_AGG_DGD.replace("\"round-robin\"", "\"kv\"");
    let s = load_strs(&[("agg.yaml", &kv), ("s.yaml", WORKLOAD_ONLY)], &[]).unwrap();
    assert_eq!(s.cluster.router, RouterPolicy::KvAware);
    let s = load_strs(&[("agg.yaml", &kv), ("s.yaml", WORKLOAD_ONLY)], &["router.policy=least_loaded"]).unwrap();
    assert_eq!(s.cluster.router, RouterPolicy::LeastLoaded);
}

#[test]
fn manifest_problems() {
    let two_decode = VLLM_DISAGG_DGD.replace("      replicas: 1\n      resources:\n        limits:\n          gpu: \"4\"\n      extraPodSpec:\n        mainContainer:\n          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.4.1\n          workingDir: /workspace/components/backends/vllm\n          command: [\"/bin/sh\", \"-c\"]", "      subComponentType: decode\n      replicas: 1\n      resources:\n        limits:\n          gpu: \"4\"\n      extraPodSpec:\n        mainContainer:\n          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.4.1\n          command: [\"/bin/sh\", \"-c\"]");
    assert_ne!(two_decode, VLLM_DISAGG_DGD);
    let e = err(&[("dgd.yaml", &two_decode), ("s.yaml", WORKLOAD_ONLY)], &[]);
    assert!(e.contains("spec.services.VllmPrefillWorker: a second decode worker service (the first is VllmDecodeWorker at dgd.yaml:"), "{e}");
    let no_workers = "apiVersion: nvidia.com/v1alpha1\nkind: DynamoGraphDeployment\nspec:\n  services:\n    Frontend: {componentType: frontend}\n";
    let e = err(&[("dgd.yaml", no_workers), ("s.yaml", WORKLOAD_ONLY)], &[]);
    assert!(e.starts_with("dgd.yaml:5:") && e.contains("no worker service"), "{e}");
    let no_model = SGLANG_AGG_DGD.replace("--model-path", "--x").replace("--served-model-name", "--y");
    let e = err(&[("dgd.yaml", &no_model), ("s.yaml", WORKLOAD_ONLY)], &[]);
    assert!(e.starts_with("s.yaml:1:1: no model"), "{e}");
    assert!(load_strs(&[("dgd.yaml", &no_model), ("s.yaml", WORKLOAD_ONLY)], &["model=qwen3-32b"]).is_ok());
}

#[test]
fn document_set_problems() {
    let e = err(&[("s.yaml", SCENARIO)], &[]);
    assert!(e.starts_with("s.yaml: no deployment: expected a `kind: DynamoGraphDeploymentRequest`"), "{e}");
    let e = err(&[("s.yaml", SCENARIO), ("a.yaml", DGDR), ("b.yaml", VLLM_DISAGG_DGD)], &[]);
    assert_eq!(
        e,
        "b.yaml:1:1: a second deployment document (the first is at a.yaml:1:1): expected exactly one \
         DynamoGraphDeploymentRequest or DynamoGraphDeployment per scenario"
    );
    let e = err(&[("s.yaml", SCENARIO), ("t.yaml", WORKLOAD_ONLY), ("a.yaml", DGDR)], &[]);
    assert!(e.starts_with("t.yaml:1:1: a second `kind: Scenario` document (the first is at s.yaml:1:1)"), "{e}");
    let text = format!("{}---\nkind: DynamoPlanner\nspec: {{}}\n", full());
    let e = err(&[("x.yaml", &text)], &[]);
    assert_eq!(
        e,
        format!(
            "x.yaml:{}:1: kind DynamoPlanner is unknown: expected one of Scenario, \
             DynamoGraphDeploymentRequest, DynamoGraphDeployment, DynamoAutoscaler, PrometheusRule",
            line_of(&text, "DynamoPlanner")
        )
    );
    let e = err(&[("x.yaml", "- a\n- b\n")], &[]);
    assert_eq!(e, "x.yaml:1:1: expected a mapping (`key: value` lines)");
    let e = err(&[("x.yaml", "foo: 1\n")], &[]);
    assert!(e.starts_with("x.yaml:1:1: document has no `kind`"), "{e}");
    let e = err(&[("d.yaml", DGDR)], &[]);
    assert!(e.starts_with("d.yaml: no workload: add a `kind: Scenario` document with workload:"), "{e}");
    // A workload from --set alone is enough.
    assert!(load_strs(&[("d.yaml", DGDR)], &["workload.rate=1", "workload.isl=10", "workload.osl=10"]).is_ok());
    assert!(matches!(load_from_strs(&[], Path::new("."), &[]), Err(ScenarioError::NoInput)));
    let bad_api = DGDR.replace("nvidia.com/v1alpha1", "nvidia.com/v2");
    let e = err(&[("s.yaml", SCENARIO), ("d.yaml", &bad_api)], &[]);
    assert_eq!(e, "d.yaml:1:13: apiVersion: expected nvidia.com/v1alpha1, got nvidia.com/v2");
}

#[test]
fn deployment_that_does_not_fit_points_at_the_key() {
    let text = full().replace(
        "      replicas: 3\n      resources:\n        gpu: 4\n      config:\n        tensorParallelSize: 4\n",
        "      replicas: 3\n      resources:\n        gpu: 1\n      config:\n        tensorParallelSize: 1\n",
    );
    assert_ne!(text, full());
    let e = err(&[("x.yaml", &text)], &[]);
    let line = line_of(&text, "tensorParallelSize: 1");
    assert!(e.starts_with(&format!("x.yaml:{line}:29: decode.tp: ")), "{e}");
    let e = err(&[("x.yaml", &full())], &["decode.tp=1"]);
    assert!(e.starts_with("--set decode.tp=1: decode.tp: "), "{e}");
}

#[test]
fn aggregated_mode() {
    // No prefill component: aggregated, the decode component is the pool; the Scenario's inline block wins.
    let dgdr = "kind: DynamoGraphDeploymentRequest\nspec:\n  components:\n    decode: {replicas: 4, resources: {gpu: 2}, config: {maxBatchSize: 100, maxBatchTokens: 2048}}\n";
    let sc = "kind: Scenario\nmodel: qwen3-32b\nbackend: vllm\naggregated: {tp: 4, maxInputLength: 8192}\nworkload: {kind: offline, isl: 10, osl: 10}\n";
    let s = load_strs(&[("s.yaml", sc), ("d.yaml", dgdr)], &[]).unwrap();
    assert_eq!(s.cluster.mode(), Mode::Aggregated);
    let d = Pools::defaults();
    assert_eq!(
        *aggregated(&s),
        AggregatedPoolConfig {
            replicas: 4,
            parallelism: Parallelism::tp(4),
            max_batch_size: 100,
            max_batch_tokens: 2048,
            max_input_length: 8192,
            ..d.aggregated
        }
    );
    let worker = "kind: DynamoGraphDeploymentRequest\nspec:\n  components:\n    worker: {replicas: 2, config: {tensorParallelSize: 2}}\n";
    let s = load_strs(&[("s.yaml", sc), ("d.yaml", worker)], &["aggregated.tp=2"]).unwrap();
    assert_eq!((aggregated(&s).replicas, aggregated(&s).parallelism.tp), (2, 2));
    let e = err(&[("s.yaml", sc), ("d.yaml", worker)], &["aggregated.replicas=0"]);
    assert!(
        e.contains("aggregated.replicas: expected a positive integer, got 0 (the aggregated pool is in use"),
        "{e}"
    );
}

#[test]
fn workload_kinds_and_unused_keys() {
    let dep = ("d.yaml", DGDR);
    let sc = "kind: Scenario\nworkload: {kind: gamma, rate: 3, cv: 4, isl: 10, osl: 10}\n";
    let s = load_strs(&[("s.yaml", sc), dep], &[]).unwrap();
    assert!(
        matches!(s.workload, WorkloadSpec::Synthetic { arrival: Arrival::Gamma { rate_per_s, cv }, .. } if rate_per_s == 3.0 && cv == 4.0)
    );
    // cv next to poisson is a mistake; after --set switched the kind it is simply unused.
    let sc = "kind: Scenario\nworkload: {kind: poisson, rate: 3, cv: 4, isl: 10, osl: 10}\n";
    let e = err(&[("s.yaml", sc), dep], &[]);
    assert_eq!(e, "s.yaml:2:40: workload.cv: not used by workload kind poisson (it uses: rate, isl, osl, preset, system_prompts, \
         system_prompt_tok, system_prompt_zipf, sessions.turns, sessions.think_time); expected a matching workload.kind");
    let sc = "kind: Scenario\nworkload: {kind: gamma, rate: 3, cv: 4, isl: 10, osl: 10}\n";
    assert!(load_strs(&[("s.yaml", sc), dep], &["workload.kind=offline"]).is_ok());
    let sc = "kind: Scenario\nworkload: {kind: poisson, isl: 10, osl: 10}\n";
    let e = err(&[("s.yaml", sc), dep], &[]);
    assert_eq!(e, "s.yaml:2:11: workload.rate: missing; workload kind poisson needs it (e.g. rate: 5)");
    let sc = "kind: Scenario\nworkload: {kind: poisson, rate: 1, isl: 10}\n";
    let e = err(&[("s.yaml", sc), dep], &[]);
    assert!(e.starts_with("s.yaml:2:11: workload.osl: missing"), "{e}");
    let sc = "kind: Scenario\nworkload: {kind: bursty, rate: 1}\n";
    let e = err(&[("s.yaml", sc), dep], &[]);
    assert_eq!(
        e,
        "s.yaml:2:18: workload.kind: expected one of poisson, gamma, closed_loop, offline, trace, diurnal, step, ramp, got bursty"
    );
}

#[test]
fn files_on_disk_with_relative_paths() {
    let dir = temp_dir("files");
    std::fs::create_dir_all(dir.join("models")).unwrap();
    std::fs::write(
        dir.join("models/config.json"),
        r#"{"_name_or_path": "tiny", "num_hidden_layers": 2, "hidden_size": 1024, "num_attention_heads": 8,
            "num_key_value_heads": 8, "intermediate_size": 4096, "vocab_size": 32000}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("trace.jsonl"),
        "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5, \"hash_ids\": []}\n",
    )
    .unwrap();
    let sc = "kind: Scenario\nmodel: models/config.json\nworkload: {kind: trace, trace: trace.jsonl}\n";
    std::fs::write(dir.join("scenario.yaml"), sc).unwrap();
    std::fs::write(dir.join("deploy.yaml"), DGDR).unwrap();
    let paths = vec![dir.join("scenario.yaml"), dir.join("deploy.yaml")];
    let s = load(&paths, &[]).unwrap();
    assert_eq!(s.model.name, "tiny");
    assert_eq!(s.name, "scenario");
    assert_eq!(s.sources, paths);
    assert_eq!(
        s.workload,
        WorkloadSpec::Trace {
            path: dir.join("trace.jsonl"),
            format: TraceFormat::MooncakeJsonl,
            options: crate::spec::workload::TraceOptions::default(),
        }
    );
    // A model directory holding a config.json.
    let s = load(&paths, &[format!("model={}", dir.join("models").display())]).unwrap();
    assert_eq!(s.model.name, "tiny");
    let missing = dir.join("missing.yaml");
    let e = load(std::slice::from_ref(&missing), &[]).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}: cannot read:", missing.display())), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn durations() {
    use super::resolve::duration_ns;
    assert_eq!(duration_ns("600"), Ok(600_000_000_000));
    assert_eq!(duration_ns("600s"), Ok(600_000_000_000));
    assert_eq!(duration_ns("10m"), Ok(600_000_000_000));
    assert_eq!(duration_ns("1h"), Ok(3_600_000_000_000));
    assert_eq!(duration_ns("1.5h"), Ok(5_400_000_000_000));
    assert_eq!(duration_ns("1500ms"), Ok(1_500_000_000));
    for bad in ["", "0", "-1s", "ten", "5d", "1e400"] {
        assert!(duration_ns(bad).is_err(), "{bad}");
    }
}

#[test]
fn shipped_scenarios_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let Ok(entries) = std::fs::read_dir(&dir) else { return };
    for e in entries {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        // Whole scenarios only (a workload pattern or a sweep file is not one on its own).
        let whole = text.contains("kind: Scenario") && text.contains("kind: Dynamo");
        if whole && p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            load(std::slice::from_ref(&p), &[]).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// Every key the document readers (`raw`, `dgd`, `autoscaler`) produce is in the settings table: they name
/// keys by its entries, and this reads each kind of document the tests and the shipped scenarios have.
#[test]
fn every_key_the_readers_produce_is_in_the_table() {
    let mut docs: Vec<(String, String)> = vec![
        ("full.yaml".into(), full()),
        ("vllm.yaml".into(), format!("{VLLM_DISAGG_DGD}---\n{WORKLOAD_ONLY}")),
        ("sglang.yaml".into(), format!("{SGLANG_AGG_DGD}---\n{WORKLOAD_ONLY}")),
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for e in std::fs::read_dir(&dir).into_iter().flatten() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        if text.contains("kind: Dynamo") && p.extension().is_some_and(|x| x == "yaml") {
            docs.push((p.display().to_string(), text));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (name, text) in &docs {
        let src =
            raw::Source { name: name.clone(), text: text.clone(), base_dir: Some(dir.clone()), path: name.into() };
        let (settings, _) = merge(&[src], &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        for key in settings.values.keys() {
            assert!(keys::lookup(key).is_some(), "{name} produced {key}, which is not in the settings table");
            seen.insert(key.clone());
        }
    }
    // The readers really ran: keys from each kind of document.
    for key in [
        "prefill.tp",
        "decode.maxBatchSize",
        "frontend.maxConcurrentRequests",
        "autoscaler.decode.maxReplicas",
        "workload.isl",
    ] {
        assert!(seen.contains(key), "no document produced {key}");
    }
}

#[test]
fn a_scenario_keeps_the_other_modes_pools_and_switches_between_them() {
    let s = load_strs(&[("x.yaml", &full())], &["aggregated.maxBatchTokens=2048"]).unwrap();
    assert_eq!(s.cluster.mode(), Mode::Disaggregated);
    assert!(s.cluster.topology.aggregated().is_none(), "the simulated layout holds only its own pools");
    let mut a = s.clone();
    a.switch_mode(Mode::Aggregated);
    assert_eq!(a.cluster.mode(), Mode::Aggregated);
    assert_eq!(a.cluster.topology.aggregated().unwrap().max_batch_tokens, 2048);
    assert_eq!(a.cluster.total_gpus(), 12, "3 aggregated replicas at the decode component's tp 4");
    assert_eq!(a.other_topology, s.cluster.topology);
    a.switch_mode(Mode::Aggregated);
    assert_eq!(a.cluster.mode(), Mode::Aggregated, "switching to the mode it runs changes nothing");
    a.switch_mode(Mode::Disaggregated);
    assert_eq!(a, s);
}

#[test]
fn ramp_up_belongs_to_closed_loop_only() {
    let e = err(&[("x.yaml", &full())], &["workload.rampUp=10s"]);
    assert!(e.contains("workload.rampUp: not used by workload kind poisson"), "{e}");
    let s = load_strs(
        &[("x.yaml", &full())],
        &["workload.kind=closed_loop", "workload.concurrency=4", "workload.rampUp=2s"],
    );
    assert!(s.is_ok(), "{:?}", s.err());
}

#[test]
fn a_gpu_without_a_list_price_needs_the_scenarios_own() {
    let dgdr = EMPTY_DGDR;
    let sc = "kind: Scenario\nhardware: h200-sxm-spec\nworkload: {rate: 2, isl: 100, osl: 10}\n";
    let e = err(&[("s.yaml", sc), ("dep.yaml", dgdr)], &[]);
    assert!(e.contains("pricing.usd_per_gpu_hour") && e.contains("h200-sxm-spec") && e.contains("s.yaml"), "{e}");
    let s = load_strs(&[("s.yaml", sc), ("dep.yaml", dgdr)], &["pricing.usd_per_gpu_hour=3.5"]).unwrap();
    assert_eq!((s.hardware.name, s.usd_per_gpu_hour), ("h200-sxm-spec", 3.5));
    // the B200 runs on its committed calibration and, like the H200, has no list price of pdsim's
    let sc = "kind: Scenario\nhardware: b200-sxm\nworkload: {rate: 2, isl: 100, osl: 10}\n";
    let e = err(&[("s.yaml", sc), ("dep.yaml", dgdr)], &[]);
    assert!(e.contains("pricing.usd_per_gpu_hour") && e.contains("b200-sxm"), "{e}");
    let s = load_strs(&[("s.yaml", sc), ("dep.yaml", dgdr)], &["pricing.usd_per_gpu_hour=3.5"]).unwrap();
    assert!(s.hardware.calibration.is_some() && s.hardware.name == "b200-sxm");
    let sc = "kind: Scenario\nhardware: h200-sxm\nworkload: {rate: 2, isl: 100, osl: 10}\n";
    let s = load_strs(&[("s.yaml", sc), ("dep.yaml", dgdr)], &["pricing.usd_per_gpu_hour=3.5"]).unwrap();
    assert!(s.hardware.calibration.is_some() && s.hardware.name == "h200-sxm");
}

#[test]
fn the_overlap_scheduler_switch_reads_from_the_manifest_and_the_aggregated_section() {
    let dgdr = "kind: DynamoGraphDeploymentRequest\nspec: {model: llama-3.1-8b, components: {prefill: {}, decode: {config: {disableOverlapScheduler: true}}}}\n";
    let sc = "kind: Scenario\nworkload: {rate: 2, isl: 100, osl: 10}\n";
    let s = load_strs(&[("s.yaml", sc), ("dep.yaml", dgdr)], &[]).unwrap();
    assert!(decode(&s).disable_overlap_scheduler);
    let s = load_strs(&[("s.yaml", sc), ("dep.yaml", dgdr)], &["mode=aggregated"]).unwrap();
    assert!(aggregated(&s).disable_overlap_scheduler, "the aggregated pool takes the decode component's");
    let sc = "kind: Scenario\nworkload: {rate: 2, isl: 100, osl: 10}\naggregated: {disableOverlapScheduler: false}\n";
    let s = load_strs(&[("s.yaml", sc), ("dep.yaml", dgdr)], &["mode=aggregated"]).unwrap();
    assert!(!aggregated(&s).disable_overlap_scheduler, "unless it has its own");
    let e = err(&[("s.yaml", "kind: Scenario\naggregated: {disableOverlapScheduler: 3}\n"), ("dep.yaml", dgdr)], &[]);
    assert!(e.contains("disableOverlapScheduler"), "{e}");
}

#[test]
fn the_backend_version_reads_from_the_scenario_and_rejects_what_is_no_release() {
    use crate::spec::deployment::EngineVersion;
    let dgdr = EMPTY_DGDR;
    let sc = "kind: Scenario\nbackendVersion: 1.0.0rc3\nworkload: {rate: 2, isl: 100, osl: 10}\n";
    let s = load_strs(&[("s.yaml", sc), ("dep.yaml", dgdr)], &[]).unwrap();
    assert_eq!(s.cluster.backend_version, Some(EngineVersion::new(1, 0, 0)));
    let s =
        load_strs(&[("s.yaml", "kind: Scenario\nworkload: {rate: 2, isl: 100, osl: 10}\n"), ("dep.yaml", dgdr)], &[])
            .unwrap();
    assert_eq!(s.cluster.backend_version, None);
    let e = err(&[("s.yaml", sc), ("dep.yaml", dgdr)], &["backendVersion=latest"]);
    assert!(e.contains("backendVersion") && e.contains("latest"), "{e}");
    for (text, want) in [
        ("1.2.0rc6.post1", Some((1, 2, 0))),
        ("0.5.1.post1", Some((0, 5, 1))),
        ("v0.12.0", Some((0, 12, 0))),
        ("1.3", Some((1, 3, 0))),
        ("1", None),
        ("rc3", None),
    ] {
        assert_eq!(EngineVersion::parse(text), want.map(|(a, b, c)| EngineVersion::new(a, b, c)), "{text}");
    }
    assert!(EngineVersion::new(1, 0, 0) < EngineVersion::new(1, 2, 0));
}
