//! The parametric cost models' formulas, each a pure function of a shape with a few physically
//! meaningful parameters (efficiencies, floors, half-saturation sizes). The parameters are spec data
//! (`spec::kernel_params`, stored in a calibrated profile); `calibrate::models` fits them.

use crate::spec::kernel_params::{
    AllReduceParams, ContextAttentionParams, GemmGpu, GemmParams, GenerationAttentionParams, MoeParams, MoeShape,
    TransferParams,
};

fn ramp(x: f64, half: f64) -> f64 {
    x / (x + half)
}
fn pnorm(a: f64, b: f64, p: f64) -> f64 {
    // a smooth maximum: hi * (1 + (lo/hi)^p)^(1/p), two powers instead of three
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if hi <= 0.0 {
        return 0.0;
    }
    if lo <= 0.0 {
        return hi;
    }
    hi * (1.0 + (lo / hi).powf(p)).powf(1.0 / p)
}

/// The smooth maximum [`pnorm`] with its exponent fixed, its shape `g(x) = (1 + x^p)^(1/p)` on
/// `x = lo/hi` in [0, 1] tabulated at 4097 points and interpolated linearly: the simulator
/// evaluates attention blends millions of times per second and `powf` dominated its profile.
/// The interpolation error is below 1e-5 relative (`g` is smooth and within [1, 2^(1/p)]), far under
/// the fits' own error; fitting keeps the exact [`pnorm`].
#[derive(Debug, Clone)]
pub struct SmoothMax {
    /// Fixed-size, so the lookup's index (clamped to `0..N`) needs no bounds check.
    table: Box<[f64; SmoothMax::N + 1]>,
}

impl SmoothMax {
    const N: usize = 4096;

    pub fn new(p: f64) -> SmoothMax {
        let mut table = Box::new([0.0; Self::N + 1]);
        for (i, t) in table.iter_mut().enumerate() {
            *t = (1.0 + (i as f64 / Self::N as f64).powf(p)).powf(1.0 / p);
        }
        SmoothMax { table }
    }

    #[inline]
    pub fn eval(&self, a: f64, b: f64) -> f64 {
        let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
        if hi <= 0.0 {
            return 0.0;
        }
        if lo <= 0.0 {
            return hi;
        }
        let x = lo / hi * Self::N as f64;
        // x is in [0, N]: signed conversions give the same values faster
        let i = (x as i64).clamp(0, Self::N as i64 - 1);
        let f = x - i as f64;
        let i = i as usize;
        hi * (self.table[i] + (self.table[i + 1] - self.table[i]) * f)
    }
}

// ---- GEMM ----------------------------------------------------------------------------------------

