//! Fitting every cost model of a calibrated profile to a [`Dataset`], with a deterministic held-out
//! share of rows to report honest fit errors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::calibrate::data::{Collective, Dataset, GemmDtype, MoeSample, Provenance};
use crate::spec::fitted::{
    AllReduceFit, Calibration, ContextAttentionFit, FitError, GemmFit, GenerationAttentionFit, MoeFit, TransferFit,
};
use crate::spec::hardware::HardwareProfile;
use crate::spec::kernel_params::{
    AllReduceParams, ContextAttentionParams, GemmParams, GenerationAttentionParams, MoeParams, MoeShape, TransferParams,
};
use crate::spec::model::{ExpertLoad, ModelSpec, PRESETS};

/// One row of every family, measured vs fitted, for the report's plots and tables.
#[derive(Debug, Clone, PartialEq)]
pub struct FitPoint {
    /// `gemm`, `context_attention`, `generation_attention`, `allreduce`, `kv_transfer`.
    pub family: &'static str,
    /// The fit it belongs to, e.g. `trtllm bf16`.
    pub group: String,
    pub measured_s: f64,
    pub fitted_s: f64,
    pub holdout: bool,
    pub preset_shape: bool,
    /// Of a fit the simulator takes only where no narrower one applies (decode attention over every
    /// head dim, where each has its own): written to `fit_points.csv`, left out of the plots, whose
    /// rows show under their own head dim's fit.
    pub fallback: bool,
}

pub struct FitOutput {
    pub calibration: Calibration,
    pub points: Vec<FitPoint>,
}

/// Rows whose key hashes to 0 mod 5 (20%) are held out: never fitted, only scored. FNV-1a over
/// the row's shape, so the split is the same on every machine and for every run.
pub fn is_holdout(key: &[u64]) -> bool {
    let mut h: u64 = 0xcbf29ce484222325;
    for &k in key {
        for b in k.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h % 5 == 0
}

/// Dense GQA models put at most this many query heads on one KV head (Llama-3.1-405B: 16); rows
/// beyond it (MQA/MLA-like 32..128) run other kernels and are left out of the attention fits.
pub const MAX_GQA_GROUP: u64 = 16;

fn dtype_name(d: GemmDtype) -> &'static str {
    match d {
        GemmDtype::Bf16 => "bf16",
        GemmDtype::Fp8 => "fp8",
        GemmDtype::Fp8Block => "fp8_block",
    }
}

/// `(n, k)` of every dense GEMM the presets run at TP 1, 2, 4 and 8 (QKV, O, gate+up, down, LM
/// head; a MoE model's router and shared experts, and its dense MLP only where it has dense layers).
pub fn preset_gemm_shapes() -> BTreeSet<(u64, u64)> {
    let mut out = BTreeSet::new();
    for name in PRESETS {
        let m = ModelSpec::preset(name).expect("presets resolve");
        let h = m.hidden_size;
        let mut mlps = Vec::new();
        if m.dense_layers() > 0 {
            mlps.push(m.intermediate_size);
        }
        if let Some(e) = m.moe {
            out.insert((e.experts, h));
            if e.shared_intermediate > 0 {
                mlps.push(e.shared_intermediate);
            }
        }
        for tp in [1u64, 2, 4, 8] {
            out.insert((m.qkv_width() / tp, h));
            out.insert((h, m.num_heads * m.head_dim / tp));
            for &inter in &mlps {
                out.insert((2 * inter / tp, h));
                out.insert((h, inter / tp));
            }
            out.insert((m.vocab_size / tp, h));
        }
    }
    out
}

