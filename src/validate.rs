//! End-to-end validation against measured serving: each row of an aiconfigurator-style
//! `silicon_sample.csv` (model, backend, agg/disagg, ISL/OSL, concurrency, TP, batch, workers) is
//! simulated as the closed-loop benchmark it was, and measured vs simulated mean TTFT and TPOT are
//! compared. Also fits the one end-to-end parameter pdsim allows itself: a per-backend step overhead.

use std::path::Path;

use crate::calibrate::readers::CalibError;
use crate::core::NS_PER_S;
use crate::input::{RunLimits, Scenario};
use crate::perf::memory::engine_default_memory_fraction;
use crate::runner::{run, RunOptions};
use crate::spec::deployment::*;
use crate::spec::fitted::{Calibration, OverheadFit};
use crate::spec::hardware::{Gpu, HardwareProfile};
use crate::spec::model::{Dtype, ModelSpec};
use crate::spec::workload::{Arrival, LengthDist, WorkloadSpec};

/// One measured deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct SiliconRow {
    pub id: String,
    pub line: u32,
    pub backend: Backend,
    pub model: String,
    pub mode: Mode,
    pub weights_dtype: Dtype,
    /// KV-cache dtype: the `kvcache_quant_mode` column where the file has one; otherwise fp8 for
    /// per-tensor `fp8` GEMM rows, whose ModelOpt FP8 checkpoints also quantize the KV cache
    /// (`kv_cache_quant_algo: FP8` in their `hf_quant_config.json`), bf16 for the rest.
    pub kv_dtype: Dtype,
    pub isl: u32,
    pub osl: u32,
    /// Closed-loop clients (`silicon_concurrency=` in `silicon_data_source`); absent on some rows.
    pub concurrency: Option<u32>,
    pub tp: u32,
    pub batch: u32,
    pub prefill_workers: u32,
    pub prefill_tp: u32,
    pub prefill_batch: u32,
    pub decode_workers: u32,
    pub decode_tp: u32,
    pub decode_batch: u32,
    pub ttft_ms: f64,
    pub tpot_ms: f64,
    /// The GPU it was measured on (the `system` column, e.g. `h100_sxm`), where the file says.
    pub system: Option<String>,
    /// The engine's release (the `backend_version` column), where the file says.
    pub backend_version: Option<EngineVersion>,
    /// MoE layout `(moe_tp, moe_ep)` of the aggregated, prefill and decode workers, from the
    /// `*moe_tp_size` / `*moe_ep_size` columns where the file has them (empty: the engine's default,
    /// experts split by columns over the TP group).
    pub moe: [(Option<u32>, Option<u32>); 3],
    /// Attention data-parallel and pipeline-parallel sizes above 1, anywhere in the row (pdsim
    /// simulates neither yet): `(column, value)`.
    pub unsupported_parallelism: Option<(String, u32)>,
    /// The model the row names: a preset, else `<models>/<org>--<name>.json`, or why neither.
    pub spec: Result<ModelSpec, String>,
}