impl GemmParams {
    /// GEMM `[m x k] * [k x n]` time, counted in the kernel's CTA tiles on the GPU's `S` SMs (132 on
    /// H100 SXM):
    ///
    /// `t = launch + ((waves * 2 TM TN (k + k_prologue) / (peak/S * e_c))^p + (B / (hbm * e_m))^p)^(1/p) * f(m) + quant * 3mk / hbm
    ///      + pad * (128 ceil(m/128) - m) 2nk / peak   (m > pad_min_m, 64 or 128)`
    ///
    /// with tiles of `TM x TN` (`TM` 64 for m <= 64 else 128, `TN` 128), `tiles = ceil(m/TM) ceil(n/TN)`,
    /// `waves = (1-w) tiles/S + w ceil(tiles/S)` (how much a partial last wave costs), a per-tile
    /// pipeline prologue of `k_prologue` k-steps, memory efficiency `e_m = mem_eff * n/(n+n_half_mem) *
    /// B/(B+bytes_half_mem)` over `B = (nk + mk) elem + 2mn` bytes, and for fp8 an activation
    /// quantisation pass (`quant`). Kernels that run a slower path when `m` is not a multiple of
    /// `unaligned_align` (and above `unaligned_min_m`) pay the `unaligned_*` terms there; `f(m)` scales
    /// small (`m <= 64`) and mid (`m <= 256`) batches where the tile heuristics pick other kernels.
    ///
    /// The `pad` term is what fp8 kernels measure past one 128-row tile (some past 64 rows): time
    /// *falls* as `m` grows towards the next multiple of 128, as if each row short of it cost `pad` of
    /// a row at peak (aiconfigurator H100 data, `n x k` = 8192 x 5120: TensorRT-LLM fp8_block 38.7 us
    /// at m = 129, 28.1 us at 256, 63.4 us at 257; vLLM fp8 32.0, 25.6, 50.8 us). bf16 kernels (cuBLAS)
    /// show no such step and are fitted without it; TensorRT-LLM's per-tensor fp8 kernel fits a `pad`
    /// that rounds to 0.
    pub fn time_s(&self, gpu: &GemmGpu, m: f64, n: f64, k: f64) -> f64 {
        let GemmGpu { peak_flops, hbm_bytes_per_s: hbm, sms, elem_bytes } = *gpu;
        if m <= 0.0 {
            return 0.0;
        }
        let mi = m as u64;
        let unaligned =
            self.unaligned_align > 0 && mi % self.unaligned_align as u64 != 0 && mi > self.unaligned_min_m as u64;
        let (ec, em, launch) = if unaligned {
            (
                self.compute_eff * self.unaligned_compute_factor,
                self.mem_eff * self.unaligned_mem_factor,
                self.launch_us + self.unaligned_launch_us,
            )
        } else {
            (self.compute_eff, self.mem_eff, self.launch_us)
        };
        let tm_rows = if m > 64.0 { 128.0 } else { 64.0 };
        let tn = 128.0;
        let tiles = (m / tm_rows).ceil() * (n / tn).ceil();
        let w = self.wave_quantization;
        let waves = (1.0 - w) * tiles / sms + w * (tiles / sms).ceil();
        let tc = waves * 2.0 * tm_rows * tn * (k + self.k_prologue) / (peak_flops / sms * ec);
        let bytes = (n * k + m * k) * elem_bytes + 2.0 * m * n;
        let tmem = bytes / (hbm * em * ramp(n, self.n_half_mem) * ramp(bytes, self.bytes_half_mem));
        let f = if m <= 64.0 {
            self.small_m_factor
        } else if m <= 256.0 {
            self.mid_m_factor
        } else {
            1.0
        };
        let pad_s = if self.pad_row_cost > 0.0 && m > self.pad_min_m as f64 {
            self.pad_row_cost * ((m / 128.0).ceil() * 128.0 - m) * 2.0 * n * k / peak_flops
        } else {
            0.0
        };
        launch * 1e-6 + pnorm(tc, tmem, self.blend_p) * f + self.quant_passes * 3.0 * m * k / hbm + pad_s
    }
}

// ---- attention -----------------------------------------------------------------------------------

/// Query tiles, causal KV blocks and the longest tile's blocks for `b` sequences of `s` tokens.
fn context_tiles(b: f64, s: f64, h: f64, kv: f64, pack: bool) -> (f64, f64, f64) {
    let s = s.max(1.0).round() as u64;
    let n = s.div_ceil(128);
    if !pack || kv <= 0.0 {
        let t = (n * (n + 1) / 2) as f64;
        return (b * h * n as f64, b * h * t, n as f64);
    }
    // g query heads share a tile; tile i covers positions up to ceil(128 i / g) and reads
    // min(ceil(i/g), n) blocks
    let g = ((h / kv).round() as u64).max(1);
    let m = (s * g).div_ceil(128);
    let (q, r) = (m / g, m % g);
    let qc = q.min(n);
    let blocks = g * (qc * (qc + 1) / 2 + (q - qc) * n) + r * (q + 1).min(n);
    let longest = (q + u64::from(r > 0)).min(n);
    (b * kv * m as f64, b * kv * blocks as f64, longest as f64)
}

impl ContextAttentionParams {
    /// Prefill (context) attention of one layer on one GPU, `b` sequences of `s` tokens, `h` query and
    /// `kv` KV heads of `d` dims, counted in the flash-attention kernel's work units: 128-row query tiles
    /// (`T` of them) that each read the causal 128-token KV blocks before them (`Bk` in all, `C` for the
    /// longest tile). Kernels that pack the query heads sharing a KV head into one tile (`pack_gqa`, as
    /// FlashAttention-3 in vLLM does) have fewer, fuller tiles.
    ///
    /// `t = floor*q + ((tile*q*T + block*r*Bk)^p + (crit*S*(tile*q + block*r*C))^p)^(1/p) + b s d 2 (h + w kv) / io`
    ///
    /// — the tiles spread over the GPU's `S` SMs (`sms`, 132 on H100 SXM), or the longest tile alone when there are too few to
    /// fill them (`crit`), plus streaming Q/O and K/V (`w` weighs KV against query heads). `r =
    /// (d + d_off)/(128 + d_off)` scales block work with the head dim; head dims other than 128 pay `q`
    /// (`other_head_dim_factor`) on fixed costs, as untuned kernel paths do.
    pub fn time_s(&self, sms: f64, b: f64, s: f64, h: f64, kv: f64, d: f64) -> f64 {
        self.time_with(sms, b, s, h, kv, d, |x, y| pnorm(x, y, self.blend_p))
    }

