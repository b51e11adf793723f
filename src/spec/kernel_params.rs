//! Coefficients of the parametric kernel cost models: plain data, what a calibrated profile stores
//! for each kernel family. The formulas that turn them into times are in `perf::kernels`, beside
//! their derivation and sources; fitting them to measurements is `calibrate::models`.

use serde::{Deserialize, Serialize};

/// The facts of a GPU that the kernel formulas scale by: published peaks the fitted efficiencies are
/// relative to, and the SM count the CTA tiles spread over. A calibrated profile stores the ones it
/// was fitted against; the numbers and their sources are in `spec::hardware`'s GPU profiles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Peaks {
    pub bf16_flops: f64,
    pub fp8_flops: f64,
    pub hbm_bytes_per_s: f64,
    /// Streaming multiprocessors: a wave of CTA tiles is one tile per SM.
    pub sm_count: u32,
}

impl Peaks {
    /// The GPU as one GEMM sees it: the Tensor Core peak and element size of its dtype (bf16 or fp8).
    pub fn gemm_gpu(&self, fp8: bool) -> GemmGpu {
        let (peak_flops, elem_bytes) = if fp8 { (self.fp8_flops, 1.0) } else { (self.bf16_flops, 2.0) };
        GemmGpu { peak_flops, hbm_bytes_per_s: self.hbm_bytes_per_s, sms: self.sm_count as f64, elem_bytes }
    }
}

/// What a GEMM's time depends on of the GPU, for one element type (see [`Peaks::gemm_gpu`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GemmGpu {
    pub peak_flops: f64,
    pub hbm_bytes_per_s: f64,
    pub sms: f64,
    /// Bytes per element of the weights and activations read.
    pub elem_bytes: f64,
}

/// Coefficients of the GEMM time model (`GemmParams::time_s` in `perf::kernels`: the formula, what
/// each term means and the measurements behind it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GemmParams {
    pub launch_us: f64,
    pub compute_eff: f64,
    pub mem_eff: f64,
    pub k_prologue: f64,
    pub n_half_mem: f64,
    pub bytes_half_mem: f64,
    pub blend_p: f64,
    pub quant_passes: f64,
    pub wave_quantization: f64,
    /// 0: no unaligned path.
    pub unaligned_align: u32,
    pub unaligned_min_m: u32,
    pub unaligned_launch_us: f64,
    pub unaligned_compute_factor: f64,
    pub unaligned_mem_factor: f64,
    pub small_m_factor: f64,
    pub mid_m_factor: f64,
    /// Cost of each row that pads `m` (above `pad_min_m`) to a multiple of 128, as a share of a row
    /// at peak; 0 for kernels without the step (and in profiles written before it existed).
    #[serde(default)]
    pub pad_row_cost: f64,
    /// Rows above which the padding term applies.
    #[serde(default = "default_pad_min_m")]
    pub pad_min_m: u32,
}

fn default_pad_min_m() -> u32 {
    128
}

/// Coefficients of the prefill (context) attention time model (`ContextAttentionParams::time_s` in
/// `perf::kernels`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ContextAttentionParams {
    pub pack_gqa: bool,
    pub floor_us: f64,
    pub tile_ns: f64,
    pub block_ns: f64,
    pub io_gbps: f64,
    pub kv_io_weight: f64,
    pub critical_path: f64,
    pub blend_p: f64,
    pub head_dim_offset: f64,
    pub other_head_dim_factor: f64,
}

/// Coefficients of the decode (generation) attention time model (`GenerationAttentionParams::time_s`
/// in `perf::kernels`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GenerationAttentionParams {
    pub separate_mha: bool,
    pub floor_us: f64,
    pub mha_head_ns: f64,
    pub kv_head_ns: f64,
    pub q_head_ns: f64,
    pub bw_tbps: f64,
    pub work_half: f64,
    pub blend_p: f64,
    pub head_dim_exp: f64,
    pub mha_read_factor: f64,
    /// The floor adds to the KV read inside the blend (false in profiles written before it).
    #[serde(default)]
    pub floor_in_blend: bool,
}

/// Coefficients of the MoE routed-experts time model (`MoeParams::time_s` in `perf::kernels`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MoeParams {
    pub launch_us: f64,
    pub compute_eff: f64,
    pub mem_eff: f64,
    pub blend_p: f64,
    /// Pipeline prologue of each output tile, in k-steps (as [`GemmParams::k_prologue`]): what makes
    /// an expert's down projection over a narrow column shard (small `k`) slow.
    pub k_prologue: f64,
    /// Fixed cost of each expert a GPU runs (its grouped-GEMM problem's setup and tail).
    pub expert_us: f64,
    /// Efficiency of the activation traffic (permuting tokens to experts, quantizing them, and
    /// the weighted sum back), a pass of its own beside the grouped GEMMs.
    pub act_eff: f64,
    /// Smallest row tile of the grouped GEMM: an expert with fewer rows pays this many.
    pub min_tile: u32,
    /// The most loaded EP rank's pairs over the mean, `1 + imbalance (ep - 1)^imbalance_exp` (0 and
    /// any exponent for a balanced load).
    pub imbalance: f64,
    pub imbalance_exp: f64,
    /// Whether the pairs land on experts at random (power-law loads: `E_l (1 - exp(-P/E_l))` experts
    /// hit) rather than spread evenly (balanced: `min(E_l, P)`).
    pub random_hits: bool,
}

/// One MoE layer's routed experts on one GPU: `tokens` enter the layer, each routed to `topk` of
/// `experts`; the GPU holds `experts / ep` of them, `inter_per_gpu` columns of each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MoeShape {
    pub tokens: f64,
    pub hidden: f64,
    pub inter_per_gpu: f64,
    pub topk: f64,
    pub experts: f64,
    pub ep: f64,
}

/// Coefficients of the all-reduce time model (`AllReduceParams::time_s` in `perf::kernels`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AllReduceParams {
    pub alpha1_us: f64,
    pub beta1_gbps: f64,
    pub alpha2_us: f64,
    pub beta2_gbps: f64,
}

/// Coefficients of the KV transfer time model (`TransferParams::time_s` in `perf::kernels`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TransferParams {
    pub setup_us: f64,
    pub bandwidth_gbps: f64,
}