impl SiliconRow {
    /// Rows whose id hashes even are the ones the per-backend overhead is fitted on.
    pub fn fit_row(&self) -> bool {
        fnv(&self.id) % 2 == 0
    }
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The model a row's `model_path` names: a preset (`ModelSpec::preset`), else the Hugging Face
/// `config.json` at `<models>/<org>--<name>.json` (the file names of `../shared/models`), else why
/// neither.
pub fn model_for(name: &str, models: Option<&Path>) -> Result<ModelSpec, String> {
    let preset = match ModelSpec::preset(name) {
        Ok(m) => return Ok(m),
        Err(e) => e,
    };
    if let crate::spec::model::ModelError::NotYet { .. } = preset {
        return Err(preset.to_string());
    }
    let Some(dir) = models else { return Err(preset.to_string()) };
    let file = dir.join(format!("{}.json", name.replace('/', "--")));
    match std::fs::read_to_string(&file) {
        Ok(text) => ModelSpec::from_hf_json(&text, &file.to_string_lossy()).map_err(|e| e.to_string()),
        Err(_) => Err(format!("{preset}; no {} either", file.display())),
    }
}

/// Reads `silicon_sample.csv`, its models as presets only ([`read_silicon_with_models`]).
pub fn read_silicon(path: &Path) -> Result<Vec<SiliconRow>, CalibError> {
    read_silicon_with_models(path, None)
}

/// Reads `silicon_sample.csv`, each row's model by [`model_for`] in `models`. Malformed rows, or
/// rows of a mode pdsim does not model, are errors naming the line; a model pdsim cannot read is
/// the row's reason not to simulate it.
pub fn read_silicon_with_models(path: &Path, models: Option<&Path>) -> Result<Vec<SiliconRow>, CalibError> {
    let shown = path.to_path_buf();
    let text = std::fs::read_to_string(path).map_err(|source| CalibError::Io { path: shown.clone(), source })?;
    let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
    let header = rdr.headers().map_err(|e| bad(&shown, 1, 1, format!("unreadable header: {e}")))?.clone();
    let col = |name: &str| -> Result<usize, CalibError> {
        header.iter().position(|h| h == name).ok_or_else(|| bad(&shown, 1, 1, format!("no column '{name}'")))
    };
    let c = [
        "id",
        "silicon_data_source",
        "backend",
        "model_path",
        "mode",
        "precision",
        "gemm_quant_mode",
        "isl",
        "osl",
        "batch_size",
        "tp_size",
        "prefill_batch_size",
        "prefill_num_workers",
        "prefill_tp_size",
        "decode_batch_size",
        "decode_num_workers",
        "decode_tp_size",
        "silicon_ttft_ms",
        "silicon_tpot_ms",
    ]
    .map(col);
    let kv_col = header.iter().position(|h| h == "kvcache_quant_mode");
    let system_col = header.iter().position(|h| h == "system");
    let version_col = header.iter().position(|h| h == "backend_version");
    let opt_col = |name: &str| header.iter().position(|h| h == name);
    let moe_cols =
        ["", "prefill_", "decode_"].map(|p| (opt_col(&format!("{p}moe_tp_size")), opt_col(&format!("{p}moe_ep_size"))));
    let other_cols: Vec<(String, usize)> = ["", "prefill_", "decode_"]
        .iter()
        .flat_map(|p| [format!("{p}attention_dp_size"), format!("{p}pp_size")])
        .filter_map(|c| opt_col(&c).map(|i| (c, i)))
        .collect();
    let mut idx = [0usize; 19];
    for (i, r) in c.into_iter().enumerate() {
        idx[i] = r?;
    }
    let mut rows = Vec::new();
    for (n, rec) in rdr.records().enumerate() {
        let line = n as u32 + 2;
        let rec = rec.map_err(|e| bad(&shown, line, 1, e.to_string()))?;
        let get = |i: usize| rec.get(idx[i]).unwrap_or("").trim();
        let num = |i: usize, what: &str| -> Result<Option<f64>, CalibError> {
            let v = get(i);
            if v.is_empty() {
                return Ok(None);
            }
            match v.parse::<f64>() {
                Ok(x) if x.is_finite() && x > 0.0 => Ok(Some(x)),
                _ => Err(bad(&shown, line, idx[i] + 1, format!("{what}: expected a positive number, got '{v}'"))),
            }
        };
        let count = |i: usize, what: &str| -> Result<u32, CalibError> { Ok(num(i, what)?.unwrap_or(0.0) as u32) };
        let backend = match get(2) {
            "trtllm" => Backend::Trtllm,
            "vllm" => Backend::Vllm,
            "sglang" => Backend::Sglang,
            other => {
                return Err(bad(
                    &shown,
                    line,
                    idx[2] + 1,
                    format!("backend: expected trtllm, vllm or sglang, got '{other}'"),
                ))
            }
        };
        let mode = match get(4) {
            "agg" => Mode::Aggregated,
            "disagg" => Mode::Disaggregated,
            other => return Err(bad(&shown, line, idx[4] + 1, format!("mode: expected agg or disagg, got '{other}'"))),
        };
        let fp8 = get(5) == "fp8" || get(6).starts_with("fp8");
        let kv_fp8 = match kv_col.and_then(|i| rec.get(i)).map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => v.starts_with("fp8"),
            None => get(6) == "fp8",
        };
        let small = |i: Option<usize>, what: &str| -> Result<Option<u32>, CalibError> {
            let Some(i) = i else { return Ok(None) };
            let v = rec.get(i).unwrap_or("").trim();
            if v.is_empty() {
                return Ok(None);
            }
            match v.parse::<f64>() {
                // some rows write 0 for "not used"
                Ok(0.0) => Ok(None),
                Ok(x) if x >= 1.0 && x.fract() == 0.0 && x <= 4096.0 => Ok(Some(x as u32)),
                _ => Err(bad(&shown, line, i + 1, format!("{what}: expected a whole number of GPUs, got '{v}'"))),
            }
        };
        let mut moe = [(None, None); 3];
        for (slot, &(t, e)) in moe.iter_mut().zip(&moe_cols) {
            *slot = (small(t, "moe_tp_size")?, small(e, "moe_ep_size")?);
        }
        let mut unsupported_parallelism = None;
        for (name, i) in &other_cols {
            if let Some(n) = small(Some(*i), name)?.filter(|&n| n > 1) {
                unsupported_parallelism.get_or_insert((name.clone(), n));
            }
        }
        let concurrency = get(1)
            .split(';')
            .find_map(|kv| kv.trim().strip_prefix("silicon_concurrency="))
            .and_then(|v| v.trim().parse::<u32>().ok());
        rows.push(SiliconRow {
            id: get(0).to_string(),
            line,
            backend,
            model: get(3).to_string(),
            mode,
            weights_dtype: if get(6) == "fp8_block" {
                Dtype::Fp8Block
            } else if fp8 {
                Dtype::Fp8
            } else {
                Dtype::Bf16
            },
            kv_dtype: if kv_fp8 { Dtype::Fp8 } else { Dtype::Bf16 },
            isl: count(7, "isl")?,
            osl: count(8, "osl")?,
            concurrency,
            tp: count(10, "tp_size")?.max(1),
            batch: count(9, "batch_size")?,
            prefill_batch: count(11, "prefill_batch_size")?,
            prefill_workers: count(12, "prefill_num_workers")?,
            prefill_tp: count(13, "prefill_tp_size")?.max(1),
            decode_batch: count(14, "decode_batch_size")?,
            decode_workers: count(15, "decode_num_workers")?,
            decode_tp: count(16, "decode_tp_size")?.max(1),
            ttft_ms: num(17, "silicon_ttft_ms")?
                .ok_or_else(|| bad(&shown, line, idx[17] + 1, "silicon_ttft_ms: missing".into()))?,
            tpot_ms: num(18, "silicon_tpot_ms")?
                .ok_or_else(|| bad(&shown, line, idx[18] + 1, "silicon_tpot_ms: missing".into()))?,
            system: system_col.and_then(|i| rec.get(i)).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string),
            backend_version: version_col.and_then(|i| rec.get(i)).and_then(EngineVersion::parse),
            moe,
            unsupported_parallelism,
            spec: model_for(get(3), models),
        });
    }
    Ok(rows)
}

