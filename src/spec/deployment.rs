//! Plain, validated description of a deployment: what the `DynamoGraphDeploymentRequest` (or a real
//! `DynamoGraphDeployment`) says, after defaults and `--set` overrides. Built by `scenario`.

use crate::spec::model::ExpertLoad;

/// Serving framework on every worker; selects its per-step overhead and all-reduce kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Backend {
    Trtllm,
    Vllm,
    Sglang,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Trtllm => "trtllm",
            Backend::Vllm => "vllm",
            Backend::Sglang => "sglang",
        }
    }
}

/// Disaggregated (separate prefill and decode pools) or aggregated (one pool, chunked prefill).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    Disaggregated,
    Aggregated,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Disaggregated => "disaggregated",
            Mode::Aggregated => "aggregated",
        }
    }
}

/// The path KV caches take from a prefill worker to a decode worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KvBackend {
    /// Same node, GPU to GPU over NVLink.
    Nvlink,
    /// GPUDirect RDMA through NCCL send/recv.
    Nccl,
    /// GPUDirect RDMA through NIXL (UCX).
    Nixl,
    /// Host-staged TCP.
    Tcp,
}

impl KvBackend {
    pub fn name(self) -> &'static str {
        match self {
            KvBackend::Nvlink => "nvlink",
            KvBackend::Nccl => "nccl",
            KvBackend::Nixl => "nixl",
            KvBackend::Tcp => "tcp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Lz4,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Lz4 => "lz4",
        }
    }
}

/// Request router in front of the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterPolicy {
    RoundRobin,
    LeastLoaded,
    /// Dynamo's KV router: cost = overlap weight x blocks still to prefill + load, lowest wins (or a
    /// softmax draw at a temperature).
    KvAware,
}

/// How many prompt blocks each worker's prefix cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixCacheCapacity {
    Off,
    /// As many blocks as the worker's KV cache has room for.
    Auto,
    Unbounded,
    Blocks(u64),
}

/// Tuning of the KV-aware router and of conditional disaggregation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KvRouterConfig {
    /// Weight of the blocks a worker would still have to prefill against its load (active blocks).
    pub overlap_weight: f64,
    /// 0 picks the lowest cost; above 0 draws a worker with probability ~ exp(-cost / (T * spread)).
    pub temperature: f64,
    /// Disaggregated mode: prefill on the chosen decode worker when at most this many prompt tokens
    /// are not in its prefix cache (0: always on the prefill pool).
    pub max_local_prefill_tok: u32,
}