/// `(heads, kv_heads, head_dim)` per GPU of every preset at TP 1, 2, 4 and 8.
pub fn preset_attention_shapes() -> BTreeSet<(u64, u64, u64)> {
    let mut out = BTreeSet::new();
    for name in PRESETS {
        let m = ModelSpec::preset(name).expect("presets resolve");
        for tp in [1u64, 2, 4, 8] {
            out.insert((m.num_heads / tp, m.num_kv_heads.div_ceil(tp), m.head_dim));
        }
    }
    out
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn round_sig(x: f64, digits: i32) -> f64 {
    // a coefficient driven to nothing by the fit (e.g. exp(-110)) reads as the 0 it is
    if x.abs() < 1e-9 || !x.is_finite() {
        return if x.is_finite() { 0.0 } else { x };
    }
    let scale = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// Absolute relative errors of held-out rows, overall and on preset shapes.
fn fit_error(points: &[FitPoint]) -> FitError {
    let ape = |p: &FitPoint| (p.fitted_s / p.measured_s - 1.0).abs();
    let mut all: Vec<f64> = points.iter().filter(|p| p.holdout).map(ape).collect();
    let mut pre: Vec<f64> = points.iter().filter(|p| p.holdout && p.preset_shape).map(ape).collect();
    all.sort_by(f64::total_cmp);
    pre.sort_by(f64::total_cmp);
    FitError {
        fitted_rows: points.iter().filter(|p| !p.holdout).count(),
        holdout_rows: all.len(),
        holdout_median_ape: round_sig(percentile(&all, 0.5), 4),
        holdout_p90_ape: round_sig(percentile(&all, 0.9), 4),
        preset_holdout_rows: pre.len(),
        preset_holdout_median_ape: round_sig(percentile(&pre, 0.5), 4),
        preset_holdout_p90_ape: round_sig(percentile(&pre, 0.9), 4),
    }
}

fn relative(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).to_string_lossy().replace('\\', "/")
}

fn sources(root: &Path, files: impl Iterator<Item = Provenance>, rows: usize) -> String {
    let set: BTreeSet<String> = files.map(|p| relative(root, &p.file)).collect();
    format!("{} ({rows} rows)", set.into_iter().collect::<Vec<_>>().join(", "))
}

/// One group's fit: `None` when it has too few rows to fit.
type Job<'a, T> = Box<dyn FnOnce() -> Option<Fitted<T>> + Send + 'a>;

/// A fit and its rows, measured vs fitted.
type Fitted<T> = (T, Vec<FitPoint>);

/// Runs independent fits on all cores; results come back in job order, so the profile does not
/// depend on the thread count.
fn run_parallel<T: Send>(jobs: Vec<Job<'_, T>>) -> Vec<Option<Fitted<T>>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len().max(1));
    let slots: Vec<std::sync::Mutex<Option<Job<'_, T>>>> =
        jobs.into_iter().map(|j| std::sync::Mutex::new(Some(j))).collect();
    let results: Vec<std::sync::Mutex<Option<Fitted<T>>>> = slots.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(slot) = slots.get(i) else { break };
                let job = slot.lock().expect("job slot").take().expect("each job runs once");
                *results[i].lock().expect("result slot") = job();
            });
        }
    });
    results.into_iter().map(|r| r.into_inner().expect("result slot")).collect()
}

fn collect<T>(results: Vec<Option<Fitted<T>>>, points: &mut Vec<FitPoint>) -> Vec<T> {
    let mut fits = Vec::new();
    for (fit, pts) in results.into_iter().flatten() {
        fits.push(fit);
        points.extend(pts);
    }
    fits
}

/// Rounds every coefficient to 6 significant digits so the profile reads well and refits compare.
macro_rules! round_params {
    ($p:expr, $($f:ident),+) => {{ let mut p = $p; $( p.$f = round_sig(p.$f, 6); )+ p }};
}

