//! Fitting the kernel cost models of `perf::kernels` to measurements: for each family, its free
//! parametrisation (logs and logits, so every parameter stays in its physical range), starting
//! points and structural variants. Fits minimise squared log error (relative error), so fast and
//! slow kernels weigh alike.

use crate::calibrate::lm;
use crate::spec::kernel_params::{
    AllReduceParams, ContextAttentionParams, GemmGpu, GemmParams, GenerationAttentionParams, MoeParams, MoeShape,
    TransferParams,
};

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// Which optional terms a GEMM fit uses.
#[derive(Debug, Clone, Copy, PartialEq)]
struct GemmVariant {
    quant: bool,
    /// `(align, min_m)` of an unaligned-m path.
    unaligned: Option<(u32, u32)>,
    m_factors: bool,
    /// `Some(min_m)`: the padding term above `min_m` rows.
    pad: Option<u32>,
}

impl GemmParams {
    fn from_free(u: &[f64], v: GemmVariant) -> GemmParams {
        let mut it = u.iter().copied();
        let mut next = || it.next().expect("parameter count matches the variant");
        let mut p = GemmParams {
            launch_us: next().exp(),
            compute_eff: sigmoid(next()),
            mem_eff: next().exp(),
            k_prologue: next().exp(),
            n_half_mem: next().exp(),
            bytes_half_mem: next().exp(),
            blend_p: 1.0 + next().exp(),
            wave_quantization: sigmoid(next()),
            quant_passes: 0.0,
            unaligned_align: 0,
            unaligned_min_m: 0,
            unaligned_launch_us: 0.0,
            unaligned_compute_factor: 1.0,
            unaligned_mem_factor: 1.0,
            small_m_factor: 1.0,
            mid_m_factor: 1.0,
            pad_row_cost: 0.0,
            pad_min_m: v.pad.unwrap_or(128),
        };
        if v.quant {
            p.quant_passes = next().exp();
        }
        if let Some((align, min_m)) = v.unaligned {
            p.unaligned_align = align;
            p.unaligned_min_m = min_m;
            p.unaligned_launch_us = next().exp();
            p.unaligned_compute_factor = next().exp();
            p.unaligned_mem_factor = next().exp();
        }
        if v.m_factors {
            p.small_m_factor = next().exp();
            p.mid_m_factor = next().exp();
        }
        if v.pad.is_some() {
            p.pad_row_cost = next().exp();
        }
        p
    }

    /// Starting point of a variant: H100 values (TensorRT-LLM bf16 GEMMs fit to compute efficiency
    /// ~0.8, memory efficiency ~0.84, a ~3 us launch, a ~100-step prologue).
    fn start(v: GemmVariant) -> Vec<f64> {
        let mut u = vec![3f64.ln(), logit(0.8), 0.84f64.ln(), 100f64.ln(), 1.0, 10.0, 3f64.ln(), logit(0.1)];
        if v.quant {
            u.push(2f64.ln());
        }
        if v.unaligned.is_some() {
            u.extend([1f64.ln(), 0.85f64.ln(), 0.0]);
        }
        if v.m_factors {
            u.extend([0.0, 0.0]);
        }
        if v.pad.is_some() {
            u.push(0.5f64.ln());
        }
        u
    }

