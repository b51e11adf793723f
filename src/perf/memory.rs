//! GPU memory: what is left for KV cache once weights and activations are placed.

use crate::spec::deployment::{Backend, Parallelism};
use crate::spec::hardware::HardwareProfile;
use crate::spec::model::{Dtype, ModelSpec};

/// Share of GPU memory a prefill worker's framework takes when nothing says otherwise: vLLM's
/// `gpu_memory_utilization` and TensorRT-LLM's `free_gpu_memory_fraction` both default to 0.9.
pub const PREFILL_MEMORY_FRACTION: f64 = 0.9;

/// Token budget of one step of a disaggregated decode worker (decode tokens plus the chunk of a
/// preempted sequence being recomputed): TensorRT-LLM's default `max_num_tokens`, 8192.
pub const DECODE_RECOMPUTE_CHUNK_TOK: u64 = 8192;

/// Largest step of a decode worker: its whole batch, or a full recompute budget.
pub fn decode_step_tok(max_batch_size: u32) -> u64 {
    (max_batch_size as u64).max(DECODE_RECOMPUTE_CHUNK_TOK)
}

/// Peak activation memory of one step of `max_step_tok` tokens (`max_seqs` of them producing logits)
/// on one GPU: the widest live tensors (input, QKV, gate+up, output of a layer) in bf16 plus fp32
/// logits: `tok * (2 hidden + qkv/tp + mlp) * 2 + seqs * vocab/tp * 4` bytes, where the dense MLP's
/// gate+up is `mlp = 2 inter/tp` and an MoE layer's is the tokens permuted to their `top_k` experts
/// with the experts' gate+up, `mlp = top_k (hidden + 2 expert_inter/moe_tp)` (every GPU of a
/// TP-attention group takes every token, keeping the pairs of its own experts; the bound counts all).
pub fn activation_bytes(model: &ModelSpec, parallelism: Parallelism, max_step_tok: u64, max_seqs: u64) -> u64 {
    let t = parallelism.tp.max(1) as u64;
    let dense_mlp = 2 * model.intermediate_size.div_ceil(t);
    let mlp = match model.moe {
        None => dense_mlp,
        Some(m) => {
            let moe =
                m.top_k * (model.hidden_size + 2 * m.expert_intermediate.div_ceil(parallelism.moe_tp.max(1) as u64));
            if model.dense_layers() > 0 {
                moe.max(dense_mlp)
            } else {
                moe
            }
        }
    };
    let per_tok = 2 * model.hidden_size + model.qkv_width().div_ceil(t) + mlp;
    max_step_tok * per_tok * 2 + max_seqs * model.vocab_size.div_ceil(t) * 4
}

/// Memory plan of one worker (a TP group).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryPlan {
    pub weights_per_gpu_bytes: u64,
    pub activations_per_gpu_bytes: u64,
    pub budget_per_gpu_bytes: u64,
    /// KV bytes the whole TP group can hold (negative when the weights do not fit).
    pub kv_bytes: i64,
    pub kv_capacity_tok: u64,
}

/// What a worker's memory fraction (`kvCacheMemoryFraction`, or the engine's own knob it stands for)
/// is a share of: each engine defines its knob differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FractionOf {
    /// vLLM's `gpu_memory_utilization`: a share of the GPU's total memory, for weights, activations
    /// and KV cache together (vLLM docs, engine arguments: "the fraction of GPU memory to be used for
    /// the model executor").
    Total,
    /// TensorRT-LLM's `free_gpu_memory_fraction`: a share of the memory still free once the weights
    /// and activation buffers are allocated, all of it KV cache (TensorRT-LLM docs, `KvCacheConfig`:
    /// "the fraction of GPU memory that should be allocated for the KV cache ... of the free memory";
    /// TensorRT-LLM#1400: 0.9 of an A100's free memory after a 6.7 GB engine, 69.5 GB of KV).
    Free,
    /// SGLang's `mem_fraction_static`: a share of total memory for the weights and the KV pool; the
    /// activations live in the rest (SGLang docs, server arguments: "the fraction of the memory used
    /// for static allocation (model weights and KV cache memory pool)").
    Static,
}