fn bad(path: &Path, line: u32, column: usize, msg: String) -> CalibError {
    CalibError::Inconsistent {
        path: path.to_path_buf(),
        line,
        column: column as u32,
        problem: msg,
        expected: "a silicon_sample.csv row".into(),
    }
}

/// Token budget of one step when the row does not say: TensorRT-LLM's `max_num_tokens` and
/// SGLang's `chunked_prefill_size` both default to 8192.
pub const DEFAULT_STEP_TOKENS: u32 = 8192;

/// The closed-loop scenario a row measured, or why it cannot be simulated. What the row leaves
/// empty is the engine's default (memory fraction: [`engine_default_memory_fraction`]).
pub fn scenario_for(row: &SiliconRow, hw: &HardwareProfile) -> Result<Scenario, String> {
    // a row is scored only on a profile of the GPU it was measured on
    if let Some(system) = &row.system {
        match (Gpu::find(system), hw.gpu()) {
            (Some(g), Some(h)) if g.name == h.name => {}
            (Some(g), _) => {
                return Err(format!(
                    "measured on {system}, simulated on {}: pass --hardware {} (or {}) to score it",
                    hw.name, g.name, g.spec_name
                ))
            }
            (None, _) => return Err(format!("measured on {system}, a GPU pdsim has no profile of")),
        }
    }
    let model = row.spec.clone()?;
    if let Some((column, n)) = &row.unsupported_parallelism {
        return Err(format!("{column} {n}: pdsim does not simulate attention data or pipeline parallelism yet"));
    }
    // each pool's MoE layout from its columns: EP given, else MoE TP given, else the engine default;
    // dense models' rows fill them too (1 and 1), meaning nothing
    let layout = |tp: u32, (mtp, ep): (Option<u32>, Option<u32>)| -> Result<Parallelism, String> {
        if model.moe.is_none() {
            return Ok(Parallelism::tp(tp));
        }
        let p = match (mtp, ep) {
            (_, Some(ep)) => Parallelism::expert_parallel(tp, ep),
            (Some(m), None) if m > 0 && tp % m == 0 => Parallelism::expert_parallel(tp, tp / m),
            (Some(_), None) => None,
            (None, None) => Some(Parallelism::tp(tp)),
        };
        match p {
            Some(p) if mtp.is_none_or(|m| m == p.moe_tp) => Ok(p),
            _ => Err(format!(
                "moe_tp_size {} x moe_ep_size {} is not the TP size {tp}",
                mtp.map_or("-".into(), |m| m.to_string()),
                ep.map_or("-".into(), |e| e.to_string())
            )),
        }
    };
    let (agg_par, prefill_par, decode_par) =
        (layout(row.tp, row.moe[0])?, layout(row.prefill_tp, row.moe[1])?, layout(row.decode_tp, row.moe[2])?);
    let concurrency = row.concurrency.ok_or("no silicon_concurrency in silicon_data_source")?;
    let step_tok = DEFAULT_STEP_TOKENS.max(row.isl);
    let agg = AggregatedPoolConfig {
        replicas: 1,
        parallelism: agg_par,
        max_batch_size: row.batch.max(1),
        max_batch_tokens: DEFAULT_STEP_TOKENS,
        max_input_length: row.isl.max(1),
        max_output_length: row.osl.max(1),
        kv_cache_memory_fraction: engine_default_memory_fraction(row.backend, hw.gpu_memory_bytes, agg_par),
        // the rows leave both at TensorRT-LLM's defaults
        enable_chunked_context: false,
        disable_overlap_scheduler: false,
    };
    let (topology, other_topology) = Topology::both(
        row.mode,
        PrefillPoolConfig {
            replicas: row.prefill_workers.max(1),
            parallelism: prefill_par,
            max_batch_size: row.prefill_batch.max(1),
            max_batch_tokens: step_tok,
            max_input_length: row.isl.max(1),
        },
        DecodePoolConfig {
            replicas: row.decode_workers.max(1),
            parallelism: decode_par,
            max_batch_size: row.decode_batch.max(1),
            max_output_length: row.osl.max(1),
            kv_cache_memory_fraction: engine_default_memory_fraction(row.backend, hw.gpu_memory_bytes, decode_par),
            disable_overlap_scheduler: false,
        },
        // Dynamo moves KV with NIXL
        KvTransferConfig { backend: KvBackend::Nixl, compression: Compression::None, max_in_flight_transfers: 64 },
        agg,
    );
    let d = ClusterConfig::dynamo_defaults(row.mode);
    let cluster = ClusterConfig {
        backend: row.backend,
        backend_version: row.backend_version,
        frontend: FrontendConfig { max_concurrent_requests: concurrency.max(1), request_timeout_ns: 3600 * NS_PER_S },
        topology,
        ..d
    };
    let requests = (8 * concurrency as u64).clamp(200, 2000);
    let s = Scenario {
        name: row.id.clone(),
        sources: Vec::new(),
        model,
        weights_dtype: row.weights_dtype,
        kv_dtype: row.kv_dtype,
        hardware: hw.clone(),
        cluster,
        other_topology,
        workload: WorkloadSpec::Synthetic {
            arrival: Arrival::ClosedLoop { concurrency, ramp_up_ns: 0 },
            isl: LengthDist::Fixed(row.isl.max(1)),
            osl: LengthDist::Fixed(row.osl.max(1)),
        },
        limits: RunLimits { requests: Some(requests), duration_ns: None },
        seed: 1,
        // validate scores latency only: no cost is reported, so a GPU without a list price needs none
        usd_per_gpu_hour: hw.usd_per_gpu_hour_default.unwrap_or(0.0),
        autoscaler: None,
        alerts: Default::default(),
    };
    crate::input::deployment::validate_deployment(&s).map_err(|e| e.to_string())?;
    Ok(s)
}