    /// Fits to `(m, n, k, seconds)` rows. fp8 kernels (`quant`) also try an unaligned-m path (m not
    /// a multiple of 16 above 16, or of 4 from 1), small/mid-m factors and the padding term,
    /// keeping the variant with the lowest error on the fitted rows.
    pub fn fit(rows: &[(f64, f64, f64, f64)], gpu: &GemmGpu, quant: bool) -> GemmParams {
        let plain = GemmVariant { quant, unaligned: None, m_factors: false, pad: None };
        let variants: Vec<GemmVariant> = if quant {
            let mut v = vec![
                plain,
                GemmVariant { unaligned: Some((16, 16)), ..plain },
                GemmVariant { unaligned: Some((4, 0)), ..plain },
                GemmVariant { unaligned: Some((16, 16)), m_factors: true, ..plain },
                GemmVariant { unaligned: Some((4, 0)), m_factors: true, ..plain },
            ];
            let padded: Vec<GemmVariant> = [64, 128]
                .into_iter()
                .flat_map(|min_m| v.iter().filter(|x| x.m_factors).map(move |&x| GemmVariant { pad: Some(min_m), ..x }))
                .collect();
            v.extend(padded);
            v
        } else {
            vec![plain]
        };
        let mut best: Option<(f64, GemmParams)> = None;
        for v in variants {
            let start = GemmParams::start(v);
            let sol = lm::minimize(
                |u, out| {
                    let g = GemmParams::from_free(u, v);
                    for (o, &(m, n, k, t)) in out.iter_mut().zip(rows) {
                        *o = (g.time_s(gpu, m, n, k) / t).ln();
                    }
                },
                rows.len(),
                &start,
                150,
            );
            let p = GemmParams::from_free(&sol.params, v);
            if best.as_ref().is_none_or(|(c, _)| sol.cost < *c) {
                best = Some((sol.cost, p));
            }
        }
        best.expect("at least one variant").1
    }
}

impl ContextAttentionParams {
    fn from_free(u: &[f64], pack: bool) -> Self {
        ContextAttentionParams {
            pack_gqa: pack,
            floor_us: u[0].exp(),
            tile_ns: u[1].exp(),
            block_ns: u[2].exp(),
            io_gbps: u[3].exp(),
            kv_io_weight: u[4].exp(),
            critical_path: u[5].exp(),
            blend_p: 1.0 + u[6].exp(),
            head_dim_offset: u[7].exp(),
            other_head_dim_factor: if pack { 1.0 } else { u[8].exp() },
        }
    }

    /// Fits to `(b, s, h, kv, d, seconds)` rows measured on a GPU of `sm_count` SMs, trying unpacked
    /// and GQA-packed tiling and keeping the better.
    pub fn fit(rows: &[[f64; 6]], sm_count: u32) -> Self {
        let sms = sm_count as f64;
        // starts: fits of TensorRT-LLM's and vLLM's H100 kernels (floor 8-14 us, 9-17 ps per tile,
        // 10-15 ps per block, i.e. 570-800 TFLOP/s over the GPU)
        let starts = [
            [
                9.9f64.ln(),
                9.1f64.ln(),
                14.7f64.ln(),
                631f64.ln(),
                0.73f64.ln(),
                0.83f64.ln(),
                0.46f64.ln(),
                47f64.ln(),
                1.37f64.ln(),
            ],
            [
                7.7f64.ln(),
                14.4f64.ln(),
                10.7f64.ln(),
                2000f64.ln(),
                1.1f64.ln(),
                0.83f64.ln(),
                0.82f64.ln(),
                115f64.ln(),
                0.0,
            ],
        ];
        best_variant(&[false, true], &starts, rows.len(), Self::from_free, |p, out| {
            for (o, r) in out.iter_mut().zip(rows) {
                *o = (p.time_s(sms, r[0], r[1], r[2], r[3], r[4]) / r[5]).ln();
            }
        })
    }
}

/// Which terms a decode-attention fit uses.
#[derive(Debug, Clone, Copy, PartialEq)]
struct GenerationVariant {
    separate_mha: bool,
    /// Rows of several head dims: fit `head_dim_exp`.
    head_dims: bool,
    floor_in_blend: bool,
}

impl GenerationAttentionParams {
    fn from_free(u: &[f64], v: GenerationVariant) -> Self {
        GenerationAttentionParams {
            separate_mha: v.separate_mha,
            floor_us: u[0].exp(),
            mha_head_ns: if v.separate_mha { u[1].exp() } else { 0.0 },
            kv_head_ns: u[2].exp(),
            q_head_ns: u[3].exp(),
            bw_tbps: u[4].exp(),
            work_half: u[5].exp(),
            blend_p: 1.0 + u[6].exp(),
            head_dim_exp: if v.head_dims { u[7] } else { 0.0 },
            mha_read_factor: if v.separate_mha { u[8].exp() } else { 1.0 },
            floor_in_blend: v.floor_in_blend,
        }
    }