impl FractionOf {
    pub fn of(backend: Backend) -> FractionOf {
        match backend {
            Backend::Vllm => FractionOf::Total,
            Backend::Trtllm => FractionOf::Free,
            Backend::Sglang => FractionOf::Static,
        }
    }
}

/// The memory fraction an engine takes when none is given, as its [`FractionOf`] reads it, on a GPU
/// of `gpu_memory_bytes` running `parallelism`:
/// - vLLM `gpu_memory_utilization` 0.9 (`EngineArgs` default);
/// - TensorRT-LLM `free_gpu_memory_fraction` 0.9 (`KvCacheConfig` default);
/// - SGLang `mem_fraction_static = round((M - reserved) / M, 3)` with `reserved` in GiB by GPU memory
///   `M`: 2.8 + tp x pp / 10 below 35 GiB, 9.5 + tp x pp / 2 below 90 GiB (H100, A100), 12 + tp x pp / 2
///   below 160 GiB (H20, H200), 32 above (B200): `ServerArgs.__post_init__` of the 0.4.8-0.5.3
///   releases (sglang `python/sglang/srt/server_args.py`, before the heuristic of sglang#10975), no
///   speculative decoding or DP attention.
pub fn engine_default_memory_fraction(backend: Backend, gpu_memory_bytes: u64, parallelism: Parallelism) -> f64 {
    match backend {
        Backend::Vllm | Backend::Trtllm => 0.9,
        Backend::Sglang => {
            let mib = gpu_memory_bytes as f64 / (1024.0 * 1024.0);
            let p = parallelism.gpus() as f64;
            let reserved_gib = if mib < 35.0 * 1024.0 {
                2.8 + p / 10.0
            } else if mib < 90.0 * 1024.0 {
                9.5 + p / 2.0
            } else if mib < 160.0 * 1024.0 {
                12.0 + p / 2.0
            } else {
                32.0
            };
            ((mib - reserved_gib * 1024.0) / mib * 1000.0).round() / 1000.0
        }
    }
}

/// How one pool's workers use their GPUs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolMemory {
    pub parallelism: Parallelism,
    /// Share of each GPU's memory the framework may use, as `fraction_of` defines it.
    pub fraction: f64,
    pub fraction_of: FractionOf,
    /// Most tokens (and sequences) one step processes: sizes the activations.
    pub max_step_tok: u64,
    pub max_seqs: u64,
}