impl Default for KvRouterConfig {
    /// Dynamo's KV router defaults: overlap score weight 1.0, temperature 0.
    fn default() -> Self {
        KvRouterConfig { overlap_weight: 1.0, temperature: 0.0, max_local_prefill_tok: 0 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FrontendConfig {
    /// Requests in the system beyond this are rejected at arrival.
    pub max_concurrent_requests: u32,
    /// A request not finished this long after arrival times out and frees what it holds.
    pub request_timeout_ns: u64,
}

/// How one replica's model is split over its GPUs, as aiconfigurator's schema counts it. Tensor
/// parallelism: each GPU holds `1/tp` of every attention layer (and dense MLP), and the layer's
/// activations are all-reduced across them (one NVLink node). A mixture-of-experts model's routed
/// experts are split `moe_tp` ways by columns and `moe_ep` ways by experts, with
/// `moe_tp x moe_ep = tp` (every GPU of the group holds a shard of every MoE layer; the engines'
/// TP-attention layout, where each GPU computes its experts for every token and one all-reduce
/// after the layer combines them). Attention data parallelism and pipeline parallelism belong here
/// too, so that the pools, the memory plan, the step cost and the KV link take one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Parallelism {
    pub tp: u32,
    pub moe_tp: u32,
    pub moe_ep: u32,
}

impl Parallelism {
    /// Tensor parallelism over `tp` GPUs, experts split by columns too: the engines' default
    /// without expert parallelism (TensorRT-LLM `moe_tensor_parallel_size` = tp, vLLM without
    /// `--enable-expert-parallel`, SGLang `--ep-size 1`).
    pub const fn tp(tp: u32) -> Parallelism {
        Parallelism { tp, moe_tp: tp, moe_ep: 1 }
    }

    /// `tp`-way attention with the routed experts over `moe_ep` expert-parallel ranks, each
    /// `tp / moe_ep` ways by columns; `None` unless `moe_ep` divides `tp`.
    pub const fn expert_parallel(tp: u32, moe_ep: u32) -> Option<Parallelism> {
        if moe_ep == 0 || tp == 0 || tp % moe_ep != 0 {
            return None;
        }
        Some(Parallelism { tp, moe_tp: tp / moe_ep, moe_ep })
    }

    /// The same layout at another TP: expert parallelism kept where `moe_ep` divides `tp`, else
    /// none (experts split by columns).
    pub const fn with_tp(self, tp: u32) -> Parallelism {
        match Parallelism::expert_parallel(tp, self.moe_ep) {
            Some(p) => p,
            None => Parallelism::tp(tp),
        }
    }

    /// Ways the routed experts are split: `moe_tp x moe_ep`.
    pub const fn expert_shards(self) -> u32 {
        self.moe_tp * self.moe_ep
    }

    /// GPUs one replica holds.
    pub const fn gpus(self) -> u32 {
        self.tp
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PrefillPoolConfig {
    pub replicas: u32,
    pub parallelism: Parallelism,
    /// Most requests in one prefill batch.
    pub max_batch_size: u32,
    /// Most prompt tokens in one prefill batch (a longer single prompt still runs, alone).
    pub max_batch_tokens: u32,
    /// Prompts longer than this are rejected.
    pub max_input_length: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DecodePoolConfig {
    pub replicas: u32,
    pub parallelism: Parallelism,
    /// Most sequences in one continuous batch.
    pub max_batch_size: u32,
    /// Output is cut at this many tokens.
    pub max_output_length: u32,
    /// The engine's memory fraction, read as the backend reads its own knob (`perf::memory::FractionOf`):
    /// TensorRT-LLM's `free_gpu_memory_fraction`, vLLM's `gpu_memory_utilization`, SGLang's
    /// `mem_fraction_static`.
    pub kv_cache_memory_fraction: f64,
    /// TensorRT-LLM's `disable_overlap_scheduler` (see [`AggregatedPoolConfig::disable_overlap_scheduler`]).
    pub disable_overlap_scheduler: bool,
}

/// The single pool of aggregated mode: every worker prefills (in chunks mixed into decode steps) and decodes.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregatedPoolConfig {
    pub replicas: u32,
    pub parallelism: Parallelism,
    pub max_batch_size: u32,
    /// Token budget of one step (decode tokens plus the prefill chunk).
    pub max_batch_tokens: u32,
    pub max_input_length: u32,
    pub max_output_length: u32,
    pub kv_cache_memory_fraction: f64,
    /// TensorRT-LLM's `enable_chunked_context` (off by default: a prompt runs whole in one step, and
    /// one longer than `max_batch_tokens` is refused). vLLM and SGLang always chunk.
    pub enable_chunked_context: bool,
    /// TensorRT-LLM's `disable_overlap_scheduler` (off by default: the PyTorch backend schedules
    /// step n+1 while step n runs, so an arriving request waits a step longer and a finished one
    /// stays in the batch one more step). vLLM and SGLang ignore it.
    pub disable_overlap_scheduler: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KvTransferConfig {
    pub backend: KvBackend,
    pub compression: Compression,
    /// Concurrent transfers out of one prefill worker; more wait in FIFO order.
    pub max_in_flight_transfers: u32,
}

/// How the deployment's workers are laid out: the one thing that differs between Dynamo's two modes.
/// Only the pools a mode runs exist, so code that reads a pool matches on the layout instead of
/// checking a mode flag beside three always-present pools.
#[derive(Debug, Clone, PartialEq)]
pub enum Topology {
    /// Prefill workers hand each request's KV cache over `kv_transfer` to a decode worker.
    Disaggregated { prefill: PrefillPoolConfig, decode: DecodePoolConfig, kv_transfer: KvTransferConfig },
    /// One pool whose workers prefill (in chunks mixed into decode steps) and decode.
    Aggregated(AggregatedPoolConfig),
}

impl Topology {
    pub fn mode(&self) -> Mode {
        match self {
            Topology::Disaggregated { .. } => Mode::Disaggregated,
            Topology::Aggregated(_) => Mode::Aggregated,
        }
    }

    /// GPUs all of the layout's replicas hold.
    pub fn gpus(&self) -> u32 {
        let (prefill, decode) = self.pool_gpus();
        prefill + decode
    }

    /// GPUs of the pool that prefills (0 when the decode-side workers do, aggregated) and of the
    /// pool that decodes.
    pub fn pool_gpus(&self) -> (u32, u32) {
        match self {
            Topology::Disaggregated { prefill, decode, .. } => {
                (prefill.replicas * prefill.parallelism.gpus(), decode.replicas * decode.parallelism.gpus())
            }
            Topology::Aggregated(a) => (0, a.replicas * a.parallelism.gpus()),
        }
    }

    pub fn prefill(&self) -> Option<&PrefillPoolConfig> {
        match self {
            Topology::Disaggregated { prefill, .. } => Some(prefill),
            Topology::Aggregated(_) => None,
        }
    }

    pub fn decode(&self) -> Option<&DecodePoolConfig> {
        match self {
            Topology::Disaggregated { decode, .. } => Some(decode),
            Topology::Aggregated(_) => None,
        }
    }

    pub fn kv_transfer(&self) -> Option<&KvTransferConfig> {
        match self {
            Topology::Disaggregated { kv_transfer, .. } => Some(kv_transfer),
            Topology::Aggregated(_) => None,
        }
    }

    pub fn aggregated(&self) -> Option<&AggregatedPoolConfig> {
        match self {
            Topology::Disaggregated { .. } => None,
            Topology::Aggregated(a) => Some(a),
        }
    }

    pub fn prefill_mut(&mut self) -> Option<&mut PrefillPoolConfig> {
        match self {
            Topology::Disaggregated { prefill, .. } => Some(prefill),
            Topology::Aggregated(_) => None,
        }
    }

    pub fn decode_mut(&mut self) -> Option<&mut DecodePoolConfig> {
        match self {
            Topology::Disaggregated { decode, .. } => Some(decode),
            Topology::Aggregated(_) => None,
        }
    }

    pub fn kv_transfer_mut(&mut self) -> Option<&mut KvTransferConfig> {
        match self {
            Topology::Disaggregated { kv_transfer, .. } => Some(kv_transfer),
            Topology::Aggregated(_) => None,
        }
    }

    pub fn aggregated_mut(&mut self) -> Option<&mut AggregatedPoolConfig> {
        match self {
            Topology::Disaggregated { .. } => None,
            Topology::Aggregated(a) => Some(a),
        }
    }
}

/// A serving engine's release, where its defaults changed between releases: `major.minor.patch`,
/// with a release candidate's suffix (`1.0.0rc3`) read as its release line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EngineVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl EngineVersion {
    /// `1.2`, `1.0.0rc3`, `0.5.1.post1`, `v0.12.0`: the leading numbers, up to three.
    pub fn parse(text: &str) -> Option<EngineVersion> {
        let t = text.trim().trim_start_matches('v');
        let mut nums = [0u32; 3];
        let mut n = 0;
        for part in t.split('.') {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() || n == 3 {
                break;
            }
            nums[n] = digits.parse().ok()?;
            n += 1;
            if digits.len() < part.len() {
                break;
            }
        }
        (n >= 2).then_some(EngineVersion { major: nums[0], minor: nums[1], patch: nums[2] })
    }

    pub const fn new(major: u32, minor: u32, patch: u32) -> EngineVersion {
        EngineVersion { major, minor, patch }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    pub backend: Backend,
    /// The engine's release, where pdsim models a default that changed (`None`: the release the
    /// validation rows measured; see `sim::batching`).
    pub backend_version: Option<EngineVersion>,
    /// How a MoE model's routed tokens spread over its experts (dense models ignore it).
    pub expert_load: ExpertLoad,
    pub frontend: FrontendConfig,
    pub router: RouterPolicy,
    pub kv_router: KvRouterConfig,
    pub prefix_cache: PrefixCacheCapacity,
    /// The engines' KV block: caches move between workers in blocks of this size, and the KV metrics
    /// count blocks of it (`kvTransfer.blockSizeKB`, which therefore also matters aggregated).
    pub kv_block_size_bytes: u64,
    pub topology: Topology,
}

/// Dynamo's and the frameworks' defaults for every pool, as the settings table (`input/keys.rs`) gives
/// them: `(prefill, decode, aggregated, kv_transfer)`.
pub(crate) fn default_pools() -> (PrefillPoolConfig, DecodePoolConfig, AggregatedPoolConfig, KvTransferConfig) {
    (
        PrefillPoolConfig {
            replicas: 1,
            parallelism: Parallelism::tp(1),
            max_batch_size: 8,
            max_batch_tokens: 16_384,
            max_input_length: 131_072,
        },
        DecodePoolConfig {
            replicas: 1,
            parallelism: Parallelism::tp(1),
            max_batch_size: 64,
            max_output_length: 131_072,
            kv_cache_memory_fraction: 0.8,
            disable_overlap_scheduler: false,
        },
        AggregatedPoolConfig {
            replicas: 1,
            parallelism: Parallelism::tp(1),
            max_batch_size: 64,
            max_batch_tokens: 8192,
            max_input_length: 131_072,
            max_output_length: 131_072,
            kv_cache_memory_fraction: 0.8,
            enable_chunked_context: false,
            disable_overlap_scheduler: false,
        },
        KvTransferConfig { backend: KvBackend::Tcp, compression: Compression::None, max_in_flight_transfers: 16 },
    )
}

impl Topology {
    /// The layout of `mode` built from every pool's settings, and the layout the same settings give in
    /// the other mode.
    pub fn both(
        mode: Mode,
        prefill: PrefillPoolConfig,
        decode: DecodePoolConfig,
        kv_transfer: KvTransferConfig,
        aggregated: AggregatedPoolConfig,
    ) -> (Topology, Topology) {
        let disaggregated = Topology::Disaggregated { prefill, decode, kv_transfer };
        match mode {
            Mode::Disaggregated => (disaggregated, Topology::Aggregated(aggregated)),
            Mode::Aggregated => (Topology::Aggregated(aggregated), disaggregated),
        }
    }

    /// The layout of `mode` with every pool at its default (see [`ClusterConfig::dynamo_defaults`]).
    pub fn dynamo_defaults(mode: Mode) -> Topology {
        let (prefill, decode, aggregated, kv_transfer) = default_pools();
        Topology::both(mode, prefill, decode, kv_transfer, aggregated).0
    }
}

impl ClusterConfig {
    /// The deployment that resolving a scenario which sets nothing gives in `mode`: the defaults of the
    /// settings table (`input/keys.rs`), i.e. Dynamo's and the frameworks' defaults as pdsim reads them.
    /// Tests build their clusters from it plus the fields they change; a test in `input` pins that it equals
    /// what resolving an empty deployment gives, so the two cannot drift.
    pub fn dynamo_defaults(mode: Mode) -> ClusterConfig {
        ClusterConfig {
            backend: Backend::Trtllm,
            backend_version: None,
            expert_load: ExpertLoad::DEFAULT,
            frontend: FrontendConfig { max_concurrent_requests: 4096, request_timeout_ns: 600_000_000_000 },
            router: RouterPolicy::RoundRobin,
            kv_router: KvRouterConfig::default(),
            prefix_cache: PrefixCacheCapacity::Auto,
            kv_block_size_bytes: 512 * 1024,
            topology: Topology::dynamo_defaults(mode),
        }
    }

    pub fn mode(&self) -> Mode {
        self.topology.mode()
    }

    /// GPUs the deployment holds.
    pub fn total_gpus(&self) -> u32 {
        self.topology.gpus()
    }
}