/// How a row is run: summary only, no time series.
fn row_run() -> RunOptions {
    RunOptions { timeseries_interval_ns: 0, ..RunOptions::default() }
}

/// Measured vs simulated for one row.
#[derive(Debug, Clone, PartialEq)]
pub struct RowResult {
    pub row: SiliconRow,
    /// Mean TTFT and TPOT of the benchmark as it runs (every client starting at t = 0), or
    /// `Err(reason)` when the row could not be simulated.
    pub simulated: Result<(f64, f64), String>,
    /// Mean TTFT with the same clients started one by one over one request's time (see
    /// [`spread_ttft`]), when asked for: with the lockstep TTFT above, the extremes of what the
    /// row's unrecorded start pattern can give.
    pub spread_ttft_ms: Option<f64>,
}

impl RowResult {
    /// Absolute relative errors of TTFT and TPOT.
    pub fn errors(&self) -> Option<(f64, f64)> {
        let (ttft, tpot) = *self.simulated.as_ref().ok()?;
        Some(((ttft / self.row.ttft_ms - 1.0).abs(), (tpot / self.row.tpot_ms - 1.0).abs()))
    }

    /// The simulated TTFT range `(low, high)` over the start patterns, when the spread run was made.
    pub fn ttft_range_ms(&self) -> Option<(f64, f64)> {
        let (lockstep, _) = *self.simulated.as_ref().ok()?;
        let spread = self.spread_ttft_ms?;
        Some((lockstep.min(spread), lockstep.max(spread)))
    }