    // the kernel's five shape numbers, the GPU's SM count and the blend: bundling them would only
    // rename the arguments at the two callers
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn time_with(&self, sms: f64, b: f64, s: f64, h: f64, kv: f64, d: f64, blend: impl Fn(f64, f64) -> f64) -> f64 {
        if b <= 0.0 || s <= 0.0 {
            return 0.0;
        }
        let (tiles, blocks, longest) = context_tiles(b, s, h, kv, self.pack_gqa);
        let q = if (d - 128.0).abs() < 0.5 { 1.0 } else { self.other_head_dim_factor };
        let r = (d + self.head_dim_offset) / (128.0 + self.head_dim_offset);
        let work = (self.tile_ns * q * tiles + self.block_ns * r * blocks) * 1e-9;
        let crit = self.critical_path * sms * (self.tile_ns * q + self.block_ns * r * longest) * 1e-9;
        let io = b * s * d * 2.0 * (h + self.kv_io_weight * kv) / (self.io_gbps * 1e9);
        self.floor_us * 1e-6 * q + blend(work, crit) + io
    }
}

/// A context-attention fit ready for the hot loop: its blend tabulated, on a GPU of `sms` SMs.
#[derive(Debug, Clone)]
pub struct ContextAttentionKernel {
    params: ContextAttentionParams,
    sms: f64,
    blend: SmoothMax,
}

impl ContextAttentionKernel {
    pub fn new(params: ContextAttentionParams, sm_count: u32) -> Self {
        ContextAttentionKernel { params, sms: sm_count as f64, blend: SmoothMax::new(params.blend_p) }
    }

    /// [`ContextAttentionParams::time_s`], the blend read from the table.
    pub fn time_s(&self, b: f64, s: f64, h: f64, kv: f64, d: f64) -> f64 {
        self.params.time_with(self.sms, b, s, h, kv, d, |x, y| self.blend.eval(x, y))
    }
}

/// [`GenerationAttentionParams::time_s`] for one batch of `b` sequences, factored for evaluation
/// at many contexts: with `n = ctx + 1`,
///
/// `t = floor_out + blend(floor_in + n c (1 + work_half / (b kv ceil(n/512))), t_seq)`, `c = b 2 kv d
/// kv_bytes / bw`, the floor on one side or the other (`floor_in_blend`)
///
/// (`1/ramp(W) = 1 + work_half/W`); the factor of `n` is kept for the last `ceil(n/512)`, which
/// changes once every 512 tokens of context. The blend is tabulated ([`SmoothMax`]).
#[derive(Debug, Clone, Copy)]
pub struct GenerationBatch {
    /// The floor outside the blend, and inside it (one of them is 0).
    floor_out_s: f64,
    floor_in_s: f64,
    kv_s_per_tok: f64,
    work_per_chunk: f64,
    work_half: f64,
    seq_s: f64,
    chunks: f64,
    kv_s_per_tok_at_chunks: f64,
}

impl GenerationBatch {
    /// Seconds of one step at average context `ctx` (tokens before this step's).
    #[inline]
    pub fn time_s(&mut self, ctx: f64, blend: &SmoothMax) -> f64 {
        let n = ctx + 1.0;
        let chunks = ceil_pos(n / 512.0);
        if chunks != self.chunks {
            self.chunks = chunks;
            self.kv_s_per_tok_at_chunks = self.kv_s_per_tok * (1.0 + self.work_half / (self.work_per_chunk * chunks));
        }
        self.floor_out_s + blend.eval(self.floor_in_s + n * self.kv_s_per_tok_at_chunks, self.seq_s)
    }
}