    /// Fits to `(b, ctx, h, kv, d, kv_bytes, seconds)` rows, with and without a separate MHA path,
    /// keeping the better.
    pub fn fit(rows: &[[f64; 7]]) -> Self {
        let head_dims = rows.iter().any(|r| r[4] != rows[0][4]);
        // starts: fits of TensorRT-LLM's and vLLM's H100 decode kernels (floor ~7-9 us, KV read
        // ~2.5-3 TB/s)
        let starts = [
            [
                8.3f64.ln(),
                10.4f64.ln(),
                33.2f64.ln(),
                0.5f64.ln(),
                2.7f64.ln(),
                53f64.ln(),
                0.98f64.ln(),
                0.27,
                0.94f64.ln(),
            ],
            [8.7f64.ln(), 10.0f64.ln(), 25.4f64.ln(), 0.29f64.ln(), 3.0f64.ln(), 21f64.ln(), 0.81f64.ln(), 0.34, 0.0],
        ];
        let variants = [(true, false), (false, false), (true, true), (false, true)]
            .map(|(separate_mha, floor_in_blend)| GenerationVariant { separate_mha, head_dims, floor_in_blend });
        best_variant(&variants, &starts, rows.len(), Self::from_free, |p, out| {
            for (o, r) in out.iter_mut().zip(rows) {
                *o = (p.time_s(r[0], r[1], r[2], r[3], r[4], r[5]) / r[6]).ln();
            }
        })
    }
}

impl AllReduceParams {
    fn from_free(u: &[f64]) -> Self {
        AllReduceParams { alpha1_us: u[0].exp(), beta1_gbps: u[1].exp(), alpha2_us: u[2].exp(), beta2_gbps: u[3].exp() }
    }

    /// Fits to `(bytes, seconds)` rows.
    pub fn fit(rows: &[(f64, f64)]) -> Self {
        let floor_us = rows.iter().map(|r| r.1).fold(f64::INFINITY, f64::min) * 1e6;
        let starts = [
            [floor_us.ln(), 50f64.ln(), (4.0 * floor_us).ln(), 300f64.ln()],
            [floor_us.ln(), 100f64.ln(), 20f64.ln(), 200f64.ln()],
            [floor_us.ln(), 20f64.ln(), (10.0 * floor_us).ln(), 100f64.ln()],
        ];
        best_fit(&starts, rows.len(), |u, out| {
            let p = Self::from_free(u);
            for (o, &(b, t)) in out.iter_mut().zip(rows) {
                *o = (p.time_s(b) / t).ln();
            }
        })
        .map(|u| Self::from_free(&u))
        .expect("at least one start")
    }
}

impl MoeParams {
    fn from_free(u: &[f64], (imbalanced, min_tile): (bool, u32)) -> Self {
        MoeParams {
            launch_us: u[0].exp(),
            compute_eff: sigmoid(u[1]),
            mem_eff: u[2].exp(),
            blend_p: 1.0 + u[3].exp(),
            expert_us: u[4].exp(),
            act_eff: u[5].exp(),
            k_prologue: u[6].exp(),
            min_tile,
            imbalance: if imbalanced { u[7].exp() } else { 0.0 },
            imbalance_exp: if imbalanced { u[8].exp() } else { 1.0 },
            random_hits: imbalanced,
        }
    }

    /// Fits to `(shape, seconds)` rows of one kernel and load: `imbalanced` for the power-law loads
    /// (most loaded rank and random expert hits), balanced otherwise; the smallest row tile is a
    /// structural variant (8, 16, 32 or 64 rows), the best kept. Starts: a ~20 us launch, half the
    /// peak, 80% of HBM, 0.1 us per expert, a 100-step tile prologue (the GEMM fits'), the heaviest of 8 ranks carrying ~1.5x.
    pub fn fit(rows: &[(MoeShape, f64)], gpu: &GemmGpu, imbalanced: bool) -> Self {
        let starts = [
            [
                20f64.ln(),
                logit(0.5),
                0.8f64.ln(),
                2f64.ln(),
                0.1f64.ln(),
                0.5f64.ln(),
                100f64.ln(),
                0.2f64.ln(),
                0.6f64.ln(),
            ],
            [
                10f64.ln(),
                logit(0.3),
                0.6f64.ln(),
                1f64.ln(),
                1f64.ln(),
                0.2f64.ln(),
                200f64.ln(),
                0.5f64.ln(),
                0.4f64.ln(),
            ],
        ];
        let variants: Vec<(bool, u32)> = [8, 16, 32, 64].into_iter().map(|t| (imbalanced, t)).collect();
        best_variant(&variants, &starts, rows.len(), Self::from_free, |p, out| {
            for (o, (shape, t)) in out.iter_mut().zip(rows) {
                *o = (p.time_s(gpu, shape) / t).ln();
            }
        })
    }
}

