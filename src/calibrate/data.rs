//! Measurements the calibration fits to, in one unit system: sizes in elements or bytes as named,
//! times in seconds. Filled by the readers in `readers.rs` from the formats people have.

use std::path::PathBuf;

/// Number format a GEMM ran in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GemmDtype {
    Bf16,
    Fp8,
    /// fp8 with block-wise scales (DeepSeek-style), slower than per-tensor fp8.
    Fp8Block,
}

/// Where a row came from, for error messages and for the `source` of each fitted number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Provenance {
    pub file: PathBuf,
    /// 1-based line of the row in that file.
    pub line: u32,
}

/// One GEMM `[m x k] * [k x n]`.
#[derive(Debug, Clone, PartialEq)]
pub struct GemmSample {
    /// Serving framework whose kernels ran it: `trtllm`, `vllm`, `sglang`, or `torch`.
    pub framework: String,
    pub dtype: GemmDtype,
    pub m: u64,
    pub n: u64,
    pub k: u64,
    pub latency_s: f64,
    pub at: Provenance,
}

/// Prefill (context) attention of one layer on one GPU: `batch` sequences of `isl` tokens each,
/// `heads` query heads and `kv_heads` KV heads on this GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextAttentionSample {
    pub framework: String,
    pub batch: u64,
    pub isl: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    /// KV cache element bytes (2 bf16, 1 fp8).
    pub kv_bytes: u64,
    /// Sliding window in tokens, 0 = full attention.
    pub window: u64,
    pub latency_s: f64,
    pub at: Provenance,
}

/// Decode (generation) attention of one layer on one GPU: `batch` sequences each attending over
/// `ctx` cached tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationAttentionSample {
    pub framework: String,
    pub batch: u64,
    pub ctx: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    pub kv_bytes: u64,
    pub window: u64,
    pub latency_s: f64,
    pub at: Provenance,
}

/// Which collective a communication sample measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Collective {
    AllReduce,
    AllGather,
    ReduceScatter,
    AllToAll,
    SendRecv,
}

/// One collective of `bytes` (the message each rank contributes, as nccl-tests' `size`) across
/// `gpus` GPUs.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectiveSample {
    pub collective: Collective,
    /// `nccl` for NCCL (nccl-tests, torch.distributed), else the custom kernel's name (`trtllm`,
    /// `vllm`, ...).
    pub kernel: String,
    pub gpus: u32,
    /// Ranks per node: `gpus` when all on one NVLink node, less when the collective crosses nodes.
    pub gpus_per_node: u32,
    pub bytes: u64,
    pub latency_s: f64,
    pub at: Provenance,
}

/// One non-attention operator of one transformer layer (vidur's per-operator profiles).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerOpSample {
    /// Hugging Face id of the profiled model, e.g. `meta-llama/Llama-2-70b-hf`.
    pub model: String,
    /// vidur's operator name: `attn_pre_proj`, `attn_post_proj`, `mlp_up_proj`, `mlp_down_proj`,
    /// `input_layernorm`, `attn_rope`, `mlp_act`, `add`, ...
    pub op: String,
    pub tokens: u64,
    pub tp: u32,
    /// Median time.
    pub latency_s: f64,
    pub at: Provenance,
}

/// One KV-cache transfer between a prefill and a decode worker.
#[derive(Debug, Clone, PartialEq)]
pub struct KvTransferSample {
    pub bytes: u64,
    pub latency_s: f64,
    pub at: Provenance,
}

/// A file that was read, what it held, and how many rows.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceFile {
    pub path: PathBuf,
    /// `gemm`, `context_attention`, `generation_attention`, `collective`, `layer_ops`, `kv_transfer`.
    pub kind: &'static str,
    pub rows: usize,
}

/// One mixture-of-experts layer's routed experts on one GPU (aiconfigurator `moe_perf`): `tokens`
/// enter the layer, each routed to `topk` of `experts`; this GPU holds `experts / moe_ep` of them,
/// each `inter / moe_tp` columns wide, and runs the pairs routed to them, loaded as `load` says.
#[derive(Debug, Clone, PartialEq)]
pub struct MoeSample {
    pub framework: String,
    /// The kernel that ran it (`kernel_source`): one framework has several.
    pub kernel: String,
    pub dtype: GemmDtype,
    pub tokens: u64,
    pub hidden: u64,
    pub inter: u64,
    pub topk: u64,
    pub experts: u64,
    pub moe_tp: u64,
    pub moe_ep: u64,
    pub load: crate::spec::model::ExpertLoad,
    pub latency_s: f64,
    pub at: Provenance,
}

/// Everything read from a calibration data directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    pub gemm: Vec<GemmSample>,
    pub context_attention: Vec<ContextAttentionSample>,
    pub generation_attention: Vec<GenerationAttentionSample>,
    pub collectives: Vec<CollectiveSample>,
    pub layer_ops: Vec<LayerOpSample>,
    pub kv_transfer: Vec<KvTransferSample>,
    pub moe: Vec<MoeSample>,
    pub files: Vec<SourceFile>,
}