/// Fits every family present in `data`, measured on the GPU of the datasheet profile `base` (its
/// peaks and SM count are what the fitted efficiencies are relative to). `root` is the data
/// directory (sources are named relative to it).
pub fn fit_all(data: &Dataset, root: &Path, name: &str, base: &HardwareProfile) -> FitOutput {
    let peaks = base.peaks;
    let mut points = Vec::new();
    let gemm_shapes = preset_gemm_shapes();
    let attn_shapes = preset_attention_shapes();

    // GEMM, per framework and dtype
    let groups: BTreeSet<(String, GemmDtype)> = data.gemm.iter().map(|g| (g.framework.clone(), g.dtype)).collect();
    let gemm_shapes = &gemm_shapes;
    let jobs: Vec<Job<'_, GemmFit>> = groups
        .into_iter()
        .map(|(fw, dt)| -> Job<'_, GemmFit> {
            Box::new(move || {
                let rows: Vec<_> = data.gemm.iter().filter(|g| g.framework == fw && g.dtype == dt).collect();
                let gpu = peaks.gemm_gpu(dt != GemmDtype::Bf16);
                let train: Vec<(f64, f64, f64, f64)> = rows
                    .iter()
                    .filter(|g| !is_holdout(&[g.m, g.n, g.k]))
                    .map(|g| (g.m as f64, g.n as f64, g.k as f64, g.latency_s))
                    .collect();
                if train.len() < 20 {
                    return None;
                }
                let params = GemmParams::fit(&train, &gpu, dt != GemmDtype::Bf16);
                let params = round_params!(
                    params,
                    launch_us,
                    compute_eff,
                    mem_eff,
                    k_prologue,
                    n_half_mem,
                    bytes_half_mem,
                    blend_p,
                    quant_passes,
                    wave_quantization,
                    unaligned_launch_us,
                    unaligned_compute_factor,
                    unaligned_mem_factor,
                    small_m_factor,
                    mid_m_factor,
                    pad_row_cost
                );
                let group = format!("{fw} {}", dtype_name(dt));
                let pts: Vec<FitPoint> = rows
                    .iter()
                    .map(|g| FitPoint {
                        family: "gemm",
                        group: group.clone(),
                        measured_s: g.latency_s,
                        fitted_s: params.time_s(&gpu, g.m as f64, g.n as f64, g.k as f64),
                        holdout: is_holdout(&[g.m, g.n, g.k]),
                        preset_shape: gemm_shapes.contains(&(g.n, g.k)),
                        fallback: false,
                    })
                    .collect();
                let fit = GemmFit {
                    framework: fw.clone(),
                    dtype: dtype_name(dt).to_string(),
                    params,
                    source: sources(root, rows.iter().map(|g| g.at.clone()), rows.len()),
                    error: fit_error(&pts),
                };
                Some((fit, pts))
            })
        })
        .collect();
    let gemm = collect(run_parallel(jobs), &mut points);

    // prefill attention, per framework and KV dtype, dense GQA rows without a sliding window (the
    // readers keep bf16 attention math only, so attn_bytes is 2)
    let usable = |h: u64, kv: u64, w: u64| w == 0 && kv > 0 && h / kv <= MAX_GQA_GROUP;
    let groups: BTreeSet<(String, u64, u64)> = data
        .context_attention
        .iter()
        .filter(|a| usable(a.heads, a.kv_heads, a.window))
        .map(|a| (a.framework.clone(), 2u64, a.kv_bytes))
        .collect();
    let attn_shapes = &attn_shapes;
    let jobs: Vec<Job<'_, ContextAttentionFit>> = groups
        .into_iter()
        .map(|(fw, ab, kb)| -> Job<'_, ContextAttentionFit> {
            Box::new(move || {
                let rows: Vec<_> = data
                    .context_attention
                    .iter()
                    .filter(|a| a.framework == fw && a.kv_bytes == kb && usable(a.heads, a.kv_heads, a.window))
                    .collect();
                let key = |a: &&crate::calibrate::data::ContextAttentionSample| {
                    [a.batch, a.isl, a.heads, a.kv_heads, a.head_dim]
                };
                let train: Vec<[f64; 6]> = rows
                    .iter()
                    .filter(|a| !is_holdout(&key(a)))
                    .map(|a| {
                        [
                            a.batch as f64,
                            a.isl as f64,
                            a.heads as f64,
                            a.kv_heads as f64,
                            a.head_dim as f64,
                            a.latency_s,
                        ]
                    })
                    .collect();
                if train.len() < 20 {
                    return None;
                }
                let params = ContextAttentionParams::fit(&train, peaks.sm_count);
                let params = round_params!(
                    params,
                    floor_us,
                    tile_ns,
                    block_ns,
                    io_gbps,
                    kv_io_weight,
                    critical_path,
                    blend_p,
                    head_dim_offset,
                    other_head_dim_factor
                );
                let group = format!(
                    "{fw} attn{} kv{}",
                    if ab == 1 { "fp8" } else { "bf16" },
                    if kb == 1 { "fp8" } else { "bf16" }
                );
                let pts: Vec<FitPoint> = rows
                    .iter()
                    .map(|a| FitPoint {
                        family: "context_attention",
                        group: group.clone(),
                        measured_s: a.latency_s,
                        fitted_s: params.time_s(
                            peaks.sm_count as f64,
                            a.batch as f64,
                            a.isl as f64,
                            a.heads as f64,
                            a.kv_heads as f64,
                            a.head_dim as f64,
                        ),
                        holdout: is_holdout(&key(a)),
                        preset_shape: attn_shapes.contains(&(a.heads, a.kv_heads, a.head_dim)),
                        fallback: false,
                    })
                    .collect();
                let fit = ContextAttentionFit {
                    framework: fw.clone(),
                    attn_bytes: ab,
                    kv_bytes: kb,
                    params,
                    source: sources(root, rows.iter().map(|a| a.at.clone()), rows.len()),
                    error: fit_error(&pts),
                };
                Some((fit, pts))
            })
        })
        .collect();
    let context_attention = collect(run_parallel(jobs), &mut points);

    // decode attention, per framework and KV dtype: over every head dim measured, and where there
    // are several, per head dim too (each is its own compiled kernel; a model takes its own)
    let mut dims: BTreeMap<(String, u64), BTreeSet<u64>> = BTreeMap::new();
    for a in data.generation_attention.iter().filter(|a| usable(a.heads, a.kv_heads, a.window)) {
        dims.entry((a.framework.clone(), a.kv_bytes)).or_default().insert(a.head_dim);
    }
    // (framework, KV bytes, head dim of the fit or None for every head dim)
    let mut groups: Vec<(String, u64, Option<u64>)> = Vec::new();
    for ((fw, kb), ds) in dims {
        if ds.len() > 1 {
            groups.push((fw.clone(), kb, None));
        }
        groups.extend(ds.into_iter().map(|d| (fw.clone(), kb, Some(d))));
    }
    let jobs: Vec<Job<'_, GenerationAttentionFit>> = groups
        .into_iter()
        .map(|(fw, kb, head_dim)| -> Job<'_, GenerationAttentionFit> {
            // only kernels measured at several head dims have a fit over all of them
            let fallback = head_dim.is_none();
            Box::new(move || {
                let rows: Vec<_> = data
                    .generation_attention
                    .iter()
                    .filter(|a| a.framework == fw && a.kv_bytes == kb && usable(a.heads, a.kv_heads, a.window))
                    .filter(|a| head_dim.is_none_or(|d| a.head_dim == d))
                    .collect();
                let key = |a: &&crate::calibrate::data::GenerationAttentionSample| {
                    [a.batch, a.ctx, a.heads, a.kv_heads, a.head_dim]
                };
                let row = |a: &&crate::calibrate::data::GenerationAttentionSample| {
                    [
                        a.batch as f64,
                        a.ctx as f64,
                        a.heads as f64,
                        a.kv_heads as f64,
                        a.head_dim as f64,
                        a.kv_bytes as f64,
                    ]
                };
                let train: Vec<[f64; 7]> = rows
                    .iter()
                    .filter(|a| !is_holdout(&key(a)))
                    .map(|a| {
                        let r = row(a);
                        [r[0], r[1], r[2], r[3], r[4], r[5], a.latency_s]
                    })
                    .collect();
                if train.len() < 20 {
                    return None;
                }
                let params = GenerationAttentionParams::fit(&train);
                let params = round_params!(
                    params,
                    floor_us,
                    mha_head_ns,
                    kv_head_ns,
                    q_head_ns,
                    bw_tbps,
                    work_half,
                    blend_p,
                    head_dim_exp,
                    mha_read_factor
                );
                let dim = head_dim.map(|d| format!(" d{d}")).unwrap_or_default();
                let group = format!("{fw} kv{}{dim}", if kb == 1 { "fp8" } else { "bf16" });
                let pts: Vec<FitPoint> = rows
                    .iter()
                    .map(|a| {
                        let r = row(a);
                        FitPoint {
                            family: "generation_attention",
                            group: group.clone(),
                            measured_s: a.latency_s,
                            fitted_s: params.time_s(r[0], r[1], r[2], r[3], r[4], r[5]),
                            holdout: is_holdout(&key(a)),
                            preset_shape: attn_shapes.contains(&(a.heads, a.kv_heads, a.head_dim)),
                            fallback,
                        }
                    })
                    .collect();
                let fit = GenerationAttentionFit {
                    framework: fw.clone(),
                    kv_bytes: kb,
                    head_dim,
                    params,
                    source: sources(root, rows.iter().map(|a| a.at.clone()), rows.len()),
                    error: fit_error(&pts),
                };
                Some((fit, pts))
            })
        })
        .collect();
    let generation_attention = collect(run_parallel(jobs), &mut points);

    // all-reduce inside one NVLink node, per kernel and GPU count
    let mut allreduce = Vec::new();
    let intra = |c: &&crate::calibrate::data::CollectiveSample| {
        c.collective == Collective::AllReduce && c.gpus_per_node == c.gpus && c.gpus >= 2
    };
    let groups: BTreeSet<(String, u32)> =
        data.collectives.iter().filter(intra).map(|c| (c.kernel.clone(), c.gpus)).collect();
    for (kernel, gpus) in groups {
        let rows: Vec<_> =
            data.collectives.iter().filter(intra).filter(|c| c.kernel == kernel && c.gpus == gpus).collect();
        // several files may measure the same size: average them per size first
        let mut by_size: BTreeMap<u64, (f64, usize)> = BTreeMap::new();
        for c in &rows {
            let e = by_size.entry(c.bytes).or_insert((0.0, 0));
            e.0 += c.latency_s.ln();
            e.1 += 1;
        }
        let sizes: Vec<(u64, f64)> = by_size.into_iter().map(|(b, (s, n))| (b, (s / n as f64).exp())).collect();
        let train: Vec<(f64, f64)> =
            sizes.iter().filter(|(b, _)| !is_holdout(&[*b, gpus as u64])).map(|&(b, t)| (b as f64, t)).collect();
        if train.len() < 6 {
            continue;
        }
        let params = AllReduceParams::fit(&train);
        let params = round_params!(params, alpha1_us, beta1_gbps, alpha2_us, beta2_gbps);
        let group = format!("{kernel} x{gpus}");
        let pts: Vec<FitPoint> = sizes
            .iter()
            .map(|&(b, t)| FitPoint {
                family: "allreduce",
                group: group.clone(),
                measured_s: t,
                fitted_s: params.time_s(b as f64),
                holdout: is_holdout(&[b, gpus as u64]),
                preset_shape: true,
                fallback: false,
            })
            .collect();
        allreduce.push(AllReduceFit {
            kernel: kernel.clone(),
            gpus,
            params,
            source: sources(root, rows.iter().map(|c| c.at.clone()), rows.len()),
            error: fit_error(&pts),
        });
        points.extend(pts);
    }

    // KV transfers, per file (each is one deployment's measured path)
    let mut kv_transfer = Vec::new();
    let files: BTreeSet<_> = data.kv_transfer.iter().map(|k| k.at.file.clone()).collect();
    for file in files {
        let rows: Vec<_> = data.kv_transfer.iter().filter(|k| k.at.file == file).collect();
        if rows.len() < 3 {
            continue;
        }
        // too few rows to hold any out: the error is reported on the fitted rows themselves
        let train: Vec<(f64, f64)> = rows.iter().map(|k| (k.bytes as f64, k.latency_s)).collect();
        let params = TransferParams::fit(&train);
        let params = round_params!(params, setup_us, bandwidth_gbps);
        let group = relative(root, &file);
        let pts: Vec<FitPoint> = rows
            .iter()
            .map(|k| FitPoint {
                family: "kv_transfer",
                group: group.clone(),
                measured_s: k.latency_s,
                fitted_s: params.time_s(k.bytes as f64),
                holdout: true,
                preset_shape: true,
                fallback: false,
            })
            .collect();
        let mut error = fit_error(&pts);
        error.fitted_rows = rows.len();
        kv_transfer.push(TransferFit {
            path: group.clone(),
            params,
            source: sources(root, rows.iter().map(|k| k.at.clone()), rows.len()),
            error,
        });
        points.extend(pts);
    }

    let moe = collect(run_parallel(moe_jobs(data, root, &peaks)), &mut points);

    let data_files = data.files.iter().map(|f| (relative(root, &f.path), f.rows)).collect();
    FitOutput {
        calibration: Calibration {
            name: name.to_string(),
            base_gpu: base.name.to_string(),
            generated_by: format!("pdsim calibrate {}", crate::VERSION),
            peaks,
            data: data_files,
            gemm,
            context_attention,
            generation_attention,
            allreduce,
            kv_transfer,
            overhead: Vec::new(),
            moe,
        },
        points,
    }
}

