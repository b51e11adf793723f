//! GPU memory: what is left for KV cache once weights and activations are placed.

use crate::spec::deployment::Parallelism;
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
/// logits: `tok * (2 hidden + qkv/tp + 2 inter/tp) * 2 + seqs * vocab/tp * 4` bytes.
pub fn activation_bytes(model: &ModelSpec, tp: u32, max_step_tok: u64, max_seqs: u64) -> u64 {
    let t = tp.max(1) as u64;
    let per_tok = 2 * model.hidden_size + model.qkv_width().div_ceil(t) + 2 * model.intermediate_size.div_ceil(t);
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

/// How one pool's workers use their GPUs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolMemory {
    pub parallelism: Parallelism,
    /// Share of each GPU's memory the framework may use.
    pub fraction: f64,
    /// Most tokens (and sequences) one step processes: sizes the activations.
    pub max_step_tok: u64,
    pub max_seqs: u64,
}

/// `KV = tp * (GPU memory * fraction - weights/tp - activations)`, in tokens of
/// `kv_bytes_per_token` (DESIGN.md §2).
pub fn memory_plan(model: &ModelSpec, hw: &HardwareProfile, weights: Dtype, kv: Dtype, pool: PoolMemory) -> MemoryPlan {
    let PoolMemory { parallelism, fraction, max_step_tok, max_seqs } = pool;
    let tp = parallelism.tp;
    let t = tp.max(1) as u64;
    let weights_per_gpu = model.weight_bytes(weights).div_ceil(t);
    let act = activation_bytes(model, tp, max_step_tok, max_seqs);
    let budget = (hw.gpu_memory_bytes as f64 * fraction) as u64;
    let kv_per_gpu = budget as i64 - weights_per_gpu as i64 - act as i64;
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
        PoolMemory { parallelism: Parallelism::tp(tp), fraction, max_step_tok: 256, max_seqs: 256 }
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
}