    /// Whether the measured TTFT lies in [`Self::ttft_range_ms`].
    pub fn measured_in_ttft_range(&self) -> Option<bool> {
        self.ttft_range_ms().map(|(lo, hi)| (lo..=hi).contains(&self.row.ttft_ms))
    }
}

/// The benchmark's lengths `row` says are not recorded in it: how its client started its `c`
/// clients. Simulated once with every client at t = 0 (aiperf, genai-perf and `benchmark_serving`
/// at their defaults), whose fixed lengths keep the groups of the first instant for the whole run,
/// and once with the clients ramped up over one request's simulated time (`lockstep_e2e_ms`), so
/// that no two start together: the mean TTFT of the second is the other end of the plausible range.
pub fn spread_ttft(s: &Scenario, lockstep_e2e_ms: f64) -> Result<f64, String> {
    let mut s = s.clone();
    if let Some(Arrival::ClosedLoop { ramp_up_ns, .. }) = s.workload.arrival_mut() {
        *ramp_up_ns = (lockstep_e2e_ms * 1e6).round() as u64;
    }
    let r = run(&s, &row_run()).map_err(|e| e.to_string())?;
    Ok(r.summary.ttft_ms.mean)
}

/// Simulates each row (in parallel; results in row order), and with `spread` also the row with its
/// clients spread out ([`spread_ttft`]).
pub fn simulate_rows(rows: &[SiliconRow], hw: &HardwareProfile, spread: bool) -> Vec<RowResult> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out: Vec<std::sync::Mutex<Option<RowResult>>> = rows.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(row) = rows.get(i) else { break };
                let mut spread_ttft_ms = None;
                let simulated = scenario_for(row, hw).and_then(|s| {
                    let r = run(&s, &row_run()).map_err(|e| e.to_string())?;
                    let (ttft, tpot) = (r.summary.ttft_ms.mean, r.summary.tpot_ms.mean);
                    if spread {
                        let e2e_ms = ttft + tpot * row.osl.saturating_sub(1) as f64;
                        spread_ttft_ms = spread_ttft(&s, e2e_ms).ok();
                    }
                    Ok((ttft, tpot))
                });
                *out[i].lock().expect("row slot") = Some(RowResult { row: row.clone(), simulated, spread_ttft_ms });
            });
        }
    });
    out.into_iter().map(|m| m.into_inner().expect("row slot").expect("every row simulated")).collect()
}

fn with_overhead(hw: &HardwareProfile, backend: Backend, overhead_us: f64, source: &str) -> HardwareProfile {
    let mut cal: Calibration = hw.calibration.as_deref().cloned().expect("a calibrated profile");
    cal.overhead.retain(|o| o.backend != backend.name());
    cal.overhead.push(OverheadFit {
        backend: backend.name().into(),
        step_overhead_us: overhead_us,
        source: source.into(),
    });
    cal.overhead.sort_by(|a, b| a.backend.cmp(&b.backend));
    HardwareProfile { calibration: Some(std::sync::Arc::new(cal)), ..hw.clone() }
}