/// MoE layer shapes `(hidden, inter, experts, topk)` of the presets: held-out rows of these are
/// the "preset shape" rows of the MoE fits.
pub fn preset_moe_shapes() -> BTreeSet<(u64, u64, u64, u64)> {
    PRESETS
        .iter()
        .filter_map(|p| ModelSpec::preset(p).ok())
        .filter_map(|m| m.moe.map(|e| (m.hidden_size, e.expert_intermediate, e.experts, e.top_k)))
        .collect()
}

/// MoE routed-expert fits, per framework, weight dtype and expert load, each of the kernel with the
/// most rows of its framework and dtype (ties: the first by name).
fn moe_jobs<'a>(
    data: &'a Dataset,
    root: &'a Path,
    peaks: &'a crate::spec::kernel_params::Peaks,
) -> Vec<Job<'a, MoeFit>> {
    let mut kernels: BTreeMap<(String, GemmDtype), BTreeMap<String, usize>> = BTreeMap::new();
    for m in &data.moe {
        *kernels.entry((m.framework.clone(), m.dtype)).or_default().entry(m.kernel.clone()).or_default() += 1;
    }
    let mut jobs: Vec<Job<'a, MoeFit>> = Vec::new();
    for ((fw, dt), counts) in kernels {
        let most = counts.values().copied().max().unwrap_or(0);
        let kernel = counts.into_iter().find(|(_, n)| *n == most).map(|(k, _)| k).expect("a kernel per group");
        for load in ExpertLoad::ALL {
            let (fw, kernel) = (fw.clone(), kernel.clone());
            jobs.push(Box::new(move || {
                let rows: Vec<_> = data
                    .moe
                    .iter()
                    .filter(|m| m.framework == fw && m.dtype == dt && m.kernel == kernel && m.load == load)
                    .collect();
                let gpu = peaks.gemm_gpu(dt != GemmDtype::Bf16);
                let key = |m: &MoeSample| [m.tokens, m.hidden, m.inter, m.topk, m.experts, m.moe_tp, m.moe_ep];
                let shape = |m: &MoeSample| MoeShape {
                    tokens: m.tokens as f64,
                    hidden: m.hidden as f64,
                    inter_per_gpu: m.inter as f64 / m.moe_tp as f64,
                    topk: m.topk as f64,
                    experts: m.experts as f64,
                    ep: m.moe_ep as f64,
                };
                let train: Vec<(MoeShape, f64)> =
                    rows.iter().filter(|m| !is_holdout(&key(m))).map(|m| (shape(m), m.latency_s)).collect();
                if train.len() < 20 {
                    return None;
                }
                let params = MoeParams::fit(&train, &gpu, load != ExpertLoad::Balanced);
                let params = round_params!(
                    params,
                    launch_us,
                    compute_eff,
                    mem_eff,
                    blend_p,
                    k_prologue,
                    expert_us,
                    act_eff,
                    imbalance,
                    imbalance_exp
                );
                let presets = preset_moe_shapes();
                let group = format!("{fw} {} {}", dtype_name(dt), load.name());
                let pts: Vec<FitPoint> = rows
                    .iter()
                    .map(|m| FitPoint {
                        family: "moe",
                        group: group.clone(),
                        measured_s: m.latency_s,
                        fitted_s: params.time_s(&gpu, &shape(m)),
                        holdout: is_holdout(&key(m)),
                        preset_shape: presets.contains(&(m.hidden, m.inter, m.experts, m.topk)),
                        fallback: false,
                    })
                    .collect();
                let fit = MoeFit {
                    framework: fw.clone(),
                    kernel: kernel.clone(),
                    dtype: dtype_name(dt).to_string(),
                    load: load.name().to_string(),
                    params,
                    source: sources(root, rows.iter().map(|m| m.at.clone()), rows.len()),
                    error: fit_error(&pts),
                };
                Some((fit, pts))
            }));
        }
    }
    jobs
}