/// `x.ceil()` for `0 <= x < 2^53` without a libm call (the default x86-64 target has no rounding
/// instruction, and this is on the simulator's hottest path).
#[inline]
fn ceil_pos(x: f64) -> f64 {
    let t = x as i64 as f64;
    if t < x {
        t + 1.0
    } else {
        t
    }
}

impl GenerationAttentionParams {
    /// Decode (generation) attention of one layer on one GPU: `b` sequences each reading `ctx` cached
    /// tokens of `kv` heads x `d` dims at `kv_bytes` per element:
    ///
    /// `t = floor + (t_kv^p + t_seq^p)^(1/p)`, or `((floor + t_kv)^p + t_seq^p)^(1/p)` (`floor_in_blend`)
    ///
    /// `t_kv = B / (bw * W/(W+work_half))` reads `B = b (ctx+1) 2 kv d kv_bytes` bytes, slower when few
    /// work items `W = b kv ceil((ctx+1)/512)` are in flight (one sequence alone cannot saturate HBM);
    /// `t_seq = b (kv_head * kv + q_head * h) r` is the per-sequence work that dominates short contexts,
    /// `r = (d/128)^head_dim_exp`. Kernels with a separate multi-head path (`separate_mha`, TensorRT-LLM's
    /// MMHA when `h == kv`) cost `mha_head * h` per sequence there and read KV `mha_read_factor` slower.
    ///
    /// The floor is a fixed latency (launch, the split-KV reduction) that adds to the KV read, but that
    /// some kernels' per-sequence work hides while few sequences are in flight: TensorRT-LLM's fp8-KV
    /// kernel, 64 query / 8 KV heads of 128 dims, 15 cached tokens, runs 6-7 us from 1 to 32 sequences,
    /// 11 us at 64 and 33 us at 256 (aiconfigurator H100 data), a sharper corner than floor + work.
    /// The fit tries both and keeps the better. A fit over one head dim (kernels are compiled per head
    /// dim) leaves `head_dim_exp` at 0.
    pub fn time_s(&self, b: f64, ctx: f64, h: f64, kv: f64, d: f64, kv_bytes: f64) -> f64 {
        let r = self.head_dim_factor(d);
        self.time_with(b, ctx, h, kv, d, kv_bytes, r, |x, y| pnorm(x, y, self.blend_p))
    }

    /// `(d/128)^head_dim_exp`, fixed for one model.
    pub fn head_dim_factor(&self, d: f64) -> f64 {
        (d / 128.0).powf(self.head_dim_exp)
    }