/// Fits each backend's per-step overhead on its fit rows ([`SiliconRow::fit_row`]): the value in
/// [0, 20 ms] minimising the summed squared log error of mean TTFT and TPOT (golden-section search
/// over the square root of the overhead, 24 steps). Returns the profile with the overheads set.
pub fn fit_overheads(rows: &[SiliconRow], hw: &HardwareProfile, file: &str) -> HardwareProfile {
    let mut hw = hw.clone();
    for backend in [Backend::Trtllm, Backend::Vllm, Backend::Sglang] {
        let fit_rows: Vec<SiliconRow> = rows
            .iter()
            .filter(|r| r.backend == backend && r.fit_row() && scenario_for(r, &hw).is_ok())
            .cloned()
            .collect();
        if fit_rows.is_empty() {
            continue;
        }
        let loss = |overhead_us: f64| -> f64 {
            let h = with_overhead(&hw, backend, overhead_us, "");
            simulate_rows(&fit_rows, &h, false)
                .iter()
                .filter_map(|r| {
                    let (ttft, tpot) = *r.simulated.as_ref().ok()?;
                    Some((ttft / r.row.ttft_ms).ln().powi(2) + (tpot / r.row.tpot_ms).ln().powi(2))
                })
                .sum()
        };
        // golden section on sqrt(overhead_us) in [0, sqrt(20000)]
        let (mut a, mut b) = (0.0f64, 20000f64.sqrt());
        let g = (5f64.sqrt() - 1.0) / 2.0;
        let mut c = b - g * (b - a);
        let mut d = a + g * (b - a);
        let (mut fc, mut fd) = (loss(c * c), loss(d * d));
        for _ in 0..24 {
            if fc < fd {
                b = d;
                d = c;
                fd = fc;
                c = b - g * (b - a);
                fc = loss(c * c);
            } else {
                a = c;
                c = d;
                fc = fd;
                d = a + g * (b - a);
                fd = loss(d * d);
            }
        }
        let x = (a + b) / 2.0;
        let overhead = ((x * x) * 10.0).round() / 10.0;
        let ids = fit_rows.len();
        let source = format!("{file}: {ids} {} rows (even id hash), mean TTFT and TPOT", backend.name());
        hw = with_overhead(&hw, backend, overhead, &source);
    }
    hw
}

fn percentile(mut v: Vec<f64>, q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Median and p90 absolute relative error of TTFT and TPOT over `results`.
pub fn error_summary<'a>(results: impl Iterator<Item = &'a RowResult>) -> (usize, [f64; 4]) {
    let errs: Vec<(f64, f64)> = results.filter_map(|r| r.errors()).collect();
    let ttft: Vec<f64> = errs.iter().map(|e| e.0).collect();
    let tpot: Vec<f64> = errs.iter().map(|e| e.1).collect();
    (
        errs.len(),
        [percentile(ttft.clone(), 0.5), percentile(ttft, 0.9), percentile(tpot.clone(), 0.5), percentile(tpot, 0.9)],
    )
}

/// The validation report: error per backend (all rows, fit rows, other rows), then every row.
pub fn report_markdown(results: &[RowResult], file: &str, hw: &HardwareProfile) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let pct = |x: f64| if x.is_nan() { "-".to_string() } else { format!("{:.1}%", x * 100.0) };
    let _ = writeln!(o, "# Validation against measured serving: {file}\n");
    let _ = writeln!(
        o,
        "Hardware profile: {}. Each row is simulated as its closed-loop benchmark (fixed ISL/OSL,",
        hw.name
    );
    let _ =
        writeln!(o, "`silicon_concurrency` clients); errors are |simulated/measured - 1| of mean TTFT and mean TPOT.");
    if let Some(cal) = hw.calibration.as_deref() {
        for ov in &cal.overhead {
            let _ = writeln!(
                o,
                "Per-step overhead {}: {:.1} us, fitted on {}.",
                ov.backend, ov.step_overhead_us, ov.source
            );
        }
    }
    let _ = writeln!(
        o,
        "The rows do not record how the benchmark started its clients. TTFT is simulated with every client \
         starting at t = 0 (aiperf's, genai-perf's and benchmark_serving's default), which keeps the groups of \
         the first instant, and again with the clients ramped up over one request's time; \"in TTFT range\" is \
         the share of rows whose measured TTFT lies between the two."
    );
    let _ = writeln!(o, "\n| backend | rows | TTFT median | TTFT p90 | TPOT median | TPOT p90 | rows not fitted on | TTFT median | TPOT median | in TTFT range |");
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|");
    for backend in [Backend::Trtllm, Backend::Vllm, Backend::Sglang] {
        let all = || results.iter().filter(move |r| r.row.backend == backend);
        let (n, e) = error_summary(all());
        let (m, f) = error_summary(all().filter(|r| !r.row.fit_row()));
        let judged: Vec<bool> = all().filter_map(|r| r.measured_in_ttft_range()).collect();
        let in_range = if judged.is_empty() {
            "-".to_string()
        } else {
            format!("{} of {}", judged.iter().filter(|&&x| x).count(), judged.len())
        };
        let _ = writeln!(
            o,
            "| {} | {n} | {} | {} | {} | {} | {m} | {} | {} | {in_range} |",
            backend.name(),
            pct(e[0]),
            pct(e[1]),
            pct(e[2]),
            pct(e[3]),
            pct(f[0]),
            pct(f[2])
        );
    }
    let skipped: Vec<&RowResult> = results.iter().filter(|r| r.simulated.is_err()).collect();
    if !skipped.is_empty() {
        let _ = writeln!(o, "\nNot simulated ({}):", skipped.len());
        for r in skipped {
            let _ =
                writeln!(o, "- line {} `{}`: {}", r.row.line, r.row.id, r.simulated.as_ref().err().map_or("", |e| e));
        }
    }
    o
}