impl TransferParams {
    pub fn fit(rows: &[(f64, f64)]) -> Self {
        let starts = [[500f64.ln(), 100f64.ln()], [50f64.ln(), 20f64.ln()]];
        let from = |u: &[f64]| TransferParams { setup_us: u[0].exp(), bandwidth_gbps: u[1].exp() };
        best_fit(&starts, rows.len(), |u, out| {
            let p = from(u);
            for (o, &(b, t)) in out.iter_mut().zip(rows) {
                *o = (p.time_s(b) / t).ln();
            }
        })
        .map(|u| from(&u))
        .expect("at least one start")
    }
}

/// Fits each structural variant of a model (e.g. with or without GQA-packed tiles) from `starts`
/// and keeps the one with the lowest cost on the fitted rows (ties: the earlier variant).
/// `residuals(params, out)` fills the log errors of built parameters.
fn best_variant<V: Copy, P, const K: usize>(
    variants: &[V],
    starts: &[[f64; K]],
    n: usize,
    build: impl Fn(&[f64], V) -> P,
    residuals: impl Fn(&P, &mut [f64]),
) -> P {
    let mut best: Option<(f64, P)> = None;
    for &v in variants {
        let mut cost = 0.0;
        let sol = best_fit_cost(starts, n, |u, out| residuals(&build(u, v), out), &mut cost);
        if best.as_ref().is_none_or(|(c, _)| cost < *c) {
            best = Some((cost, build(&sol, v)));
        }
    }
    best.expect("at least one variant").1
}

/// Runs LM from each start and keeps the lowest cost (ties: the earlier start).
fn best_fit<const K: usize, F>(starts: &[[f64; K]], n: usize, residuals: F) -> Option<Vec<f64>>
where
    F: FnMut(&[f64], &mut [f64]),
{
    let mut cost = 0.0;
    Some(best_fit_cost(starts, n, residuals, &mut cost))
}