    /// [`Self::time_s`] for `b` sequences, with what depends only on the batch computed once: a
    /// simulation evaluates a batch at many contexts (one per decode step). `r` is
    /// [`Self::head_dim_factor`].
    pub fn batch(&self, b: f64, h: f64, kv: f64, d: f64, kv_bytes: f64, r: f64) -> GenerationBatch {
        let mha = self.separate_mha && (h - kv).abs() < 0.5;
        let read = if mha { self.mha_read_factor } else { 1.0 };
        let per_seq = if mha { self.mha_head_ns * h } else { self.kv_head_ns * kv + self.q_head_ns * h };
        let floor_s = self.floor_us * 1e-6;
        let (floor_out_s, floor_in_s) = if self.floor_in_blend { (0.0, floor_s) } else { (floor_s, 0.0) };
        GenerationBatch {
            floor_out_s,
            floor_in_s,
            kv_s_per_tok: b * 2.0 * kv * d * kv_bytes * read / (self.bw_tbps * 1e12),
            work_per_chunk: b * kv,
            work_half: self.work_half,
            seq_s: b * per_seq * r * 1e-9,
            chunks: 0.0,
            kv_s_per_tok_at_chunks: 0.0,
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn time_with(
        &self,
        b: f64,
        ctx: f64,
        h: f64,
        kv: f64,
        d: f64,
        kv_bytes: f64,
        r: f64,
        blend: impl Fn(f64, f64) -> f64,
    ) -> f64 {
        if b <= 0.0 {
            return 0.0;
        }
        let n = ctx + 1.0;
        let mha = self.separate_mha && (h - kv).abs() < 0.5;
        let bytes = b * n * 2.0 * kv * d * kv_bytes;
        let work = b * kv * (n / 512.0).ceil();
        let read = if mha { self.mha_read_factor } else { 1.0 };
        let t_kv = bytes / (self.bw_tbps * 1e12 * ramp(work, self.work_half)) * read;
        let per_seq = if mha { self.mha_head_ns * h } else { self.kv_head_ns * kv + self.q_head_ns * h };
        let t_seq = b * per_seq * r * 1e-9;
        let floor_s = self.floor_us * 1e-6;
        if self.floor_in_blend {
            blend(floor_s + t_kv, t_seq)
        } else {
            floor_s + blend(t_kv, t_seq)
        }
    }
}

// ---- collectives ---------------------------------------------------------------------------------

// ---- MoE ---------------------------------------------------------------------------------------

impl MoeParams {
    /// One MoE layer's routed experts (SwiGLU: gate+up then down, fused into grouped GEMMs) on one
    /// GPU of an expert-parallel group, counted in token-expert pairs:
    ///
    /// `P = min(T k / ep * (1 + a (ep - 1)^b), T min(k, E_l))` pairs on the most loaded rank, of
    /// `E_l = E / ep` local experts, hitting `A = min(E_l, P)` of them (balanced) or
    /// `A = E_l (1 - exp(-P / E_l))` (random, power-law loads); each expert's `P/A` rows padded to the
    /// kernel's row tile (`min_tile` rows while they fit, then 64, then 128);
    ///
    /// `t = launch + ((2 rows (2I (H + k0) + H (I + k0)) / (peak e_c))^p + (3 A H I elem / (hbm e_m))^p)^(1/p)
    ///      + 2 (T H + P H + 3 P I) / (hbm e_a) + expert * A`
    ///
    /// — the grouped GEMMs bound by compute or by reading the hit experts' weights, then the bf16
    /// activation traffic (tokens permuted in, gate/up/down outputs, weighted sum out) as passes of
    /// their own. `k0` (`k_prologue`) is each output tile's pipeline prologue, as in the GEMM model:
    /// the gate+up GEMM runs `2I` columns over `k = H`, the down GEMM `H` columns over `k = I`, so
    /// narrow column shards (large MoE TP) pay it on every tile (measured: 8192 tokens of Qwen3-235B's
    /// layer take 3.39 ms at MoE TP 4 and 0.88 ms at EP 4, the same FLOPs).
    ///
    /// `I` is the GPU's share of each expert's columns (`inter / moe_tp`). Fitted to aiconfigurator's
    /// `moe_perf` tables (its collectors time one layer on one GPU holding the rank-local shard, with
    /// the heaviest rank of a power-law draw swapped onto it, README of the calibration data); a
    /// decode-sized batch reads the weights of nearly every local expert, a prefill-sized one is
    /// compute-bound at the fitted efficiency.
    pub fn time_s(&self, gpu: &GemmGpu, s: &MoeShape) -> f64 {
        let MoeShape { tokens, hidden, inter_per_gpu: inter, topk, experts, ep } = *s;
        if tokens <= 0.0 {
            return 0.0;
        }
        let local = experts / ep;
        let load = 1.0 + self.imbalance * (ep - 1.0).max(0.0).powf(self.imbalance_exp);
        let pairs = (tokens * topk / ep * load).min(tokens * topk.min(local));
        let active = if self.random_hits { local * (1.0 - (-pairs / local).exp()) } else { local.min(pairs) };
        let rows_per_expert = pairs / active;
        let min_tile = self.min_tile as f64;
        let tile = if rows_per_expert <= min_tile {
            min_tile
        } else if rows_per_expert <= 64.0 {
            64.0
        } else {
            128.0
        };
        let rows = active * (rows_per_expert / tile).ceil() * tile;
        let k0 = self.k_prologue;
        let tc =
            2.0 * rows * (2.0 * inter * (hidden + k0) + hidden * (inter + k0)) / (gpu.peak_flops * self.compute_eff);
        let tm = 3.0 * active * hidden * inter * gpu.elem_bytes / (gpu.hbm_bytes_per_s * self.mem_eff);
        let act = 2.0 * (tokens * hidden + pairs * hidden + 3.0 * pairs * inter) / (gpu.hbm_bytes_per_s * self.act_eff);
        self.launch_us * 1e-6 + pnorm(tc, tm, self.blend_p) + act + self.expert_us * 1e-6 * active
    }
}

impl AllReduceParams {
    /// All-reduce of `bytes` on a fixed GPU count: the faster of two alpha-beta lines,
    /// `t = min(alpha_1 + bytes/beta_1, alpha_2 + bytes/beta_2)` — the one-shot algorithm (low latency,
    /// low bandwidth) that kernels use for small messages and the two-shot/ring one for large messages.
    pub fn time_s(&self, bytes: f64) -> f64 {
        let a = self.alpha1_us * 1e-6 + bytes / (self.beta1_gbps * 1e9);
        let b = self.alpha2_us * 1e-6 + bytes / (self.beta2_gbps * 1e9);
        a.min(b)
    }
}

impl TransferParams {
    /// KV transfer between serving workers: `t = setup + bytes / bandwidth`.
    pub fn time_s(&self, bytes: f64) -> f64 {
        self.setup_us * 1e-6 + bytes / (self.bandwidth_gbps * 1e9)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::spec::kernel_params::Peaks;

    /// An fp8 kernel whose time falls as m nears the next multiple of 128 (shared with the fit's tests).
    pub(crate) fn fp8_padded_gemm() -> GemmParams {
        GemmParams {
            launch_us: 4.0,
            compute_eff: 0.7,
            mem_eff: 0.75,
            k_prologue: 100.0,
            n_half_mem: 1.0,
            bytes_half_mem: 2e6,
            blend_p: 2.0,
            quant_passes: 1.5,
            wave_quantization: 0.3,
            unaligned_align: 16,
            unaligned_min_m: 16,
            unaligned_launch_us: 0.5,
            unaligned_compute_factor: 0.9,
            unaligned_mem_factor: 1.0,
            small_m_factor: 1.1,
            mid_m_factor: 0.95,
            pad_row_cost: 1.5,
            pad_min_m: 128,
        }
    }

    #[test]
    fn generation_batch_is_the_model_factored() {
        for (separate_mha, floor_in_blend) in [(false, false), (true, false), (false, true), (true, true)] {
            let g = GenerationAttentionParams {
                separate_mha,
                floor_us: 6.9,
                mha_head_ns: 11.5,
                kv_head_ns: 5.9,
                q_head_ns: 0.96,
                bw_tbps: 2.74,
                work_half: 52.3,
                blend_p: 3.5,
                head_dim_exp: 0.8,
                mha_read_factor: 1.34,
                floor_in_blend,
            };
            let blend = SmoothMax::new(g.blend_p);
            for (h, kv, d) in [(16.0, 2.0, 128.0), (8.0, 8.0, 128.0), (32.0, 8.0, 64.0)] {
                for b in [1.0, 7.0, 64.0, 256.0] {
                    let mut batch = g.batch(b, h, kv, d, 2.0, g.head_dim_factor(d));
                    // contexts on both sides of the 512-token work chunks, in and out of order
                    for ctx in [0.0, 510.0, 511.0, 512.0, 1500.5, 100.0, 16383.0, 3.0] {
                        let want = g.time_s(b, ctx, h, kv, d, 2.0);
                        let got = batch.time_s(ctx, &blend);
                        assert!(
                            (got / want - 1.0).abs() < 1e-6,
                            "b {b} ctx {ctx} h {h} kv {kv} d {d}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn ceil_pos_is_ceil() {
        for x in [0.0, 0.25, 1.0, 1.0 + f64::EPSILON, 2.999, 511.0 / 512.0, 1e15 + 0.5, 4503599627370495.5] {
            assert_eq!(ceil_pos(x), x.ceil(), "{x}");
        }
    }

    #[test]
    fn gemm_padding_term_falls_towards_the_next_tile() {
        // an fp8 kernel whose time falls as m nears the next multiple of 128
        let truth = fp8_padded_gemm();
        let fp8 = crate::spec::hardware::HardwareProfile::h100_sxm().peaks.gemm_gpu(true);
        let t = |p: &GemmParams, m: f64| p.time_s(&fp8, m, 8192.0, 5120.0);
        assert!(t(&truth, 129.0) > t(&truth, 256.0) && t(&truth, 257.0) > t(&truth, 256.0));
        assert_eq!(t(&truth, 128.0), t(&GemmParams { pad_row_cost: 0.0, ..truth }, 128.0));
    }

    #[test]
    fn allreduce_takes_the_faster_algorithm() {
        let p = AllReduceParams { alpha1_us: 3.0, beta1_gbps: 100.0, alpha2_us: 20.0, beta2_gbps: 300.0 };
        assert!((p.time_s(1000.0) - (3e-6 + 1e-8)).abs() < 1e-12);
        assert!((p.time_s(1e9) - (20e-6 + 1e9 / 300e9)).abs() < 1e-12);
    }

    fn moe(imbalance: f64) -> MoeParams {
        MoeParams {
            launch_us: 25.0,
            compute_eff: 0.5,
            mem_eff: 0.9,
            blend_p: 3.0,
            k_prologue: 100.0,
            expert_us: 0.3,
            act_eff: 0.5,
            min_tile: 16,
            imbalance,
            imbalance_exp: 0.8,
            random_hits: imbalance > 0.0,
        }
    }

    /// Qwen3-235B-A22B's MoE layer (hidden 4096, 128 experts of 1536, top-8) at `ep`-way expert
    /// parallelism, `tokens` entering it.
    fn qwen3_235b(tokens: f64, ep: f64) -> MoeShape {
        MoeShape { tokens, hidden: 4096.0, inter_per_gpu: 1536.0, topk: 8.0, experts: 128.0, ep }
    }

    /// A decode batch reads the weights of the experts it hits: the time climbs with tokens until
    /// every local expert is hit, then stays near the weight read until compute takes over; EP
    /// divides that read among the ranks.
    #[test]
    fn moe_time_follows_the_experts_hit_and_ep_divides_the_weight_read() {
        let gpu =
            Peaks { bf16_flops: 989e12, fp8_flops: 1979e12, hbm_bytes_per_s: 3.35e12, sm_count: 132 }.gemm_gpu(true);
        let p = moe(0.0);
        let t = |tok, ep| p.time_s(&gpu, &qwen3_235b(tok, ep));
        assert!(t(1.0, 1.0) < t(8.0, 1.0) && t(8.0, 1.0) < t(16.0, 1.0), "more experts hit");
        // 16 tokens x 8 = all 128 experts hit: 64 tokens read the same weights
        let read = 128.0 * 3.0 * 4096.0 * 1536.0 / (3.35e12 * 0.9);
        assert!(t(64.0, 1.0) > read && t(64.0, 1.0) < 1.3 * read + 80e-6, "{} vs {read}", t(64.0, 1.0));
        assert!((t(64.0, 1.0) / t(16.0, 1.0) - 1.0).abs() < 0.15);
        // at 16384 tokens it is compute-bound: twice the tokens, about twice the time
        let r = t(32768.0, 1.0) / t(16384.0, 1.0);
        assert!((1.8..2.1).contains(&r), "{r}");
        // EP 4 reads a quarter of the weights per rank at a decode batch
        let ep4 = t(64.0, 4.0) - 25e-6;
        assert!(ep4 < 0.35 * (t(64.0, 1.0) - 25e-6), "{ep4}");
        assert_eq!(p.time_s(&gpu, &qwen3_235b(0.0, 1.0)), 0.0);
    }

    /// A power-law load's most loaded rank carries more than the mean, the more so the more ranks:
    /// at a prefill-sized batch the straggler is slower than a balanced rank, and the gap grows
    /// with EP.
    #[test]
    fn an_imbalanced_load_makes_the_heaviest_rank_a_straggler_growing_with_ep() {
        let gpu =
            Peaks { bf16_flops: 989e12, fp8_flops: 1979e12, hbm_bytes_per_s: 3.35e12, sm_count: 132 }.gemm_gpu(true);
        let (bal, pl) = (moe(0.0), moe(0.2));
        let gap = |ep| pl.time_s(&gpu, &qwen3_235b(8192.0, ep)) / bal.time_s(&gpu, &qwen3_235b(8192.0, ep));
        assert!((gap(1.0) - 1.0).abs() < 0.05, "one rank has no straggler: {}", gap(1.0));
        assert!(gap(4.0) > 1.1 && gap(16.0) > gap(4.0), "{} {}", gap(4.0), gap(16.0));
        // no rank takes more pairs than its experts can: top-k capped by the local experts
        let all = pl.time_s(&gpu, &MoeShape { ep: 128.0, ..qwen3_235b(8192.0, 128.0) });
        let one_each = bal.time_s(&gpu, &MoeShape { topk: 1.0, ..qwen3_235b(8192.0, 1.0) });
        assert!(all < one_each * 1.5, "{all} {one_each}");
    }
}