/// Writes `validation.csv` (one row per measured deployment), `report.md`, and measured-vs-simulated
/// TTFT and TPOT scatter plots (PNG and SVG), all or nothing.
pub fn write_outputs(dir: &Path, results: &[RowResult], report: &str) -> Result<(), crate::report::ReportError> {
    use crate::report::plot::{render_png, render_svg, scatter_measured_vs_fitted, Series, SeriesStyle};
    use crate::report::ReportError;
    use std::fmt::Write as _;
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })?;
    let mut csv = String::from(
        "line,id,backend,mode,isl,osl,concurrency,tp,batch,fit_row,measured_ttft_ms,simulated_ttft_ms,measured_tpot_ms,simulated_tpot_ms,note,simulated_ttft_spread_ms,measured_in_ttft_range\n",
    );
    for r in results {
        let (st, sp, note) = match &r.simulated {
            Ok((a, b)) => (format!("{a:.3}"), format!("{b:.3}"), String::new()),
            Err(e) => (String::new(), String::new(), e.replace(',', ";")),
        };
        let w = &r.row;
        let spread = r.spread_ttft_ms.map(|t| format!("{t:.3}")).unwrap_or_default();
        let inside = r.measured_in_ttft_range().map(|b| b.to_string()).unwrap_or_default();
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{:.3},{st},{:.3},{sp},{note},{spread},{inside}",
            w.line,
            w.id,
            w.backend.name(),
            if w.mode == Mode::Aggregated { "agg" } else { "disagg" },
            w.isl,
            w.osl,
            w.concurrency.map(|c| c.to_string()).unwrap_or_default(),
            w.tp,
            w.batch,
            w.fit_row(),
            w.ttft_ms,
            w.tpot_ms
        );
    }
    let mut files: Vec<(String, Vec<u8>)> =
        vec![("validation.csv".into(), csv.into_bytes()), ("report.md".into(), report.as_bytes().to_vec())];
    for (metric, pick) in [("ttft", 0usize), ("tpot", 1usize)] {
        let ok: Vec<&RowResult> = results.iter().filter(|r| r.simulated.is_ok()).collect();
        let xy: Vec<(f64, f64)> = ok
            .iter()
            .map(|r| {
                let (t, p) = *r.simulated.as_ref().expect("filtered");
                if pick == 0 {
                    (r.row.ttft_ms, t)
                } else {
                    (r.row.tpot_ms, p)
                }
            })
            .collect();
        let groups: Vec<&str> = ok.iter().map(|r| r.row.backend.name()).collect();
        let mut chart = scatter_measured_vs_fitted(
            &format!("{}: measured vs simulated", metric.to_uppercase()),
            "ms",
            &xy,
            &groups,
        );
        chart.y_label = "simulated (ms)".into();
        if pick == 0 {
            // each backend's rows' simulated TTFT range over the client start, behind its points
            let mut ranges = Vec::new();
            for (i, s) in chart.series.iter_mut().enumerate() {
                s.palette = Some(i);
                let pts: Vec<(f64, f64)> = ok
                    .iter()
                    .filter(|r| r.row.backend.name() == s.label)
                    .filter_map(|r| r.ttft_range_ms().map(|(lo, hi)| [(r.row.ttft_ms, lo), (r.row.ttft_ms, hi)]))
                    .flatten()
                    .collect();
                if !pts.is_empty() {
                    let label = format!("{} range over the client start", s.label);
                    ranges
                        .push(Series { palette: Some(i % 10 + 10), ..Series::new(label, pts, SeriesStyle::Segments) });
                }
            }
            // drawn first, behind the points, in their backend's light tint
            chart.series.splice(0..0, ranges);
            chart.title = "TTFT: measured vs simulated (bars: all clients at t = 0 to clients spread)".into();
        }
        let encode =
            |e: crate::report::plot::PlotError| ReportError::Encode { path: dir.join(metric), msg: e.to_string() };
        files.push((format!("{metric}.png"), render_png(&chart, 900, 700).map_err(encode)?));
        files.push((format!("{metric}.svg"), render_svg(&chart, 900, 700).map_err(encode)?.into_bytes()));
    }
    for (name, bytes) in &files {
        crate::report::write_atomic(dir, name, bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "id,silicon_data_source,backend,model_path,mode,precision,gemm_quant_mode,isl,osl,batch_size,tp_size,prefill_batch_size,prefill_num_workers,prefill_tp_size,decode_batch_size,decode_num_workers,decode_tp_size,silicon_ttft_ms,silicon_tpot_ms";

    fn read(text: &str) -> Result<Vec<SiliconRow>, CalibError> {
        let dir = std::env::temp_dir().join(format!("pdsim-silicon-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("s{}.csv", fnv(text)));
        std::fs::write(&path, text).unwrap();
        read_silicon(&path)
    }

    #[test]
    fn fp8_rows_store_kv_in_fp8_unless_a_kv_column_says_otherwise() {
        let row = |prec: &str, gemm: &str| {
            format!("r,silicon_concurrency=8,trtllm,Qwen/Qwen3-32B,agg,{prec},{gemm},1024,128,8,1,,,,,,,100,10")
        };
        let rows =
            read(&format!("{HEADER}\n{}\n{}\n{}\n", row("fp8", "fp8"), row("", ""), row("fp8", "fp8_block"))).unwrap();
        assert_eq!((rows[0].weights_dtype, rows[0].kv_dtype), (Dtype::Fp8, Dtype::Fp8));
        assert_eq!((rows[1].weights_dtype, rows[1].kv_dtype), (Dtype::Bf16, Dtype::Bf16));
        assert_eq!((rows[2].weights_dtype, rows[2].kv_dtype), (Dtype::Fp8Block, Dtype::Bf16));
        assert_eq!(rows[0].concurrency, Some(8));
        let with_kv = format!("{HEADER},kvcache_quant_mode\n{},bfloat16\n{},fp8\n", row("fp8", "fp8"), row("", ""));
        let rows = read(&with_kv).unwrap();
        assert_eq!(rows[0].kv_dtype, Dtype::Bf16);
        assert_eq!(rows[1].kv_dtype, Dtype::Fp8);
    }

    #[test]
    fn bad_rows_name_line_and_column() {
        let text = format!("{HEADER}\nr,silicon_concurrency=8,trtllm,Qwen/Qwen3-32B,agg,,,1024,128,8,1,,,,,,,-5,10\n");
        let err = read(&text).unwrap_err().to_string();
        assert!(err.contains(":2:18") && err.contains("silicon_ttft_ms"), "{err}");
    }

    /// A row is scored only on a profile of the GPU that measured it.
    #[test]
    fn a_row_is_simulated_only_on_its_own_gpu() {
        let row = |system: &str| {
            format!("r,silicon_concurrency=8,trtllm,Qwen/Qwen3-32B,agg,,,1024,128,8,1,,,,,,,100,10,{system}")
        };
        let text =
            format!("{HEADER},system\n{}\n{}\n{}\n{}\n", row("h100_sxm"), row("h200_sxm"), row("gb300"), row(""));
        let rows = read(&text).unwrap();
        let h100 = HardwareProfile::h100_sxm();
        let h200 = HardwareProfile::by_name("h200-sxm-spec").unwrap();
        assert!(scenario_for(&rows[0], &h100).is_ok());
        let e = scenario_for(&rows[1], &h100).err().unwrap();
        assert!(e.contains("h200_sxm") && e.contains("--hardware h200-sxm"), "{e}");
        assert!(scenario_for(&rows[1], &h200).is_ok());
        assert!(scenario_for(&rows[0], &h200).err().unwrap().contains("--hardware h100-sxm"));
        assert!(scenario_for(&rows[2], &h100).err().unwrap().contains("no profile"));
        // a file without the column is taken to be of the profile's GPU
        assert_eq!(rows[3].system, None);
        assert!(scenario_for(&rows[3], &h200).is_ok());
    }
}