/// KV bytes per GPU, by what the fraction `f` is a share of (`M` GPU memory, `W` weights and `A`
/// activations per GPU): `M f - W - A` (vLLM, DESIGN.md §2), `f (M - W - A)` (TensorRT-LLM),
/// `M f - W` (SGLang); the whole TP group holds `tp` times that, in tokens of `kv_bytes_per_token`.
pub fn memory_plan(model: &ModelSpec, hw: &HardwareProfile, weights: Dtype, kv: Dtype, pool: PoolMemory) -> MemoryPlan {
    let PoolMemory { parallelism, fraction, fraction_of, max_step_tok, max_seqs } = pool;
    let tp = parallelism.tp;
    let t = tp.max(1) as u64;
    let weights_per_gpu = model.weight_bytes_per_gpu(weights, tp, parallelism.expert_shards());
    let act = activation_bytes(model, parallelism, max_step_tok, max_seqs);
    let m = hw.gpu_memory_bytes as f64;
    let (budget, kv_per_gpu) = match fraction_of {
        FractionOf::Total => {
            let budget = (m * fraction) as u64;
            (budget, budget as i64 - weights_per_gpu as i64 - act as i64)
        }
        FractionOf::Free => {
            let free = m - weights_per_gpu as f64 - act as f64;
            let kv = if free > 0.0 { (free * fraction) as i64 } else { free as i64 };
            ((kv.max(0) as u64) + weights_per_gpu + act, kv)
        }
        FractionOf::Static => {
            let budget = (m * fraction) as u64;
            (budget, budget as i64 - weights_per_gpu as i64)
        }
    };
    let kv_bytes = kv_per_gpu * t as i64;
    let kv_capacity_tok = if kv_bytes > 0 { kv_bytes as u64 / model.kv_bytes_per_token(kv) } else { 0 };
    MemoryPlan {
        weights_per_gpu_bytes: weights_per_gpu,
        activations_per_gpu_bytes: act,
        budget_per_gpu_bytes: budget,
        kv_bytes,
        kv_capacity_tok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(tp: u32, fraction: f64) -> PoolMemory {
        PoolMemory {
            parallelism: Parallelism::tp(tp),
            fraction,
            fraction_of: FractionOf::Total,
            max_step_tok: 256,
            max_seqs: 256,
        }
    }

    #[test]
    fn larger_fraction_holds_more_kv_and_70b_needs_tp_above_one() {
        let m = ModelSpec::preset("llama-3.1-70b").unwrap();
        let hw = HardwareProfile::h100_sxm();
        let lo = memory_plan(&m, &hw, Dtype::Bf16, Dtype::Bf16, pool(4, 0.8));
        let hi = memory_plan(&m, &hw, Dtype::Bf16, Dtype::Bf16, pool(4, 0.92));
        assert!(hi.kv_capacity_tok > lo.kv_capacity_tok);
        // 4 GPUs x 0.12 x 81559 MiB more = 41.05 GB = ~125k more tokens of 320 KiB
        let extra = (hi.kv_capacity_tok - lo.kv_capacity_tok) as f64;
        let more = 4.0 * 0.12 * hw.gpu_memory_bytes as f64;
        assert!((more - 41.05e9).abs() < 0.01e9, "{more}");
        assert!((extra - more / 327_680.0).abs() < 10.0, "{extra}");
        let tp1 = memory_plan(&m, &hw, Dtype::Bf16, Dtype::Bf16, pool(1, 0.9));
        assert_eq!(tp1.kv_capacity_tok, 0);
        assert!(tp1.kv_bytes < 0);
    }

    /// The engines' own reading of their memory knob, on Llama-3.1-70B at TP4 on H100 (80 GiB of HBM
    /// reported as 81559 MiB): TensorRT-LLM's share of what weights and activations leave holds the
    /// most KV, SGLang's static share (weights + KV, activations outside) next, vLLM's share of
    /// the total least, each as its formula says.
    #[test]
    fn each_engine_reads_its_memory_fraction_its_own_way() {
        let m = ModelSpec::preset("llama-3.1-70b").unwrap();
        let hw = HardwareProfile::h100_sxm();
        let plan = |of: FractionOf| {
            let pool = PoolMemory { fraction_of: of, ..pool(4, 0.9) };
            memory_plan(&m, &hw, Dtype::Bf16, Dtype::Bf16, pool)
        };
        let (total, free, stat) = (plan(FractionOf::Total), plan(FractionOf::Free), plan(FractionOf::Static));
        let (mem, w, a) =
            (hw.gpu_memory_bytes as i64, total.weights_per_gpu_bytes as i64, total.activations_per_gpu_bytes as i64);
        assert_eq!(total.kv_bytes, 4 * ((mem as f64 * 0.9) as i64 - w - a));
        assert_eq!(free.kv_bytes, 4 * (((mem - w - a) as f64 * 0.9) as i64));
        assert_eq!(stat.kv_bytes, 4 * ((mem as f64 * 0.9) as i64 - w));
        assert!(free.kv_capacity_tok > stat.kv_capacity_tok && stat.kv_capacity_tok > total.kv_capacity_tok);
    }

    /// SGLang's default `mem_fraction_static` on an 81559 MiB H100: (81559 - (9.5 + tp/2) x 1024) / 81559,
    /// to three places.
    #[test]
    fn sglang_default_memory_fraction_follows_its_heuristic() {
        let hw = HardwareProfile::h100_sxm();
        let f = |tp| engine_default_memory_fraction(Backend::Sglang, hw.gpu_memory_bytes, Parallelism::tp(tp));
        assert_eq!((f(1), f(2), f(4), f(8)), (0.874, 0.868, 0.856, 0.831));
        assert_eq!(engine_default_memory_fraction(Backend::Trtllm, hw.gpu_memory_bytes, Parallelism::tp(1)), 0.9);
    }
}