/// [`best_fit`], also giving the winning sum of squared residuals.
fn best_fit_cost<const K: usize, F>(starts: &[[f64; K]], n: usize, mut residuals: F, cost: &mut f64) -> Vec<f64>
where
    F: FnMut(&[f64], &mut [f64]),
{
    let mut best: Option<lm::Solution> = None;
    for s in starts {
        let sol = lm::minimize(&mut residuals, n, s, 300);
        if best.as_ref().is_none_or(|b| sol.cost < b.cost) {
            best = Some(sol);
        }
    }
    let best = best.expect("at least one start");
    *cost = best.cost;
    best.params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_fit_finds_a_floor_hidden_by_the_work() {
        // one head dim: head_dim_exp stays 0; the floor is inside the blend
        let truth = GenerationAttentionParams {
            separate_mha: false,
            floor_us: 6.5,
            mha_head_ns: 0.0,
            kv_head_ns: 8.0,
            q_head_ns: 0.6,
            bw_tbps: 2.9,
            work_half: 50.0,
            blend_p: 4.0,
            head_dim_exp: 0.0,
            mha_read_factor: 1.0,
            floor_in_blend: true,
        };
        let mut rows = Vec::new();
        for b in [1.0, 4.0, 16.0, 32.0, 64.0, 256.0, 1024.0] {
            for ctx in [15.0, 255.0, 1023.0, 8191.0, 32767.0] {
                for (h, kv) in [(32.0, 8.0), (16.0, 2.0), (64.0, 8.0)] {
                    rows.push([b, ctx, h, kv, 128.0, 1.0, truth.time_s(b, ctx, h, kv, 128.0, 1.0)]);
                }
            }
        }
        let fit = GenerationAttentionParams::fit(&rows);
        assert!(fit.floor_in_blend && fit.head_dim_exp == 0.0, "{fit:?}");
        for r in &rows {
            let e = (fit.time_s(r[0], r[1], r[2], r[3], r[4], r[5]) / r[6] - 1.0).abs();
            assert!(e < 0.02, "{r:?}: {e} {fit:?}");
        }
    }

    #[test]
    fn gemm_fit_recovers_its_own_parameters() {
        let bf16 = crate::spec::hardware::HardwareProfile::h100_sxm().peaks.gemm_gpu(false);
        let truth = GemmParams {
            launch_us: 3.0,
            compute_eff: 0.8,
            mem_eff: 0.85,
            k_prologue: 90.0,
            n_half_mem: 1.0,
            bytes_half_mem: 2e6,
            blend_p: 3.0,
            quant_passes: 0.0,
            wave_quantization: 0.1,
            unaligned_align: 0,
            unaligned_min_m: 0,
            unaligned_launch_us: 0.0,
            unaligned_compute_factor: 1.0,
            unaligned_mem_factor: 1.0,
            small_m_factor: 1.0,
            mid_m_factor: 1.0,
            pad_row_cost: 0.0,
            pad_min_m: 128,
        };
        let mut rows = Vec::new();
        for &m in &[1.0, 8.0, 64.0, 512.0, 4096.0, 16384.0] {
            for &n in &[256.0, 2048.0, 8192.0, 28672.0] {
                for &k in &[512.0, 4096.0, 8192.0] {
                    rows.push((m, n, k, truth.time_s(&bf16, m, n, k)));
                }
            }
        }
        let fit = GemmParams::fit(&rows, &bf16, false);
        for &(m, n, k, t) in &rows {
            let e = (fit.time_s(&bf16, m, n, k) / t - 1.0).abs();
            assert!(e < 0.02, "{m} {n} {k}: {e} {fit:?}");
        }
    }

    #[test]
    fn gemm_padding_term_is_fitted_where_the_kernel_has_it() {
        let fp8 = crate::spec::hardware::HardwareProfile::h100_sxm().peaks.gemm_gpu(true);
        // an fp8 kernel whose time falls as m nears the next multiple of 128
        let truth = crate::perf::kernels::tests::fp8_padded_gemm();
        let mut rows = Vec::new();
        for &m in &[1.0, 8.0, 17.0, 64.0, 100.0, 129.0, 200.0, 256.0, 257.0, 512.0, 1025.0, 4096.0, 16384.0] {
            for &n in &[256.0, 2048.0, 8192.0, 28672.0] {
                for &k in &[512.0, 4096.0, 8192.0] {
                    rows.push((m, n, k, truth.time_s(&fp8, m, n, k)));
                }
            }
        }
        let fit = GemmParams::fit(&rows, &fp8, true);
        assert!(fit.pad_row_cost > 0.5, "{fit:?}");
        for &(m, n, k, t) in &rows {
            let e = (fit.time_s(&fp8, m, n, k) / t - 1.0).abs();
            assert!(e < 0.03, "{m} {n} {k}: {e} {fit:?}");
        }
    }

    #[test]
    fn allreduce_fit_finds_both_algorithms() {
        let p = AllReduceParams { alpha1_us: 3.0, beta1_gbps: 100.0, alpha2_us: 20.0, beta2_gbps: 300.0 };
        let rows: Vec<(f64, f64)> = (8..30).map(|e| (2f64.powi(e), p.time_s(2f64.powi(e)))).collect();
        let fit = AllReduceParams::fit(&rows);
        for &(b, t) in &rows {
            assert!((fit.time_s(b) / t - 1.0).abs() < 0.01, "{b}: {fit:?}");
        }
    }

    #[test]
    fn transfer_fit_is_exact_on_a_line() {
        let rows: Vec<(f64, f64)> = [20e6, 74e6, 146e6, 1e9, 4.5e9].iter().map(|&b| (b, 540e-6 + b / 144e9)).collect();
        let fit = TransferParams::fit(&rows);
        assert!((fit.setup_us - 540.0).abs() < 1.0 && (fit.bandwidth_gbps - 144.0).abs() < 0.5, "{fit:?}");
    }
}
