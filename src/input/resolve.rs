//! From merged [`Settings`] to a validated [`Scenario`]: defaults, parsing of every value, range checks, then
//! [`crate::input::deployment::validate_deployment`]. Every error names where the value came from and its field.
//!
//! Defaults: hardware `h100-sxm`; backend `trtllm`; mode `disaggregated` when the deployment has a prefill
//! pool, else `aggregated`; dtypes `bf16`; router `round_robin`; frontend maxConcurrentRequests 4096,
//! requestTimeoutMs 600000; prefill replicas 1, tp 1, maxBatchSize 8, maxBatchTokens 16384, maxInputLength
//! 131072; decode replicas 1, tp 1, maxBatchSize 64, maxOutputLength 131072, kvCacheMemoryFraction 0.8;
//! aggregated: each setting from `aggregated.*`, else the decode component's, else replicas 1, tp 1,
//! maxBatchSize 64, maxBatchTokens 8192, maxInputLength 131072, maxOutputLength 131072,
//! kvCacheMemoryFraction 0.8; kvTransfer tcp, no compression, 16 transfers in flight, 512 KiB blocks;
//! workload kind poisson, gamma cv 1, trace speedup 1; seed 42; price from the hardware profile.

use std::path::PathBuf;

use super::error::ScenarioError;
use super::settings::{Settings, Val, Value};
use super::{RunLimits, Scenario};
use crate::spec::autoscaler::{
    AutoscalerConfig, ColdStart, Policy, PoolScaling, Predictor, ScaleDown, ScaleUp, DEFAULT_CONTAINER_START_NS,
    DEFAULT_STORAGE_BYTES_PER_S, PROMETHEUS_DEFAULT_SCRAPE_NS,
};
use crate::spec::deployment::{
    AggregatedPoolConfig, Backend, ClusterConfig, Compression, DecodePoolConfig, FrontendConfig, KvBackend,
    KvRouterConfig, KvTransferConfig, Mode, Parallelism, PrefillPoolConfig, PrefixCacheCapacity, RouterPolicy,
};
use crate::spec::hardware::HardwareProfile;
use crate::spec::model::{Dtype, ModelSpec};
use crate::spec::workload::{Arrival, LengthDist, PrefixSpec, SessionSpec, TraceFormat, TraceOptions, WorkloadSpec};

const DEFAULT_HARDWARE: &str = "h100-sxm";
const DEFAULT_SEED: u64 = 42;
const DEFAULT_MAX_LENGTH: u32 = 131_072;

type Res<T> = Result<T, ScenarioError>;

/// Typed access to the settings.
struct Get<'a> {
    s: &'a Settings,
}

impl<'a> Get<'a> {
    fn val(&self, key: &str) -> Option<&'a Val> {
        self.s.get(key)
    }

    /// The scalar text of `key` and its `Val`.
    fn text(&self, key: &str) -> Res<Option<(&'a str, &'a Val)>> {
        match self.val(key) {
            None => Ok(None),
            Some(v) => match v.text() {
                Some(t) => Ok(Some((t, v))),
                None => Err(ScenarioError::invalid(&v.origin, &v.field, "expected a scalar, got a mapping")),
            },
        }
    }

    fn opt<T>(&self, key: &str, f: impl FnOnce(&str) -> Result<T, String>) -> Res<Option<T>> {
        match self.text(key)? {
            None => Ok(None),
            Some((t, v)) => f(t).map(Some).map_err(|m| ScenarioError::invalid(&v.origin, &v.field, m)),
        }
    }

    fn or<T>(&self, key: &str, default: T, f: impl FnOnce(&str) -> Result<T, String>) -> Res<T> {
        Ok(self.opt(key, f)?.unwrap_or(default))
    }

    /// The first of `keys` that is set, parsed; else `default`.
    fn first<T>(&self, keys: &[&str], default: T, f: impl FnOnce(&str) -> Result<T, String>) -> Res<T> {
        match keys.iter().find(|k| self.val(k).is_some()) {
            Some(k) => self.or(k, default, f),
            None => Ok(default),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Value parsers: Err says what was expected and what was found.
// ---------------------------------------------------------------------------------------------------------

fn positive_u32(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a positive integer, got {s}")),
    }
}

fn non_negative_u32(s: &str) -> Result<u32, String> {
    s.trim().parse::<u32>().map_err(|_| format!("expected a non-negative integer, got {s}"))
}

fn positive_u64(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a positive integer, got {s}")),
    }
}

fn any_u64(s: &str) -> Result<u64, String> {
    s.trim().parse::<u64>().map_err(|_| format!("expected a non-negative integer, got {s}"))
}

fn positive_f64(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("expected a number > 0, got {s}")),
    }
}

fn non_negative_f64(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("expected a number >= 0, got {s}")),
    }
}

fn fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 1.0 => Ok(x),
        _ => Err(format!("expected a fraction in (0, 1], got {s}")),
    }
}

/// A TP size: a power of two that fits one NVLink node (`gpus_per_node`, 8 on HGX H100), since a TP group's
/// two all-reduces per layer must stay on NVLink.
fn tp_size(gpus_per_node: u32) -> impl Fn(&str) -> Result<u32, String> {
    move |s| match s.trim().parse::<u32>() {
        Ok(n) if n.is_power_of_two() && n <= gpus_per_node => Ok(n),
        _ => Err(format!(
            "expected a power of two from 1 to {gpus_per_node} (a TP group must fit in one {gpus_per_node}-GPU \
             NVLink node), got {s}"
        )),
    }
}

/// `600` (seconds), `600s`, `1500ms`, `10m`, `1h`, `1.5h`.
pub(crate) fn duration_ns(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let bad = || format!("expected a duration > 0 such as 600, 600s, 1500ms, 10m or 1h, got {s}");
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e6)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1e9)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60e9)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600e9)
    } else {
        (t, 1e9)
    };
    let x: f64 = num.trim().parse().map_err(|_| bad())?;
    let ns = x * scale;
    if !(ns.is_finite() && ns >= 1.0 && ns < u64::MAX as f64) {
        return Err(bad());
    }
    Ok(ns.round() as u64)
}

/// One of `options` (case-insensitive, `-` and `_` alike).
fn choice<'a, T: Copy>(options: &'a [(&'a str, T)]) -> impl Fn(&str) -> Result<T, String> + 'a {
    move |s| {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        options.iter().find(|(n, _)| *n == norm).map(|(_, v)| *v).ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            format!("expected one of {}, got {s}", names.join(", "))
        })
    }
}

fn is_off(s: &str) -> bool {
    matches!(s.trim().to_ascii_lowercase().as_str(), "off" | "false" | "none" | "disabled" | "0")
}

/// Resolves defaults, parses and checks every setting, and checks that the deployment can run.
pub(crate) fn resolve(s: &Settings) -> Res<Scenario> {
    let g = Get { s };

    let hw_name = g.text("hardware")?;
    let hardware = match hw_name {
        None => HardwareProfile::by_name(DEFAULT_HARDWARE).expect("the default hardware profile exists"),
        Some((t, v)) => {
            HardwareProfile::by_name(t).map_err(|e| ScenarioError::invalid(&v.origin, &v.field, e.to_string()))?
        }
    };
    let model = match g.text("model")? {
        None => return Err(ScenarioError::document(
            &s.scenario_origin(),
            "no model: expected `model:` in the Scenario document, `spec.model` in the deployment, or --set model=...",
        )),
        Some((t, v)) => model(t, v)?,
    };
    let dtype = |s: &str| Dtype::parse(s).ok_or_else(|| format!("expected bf16 or fp8, got {s}"));
    let weights_dtype = g.or("weights_dtype", Dtype::Bf16, dtype)?;
    let kv_dtype = g.or("kv_dtype", Dtype::Bf16, dtype)?;
    let backend = g.or(
        "backend",
        Backend::Trtllm,
        choice(&[("trtllm", Backend::Trtllm), ("vllm", Backend::Vllm), ("sglang", Backend::Sglang)]),
    )?;
    let default_mode = if s.has_prefill { Mode::Disaggregated } else { Mode::Aggregated };
    let mode = g.or(
        "mode",
        default_mode,
        choice(&[("disaggregated", Mode::Disaggregated), ("aggregated", Mode::Aggregated)]),
    )?;

    // Frontend and router.
    g.opt("frontend.replicas", positive_u32)?;
    let max_concurrent_requests = g.or("frontend.maxConcurrentRequests", 4096, positive_u32)?;
    // the autoscaler's SLA timeout applies when the frontend sets none
    let timeout_key =
        ["frontend.requestTimeoutMs", "autoscaler.sla.requestTimeoutMs"].into_iter().find(|k| g.val(k).is_some());
    let timeout_ms = g.or(timeout_key.unwrap_or("frontend.requestTimeoutMs"), 600_000, positive_u64)?;
    let request_timeout_ns = timeout_ms.checked_mul(1_000_000).ok_or_else(|| {
        let v = g.val(timeout_key.unwrap_or("frontend.requestTimeoutMs")).expect("only a given value can overflow");
        ScenarioError::invalid(
            &v.origin,
            &v.field,
            format!("expected at most {} ms, got {timeout_ms}", u64::MAX / 1_000_000),
        )
    })?;
    let router = g.or("router.policy", RouterPolicy::RoundRobin, |t| {
        let norm = t.trim().to_ascii_lowercase().replace('-', "_");
        let norm = if norm == "kv" { "kv_aware".to_string() } else { norm };
        choice(&[
            ("round_robin", RouterPolicy::RoundRobin),
            ("least_loaded", RouterPolicy::LeastLoaded),
            ("kv_aware", RouterPolicy::KvAware),
        ])(&norm)
    })?;
    let defaults = KvRouterConfig::default();
    let kv_router = KvRouterConfig {
        overlap_weight: g.or("router.overlapWeight", defaults.overlap_weight, non_negative_f64)?,
        temperature: g.or("router.temperature", defaults.temperature, non_negative_f64)?,
        max_local_prefill_tok: g.or(
            "router.maxLocalPrefillLength",
            defaults.max_local_prefill_tok,
            non_negative_u32,
        )?,
    };
    let prefix_cache = g.or("prefixCache.capacity", PrefixCacheCapacity::Auto, |t| {
        let norm = t.trim().to_ascii_lowercase();
        match norm.as_str() {
            "auto" => Ok(PrefixCacheCapacity::Auto),
            "unbounded" => Ok(PrefixCacheCapacity::Unbounded),
            _ if is_off(t) => Ok(PrefixCacheCapacity::Off),
            _ => match norm.parse::<u64>() {
                Ok(n) if n > 0 => Ok(PrefixCacheCapacity::Blocks(n)),
                _ => Err(format!("expected auto, unbounded, off or a positive block count, got {t}")),
            },
        }
    })?;

    // Pools.
    let tp = tp_size(hardware.gpus_per_node);
    let prefill = PrefillPoolConfig {
        replicas: g.or("prefill.replicas", 1, non_negative_u32)?,
        parallelism: Parallelism::tp(g.or("prefill.tp", 1, &tp)?),
        max_batch_size: g.or("prefill.maxBatchSize", 8, positive_u32)?,
        max_batch_tokens: g.or("prefill.maxBatchTokens", 16_384, positive_u32)?,
        max_input_length: g.or("prefill.maxInputLength", DEFAULT_MAX_LENGTH, positive_u32)?,
    };
    let decode = DecodePoolConfig {
        replicas: g.or("decode.replicas", 1, non_negative_u32)?,
        parallelism: Parallelism::tp(g.or("decode.tp", 1, &tp)?),
        max_batch_size: g.or("decode.maxBatchSize", 64, positive_u32)?,
        max_output_length: g.or("decode.maxOutputLength", DEFAULT_MAX_LENGTH, positive_u32)?,
        kv_cache_memory_fraction: g.or("decode.kvCacheMemoryFraction", 0.8, fraction)?,
    };
    // Decode-only keys that matter when the decode component is the aggregated pool.
    g.opt("decode.maxBatchTokens", positive_u32)?;
    g.opt("decode.maxInputLength", positive_u32)?;
    let first = |k: &str, default: u32, f: &dyn Fn(&str) -> Result<u32, String>| {
        let (a, d) = (format!("aggregated.{k}"), format!("decode.{k}"));
        g.first(&[a.as_str(), d.as_str()], default, f)
    };
    let aggregated = AggregatedPoolConfig {
        replicas: first("replicas", 1, &non_negative_u32)?,
        parallelism: Parallelism::tp(first("tp", 1, &tp)?),
        max_batch_size: first("maxBatchSize", 64, &positive_u32)?,
        max_batch_tokens: first("maxBatchTokens", 8192, &positive_u32)?,
        max_input_length: first("maxInputLength", DEFAULT_MAX_LENGTH, &positive_u32)?,
        max_output_length: first("maxOutputLength", DEFAULT_MAX_LENGTH, &positive_u32)?,
        kv_cache_memory_fraction: g.first(
            &["aggregated.kvCacheMemoryFraction", "decode.kvCacheMemoryFraction"],
            0.8,
            fraction,
        )?,
    };
    let in_use: &[(&str, u32)] = match mode {
        Mode::Disaggregated => &[("prefill", prefill.replicas), ("decode", decode.replicas)],
        Mode::Aggregated => &[("aggregated", aggregated.replicas)],
    };
    for (pool, replicas) in in_use {
        if *replicas == 0 {
            let key = format!("{pool}.replicas");
            let v = [key.clone(), "decode.replicas".to_string()]
                .iter()
                .find_map(|k| g.val(k))
                .expect("a zero count was given");
            return Err(ScenarioError::invalid(
                &v.origin,
                &v.field,
                format!("expected a positive integer, got 0 (the {pool} pool is in use in {} mode)", mode_name(mode)),
            ));
        }
    }

    let kv_transfer = KvTransferConfig {
        backend: g.or(
            "kvTransfer.backend",
            KvBackend::Tcp,
            choice(&[
                ("nccl", KvBackend::Nccl),
                ("nixl", KvBackend::Nixl),
                ("tcp", KvBackend::Tcp),
                ("nvlink", KvBackend::Nvlink),
            ]),
        )?,
        compression: g.or(
            "kvTransfer.compression",
            Compression::None,
            choice(&[("none", Compression::None), ("lz4", Compression::Lz4)]),
        )?,
        max_in_flight_transfers: g.or("kvTransfer.maxInFlightTransfers", 16, positive_u32)?,
        block_size_bytes: g.or("kvTransfer.blockSizeKB", 512, positive_u64)?.saturating_mul(1024),
    };

    let workload = workload(&g, s)?;

    let none_or = |f: fn(&str) -> Result<u64, String>| move |t: &str| if is_off(t) { Ok(None) } else { f(t).map(Some) };
    let limits = RunLimits {
        requests: g.or("requests", None, none_or(positive_u64))?,
        duration_ns: g.or("duration", None, none_or(duration_ns))?,
    };
    let seed = g.or("seed", DEFAULT_SEED, any_u64)?;
    let usd_per_gpu_hour = g.or("pricing.usd_per_gpu_hour", hardware.usd_per_gpu_hour_default, non_negative_f64)?;
    let name = match g.text("name")? {
        Some((t, _)) => t.to_string(),
        None => s.default_name.clone(),
    };

    let scenario = Scenario {
        name,
        sources: s.sources.clone(),
        model,
        weights_dtype,
        kv_dtype,
        hardware,
        cluster: ClusterConfig {
            mode,
            backend,
            frontend: FrontendConfig { max_concurrent_requests, request_timeout_ns },
            router,
            kv_router,
            prefix_cache,
            prefill,
            decode,
            aggregated,
            kv_transfer,
        },
        workload,
        limits,
        seed,
        usd_per_gpu_hour,
        autoscaler: None,
        alerts: Default::default(),
    };
    let mut scenario = scenario;
    scenario.autoscaler = autoscaler(&g, &scenario)?;
    crate::input::deployment::validate_deployment(&scenario).map_err(|e| {
        // Point at where the key was set; an aggregated pool may have taken it from the decode component.
        let key = e.key.as_str();
        let origin = match g.val(key) {
            Some(v) => v.origin.clone(),
            None if key.starts_with("aggregated.") => g
                .val(&key.replacen("aggregated.", "decode.", 1))
                .map(|v| v.origin.clone())
                .unwrap_or_else(|| s.deployment_origin()),
            None => s.deployment_origin(),
        };
        ScenarioError::Deployment { origin, msg: e.to_string() }
    })?;
    Ok(scenario)
}

/// A preset, a `config.json` path, or a directory holding one, relative to the file that names it
/// (see [`ModelSpec::resolve`]).
fn model(t: &str, v: &Val) -> Res<ModelSpec> {
    ModelSpec::resolve(t, v.base_dir.as_deref()).map_err(|e| ScenarioError::invalid(&v.origin, &v.field, e.to_string()))
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Disaggregated => "disaggregated",
        Mode::Aggregated => "aggregated",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Poisson,
    Gamma,
    ClosedLoop,
    Offline,
    Trace,
    Diurnal,
    Step,
    Ramp,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Poisson => "poisson",
            Kind::Gamma => "gamma",
            Kind::ClosedLoop => "closed_loop",
            Kind::Offline => "offline",
            Kind::Trace => "trace",
            Kind::Diurnal => "diurnal",
            Kind::Step => "step",
            Kind::Ramp => "ramp",
        }
    }

    /// The `workload.*` keys this kind uses.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Poisson => &["rate", "isl", "osl", "preset", P[0], P[1], P[2], P[3], P[4]],
            Kind::Gamma => &["rate", "cv", "isl", "osl", "preset", P[0], P[1], P[2], P[3], P[4]],
            // sessions: each client holds one conversation at a time
            Kind::ClosedLoop => &["concurrency", "isl", "osl", "preset", P[0], P[1], P[2], P[3], P[4]],
            Kind::Offline => &["isl", "osl", "preset", P[0], P[1], P[2]],
            Kind::Diurnal => {
                &["rate", "amplitude", "period", "phase", "isl", "osl", "preset", P[0], P[1], P[2], P[3], P[4]]
            }
            Kind::Step | Kind::Ramp => &["profile", "isl", "osl", "preset", P[0], P[1], P[2], P[3], P[4]],
            Kind::Trace => {
                &["trace", "format", "speedup", "rate", "start", "duration", "sample", "skip_bad_lines", "trace_model"]
            }
        }
    }
}

/// The prefix-structure keys of synthetic workloads (sessions need a rate or clients, so not offline).
const P: [&str; 5] =
    ["system_prompts", "system_prompt_tok", "system_prompt_zipf", "sessions.turns", "sessions.think_time"];

const WORKLOAD_KEYS: &[&str] = &[
    "preset",
    "amplitude",
    "period",
    "phase",
    "profile",
    "system_prompts",
    "system_prompt_tok",
    "system_prompt_zipf",
    "sessions.turns",
    "sessions.think_time",
    "rate",
    "cv",
    "concurrency",
    "isl",
    "osl",
    "trace",
    "format",
    "speedup",
    "start",
    "duration",
    "sample",
    "skip_bad_lines",
    "trace_model",
];

fn workload(g: &Get, s: &Settings) -> Res<WorkloadSpec> {
    if !s.values.keys().any(|k| k.starts_with("workload.")) {
        return Err(ScenarioError::document(
            &s.scenario_origin(),
            "no workload: add a `kind: Scenario` document with workload: (e.g. {kind: poisson, rate: 5, isl: 1024, osl: 128})",
        ));
    }
    let kind = g.or(
        "workload.kind",
        Kind::Poisson,
        choice(&[
            ("poisson", Kind::Poisson),
            ("gamma", Kind::Gamma),
            ("closed_loop", Kind::ClosedLoop),
            ("offline", Kind::Offline),
            ("trace", Kind::Trace),
            ("diurnal", Kind::Diurnal),
            ("step", Kind::Step),
            ("ramp", Kind::Ramp),
        ]),
    )?;
    // A key the kind does not use is a mistake when written next to that kind; after `--set workload.kind`
    // switched the kind, the file's other keys are simply unused.
    let kind_from_set = g.val("workload.kind").is_some_and(|v| v.origin.is_set());
    for k in WORKLOAD_KEYS {
        let key = format!("workload.{k}");
        if let (Some(v), false, false) = (g.val(&key), kind.keys().contains(k), kind_from_set) {
            return Err(ScenarioError::invalid(
                &v.origin,
                &v.field,
                format!(
                    "not used by workload kind {} (it uses: {}); expected a matching workload.kind",
                    kind.name(),
                    kind.keys().join(", ")
                ),
            ));
        }
    }
    let at = s.workload.clone().unwrap_or_else(|| s.scenario_origin());
    let required = |key: &str, example: &str| {
        ScenarioError::invalid(&at, key, format!("missing; workload kind {} needs it (e.g. {example})", kind.name()))
    };
    let rate = || g.opt("workload.rate", positive_f64)?.ok_or_else(|| required("workload.rate", "rate: 5"));
    // A preset gives isl and osl (an explicit isl or osl replaces the preset's); one without a grounded
    // source is an error.
    let preset_lengths = match g.text("workload.preset")? {
        Some((t, v)) if kind.keys().contains(&"preset") => Some(
            crate::workload::presets::Preset::parse(t)
                .and_then(|p| p.lengths())
                .map_err(|e| ScenarioError::invalid(&v.origin, &v.field, e))?,
        ),
        _ => None,
    };
    let length = |key: &str| -> Res<LengthDist> {
        let from_preset = preset_lengths.as_ref().map(|(i, o)| if key == "workload.isl" { i } else { o });
        let v = match (g.val(key), from_preset) {
            (Some(v), _) => v,
            (None, Some(d)) => return Ok(d.clone()),
            (None, None) => {
                return Err(required(key, "isl: 1024, isl: lognormal:mean=1000,sigma=0.8 or preset: chatbot"))
            }
        };
        match &v.value {
            Value::Dist(d) => Ok(d.clone()),
            Value::Text(t) => LengthDist::parse(t).map_err(|e| ScenarioError::invalid(&v.origin, &v.field, e)),
        }
    };
    let synthetic = |arrival: Arrival| -> Res<WorkloadSpec> {
        let (isl, osl) = (length("workload.isl")?, length("workload.osl")?);
        let prefix = prefix_spec(g, &required)?;
        if prefix.is_active() && kind.keys().contains(&"system_prompts") {
            Ok(WorkloadSpec::SyntheticPrefix { arrival, isl, osl, prefix })
        } else {
            Ok(WorkloadSpec::Synthetic { arrival, isl, osl })
        }
    };
    match kind {
        Kind::Poisson => synthetic(Arrival::Poisson { rate_per_s: rate()? }),
        Kind::Gamma => synthetic(Arrival::Gamma { rate_per_s: rate()?, cv: g.or("workload.cv", 1.0, positive_f64)? }),
        Kind::ClosedLoop => {
            let concurrency = g
                .opt("workload.concurrency", positive_u32)?
                .ok_or_else(|| required("workload.concurrency", "concurrency: 64"))?;
            synthetic(Arrival::ClosedLoop { concurrency })
        }
        Kind::Offline => synthetic(Arrival::Offline),
        Kind::Diurnal => synthetic(Arrival::Diurnal {
            rate_per_s: rate()?,
            amplitude: g.or("workload.amplitude", 0.5, super::synth::unit_interval)?,
            period_s: g.or("workload.period", 86_400e9 as u64, duration_ns)? as f64 / 1e9,
            phase_rad: g.or("workload.phase", 0.0, super::synth::finite)?,
        }),
        Kind::Step | Kind::Ramp => {
            let points = g
                .opt("workload.profile", super::synth::profile)?
                .ok_or_else(|| required("workload.profile", "profile: [[0, 10], [300s, 40]]"))?;
            synthetic(if kind == Kind::Step { Arrival::Step { points } } else { Arrival::Ramp { points } })
        }
        Kind::Trace => {
            let (t, v) =
                g.text("workload.trace")?.ok_or_else(|| required("workload.trace", "trace: traces/azure.csv"))?;
            let mut path = PathBuf::from(t.trim());
            if path.is_relative() {
                if let Some(base) = &v.base_dir {
                    path = base.join(path);
                }
            }
            if !path.is_file() {
                return Err(ScenarioError::invalid(
                    &v.origin,
                    &v.field,
                    format!("no such file: {} (a relative path is relative to the scenario file)", path.display()),
                ));
            }
            let format = match g.opt(
                "workload.format",
                choice(&[
                    ("azure", TraceFormat::AzureCsv),
                    ("azure_csv", TraceFormat::AzureCsv),
                    ("mooncake", TraceFormat::MooncakeJsonl),
                    ("mooncake_jsonl", TraceFormat::MooncakeJsonl),
                    ("burstgpt", TraceFormat::BurstGptCsv),
                    ("burstgpt_csv", TraceFormat::BurstGptCsv),
                ]),
            )? {
                Some(f) => f,
                None => crate::workload::sniff_format(&path).ok_or_else(|| {
                    ScenarioError::invalid(
                        &v.origin,
                        &v.field,
                        format!(
                            "cannot tell the trace format from the name {}: expected a .csv (azure, or burstgpt \
                             by its header) or .jsonl (mooncake) file, or workload.format: azure|mooncake|burstgpt",
                            path.display()
                        ),
                    )
                })?,
            };
            let options = trace_options(g, kind_from_set)?;
            Ok(WorkloadSpec::Trace { path, format, options })
        }
    }
}

/// The replay options of a trace workload (`workload.{speedup,rate,start,duration,sample,skip_bad_lines,
/// trace_model}`); for a trace, `rate` rescales time to that mean arrival rate instead of `speedup`. After
/// `--set workload.kind=trace`, a `rate` from the files (meant for a synthetic kind) is not used; only a
/// `--set workload.rate` is.
fn trace_options(g: &Get, kind_from_set: bool) -> Res<TraceOptions> {
    let d = TraceOptions::default();
    let rate = match g.val("workload.rate") {
        Some(v) if kind_from_set && !v.origin.is_set() => None,
        _ => g.opt("workload.rate", positive_f64)?,
    };
    if let (Some(_), Some(v)) = (rate, g.val("workload.speedup")) {
        return Err(ScenarioError::invalid(
            &v.origin,
            &v.field,
            "set together with workload.rate, which already fixes the time scale of a trace: expected one of them",
        ));
    }
    let start_ns = g.or("workload.start", 0, |t| if t.trim() == "0" { Ok(0) } else { duration_ns(t) })?;
    let model = g.text("workload.trace_model")?.map(|(t, _)| t.trim().to_string()).filter(|t| !t.is_empty());
    Ok(TraceOptions {
        speedup: g.or("workload.speedup", d.speedup, positive_f64)?,
        rate,
        start_ns,
        duration_ns: g.opt("workload.duration", duration_ns)?,
        sample: g.or("workload.sample", d.sample, fraction)?,
        skip_bad_lines: g.or("workload.skip_bad_lines", d.skip_bad_lines, |t| {
            match t.trim().to_ascii_lowercase().as_str() {
                "true" | "on" | "yes" | "1" => Ok(true),
                "false" | "off" | "no" | "0" => Ok(false),
                _ => Err(format!("expected true or false, got {t}")),
            }
        })?,
        model,
    })
}

/// The prefix structure of a synthetic workload (`system_prompts`, `system_prompt_tok`, `system_prompt_zipf`,
/// `sessions.{turns,think_time}`), checked; all absent = none.
fn prefix_spec(g: &Get, required: &dyn Fn(&str, &str) -> ScenarioError) -> Res<PrefixSpec> {
    let system_prompts = g.or("workload.system_prompts", 0, non_negative_u32)?;
    let system_prompt_tok = match g.opt("workload.system_prompt_tok", positive_u32)? {
        Some(t) => t,
        None if system_prompts > 0 => return Err(required("workload.system_prompt_tok", "system_prompt_tok: 1024")),
        None => 0,
    };
    let turns = g.opt("workload.sessions.turns", positive_f64)?;
    let think = g.opt("workload.sessions.think_time", super::synth::duration_s_or_zero)?;
    let sessions = match (turns, think) {
        (None, None) => None,
        (Some(mean_turns), Some(think_time_s)) => Some(SessionSpec { mean_turns, think_time_s }),
        (None, Some(_)) => return Err(required("workload.sessions.turns", "sessions: {turns: 4, think_time: 30s}")),
        (Some(_), None) => {
            return Err(required("workload.sessions.think_time", "sessions: {turns: 4, think_time: 30s}"))
        }
    };
    let p = PrefixSpec {
        system_prompts,
        system_prompt_tok,
        system_prompt_zipf: g.or("workload.system_prompt_zipf", 0.0, non_negative_f64)?,
        sessions,
    };
    p.validate().map_err(|msg| {
        // The message starts with the key it is about (`sessions.turns: ...`).
        let key = format!("workload.{}", msg.split(':').next().unwrap_or(""));
        match g.val(&key) {
            Some(v) => ScenarioError::invalid(&v.origin, &v.field, msg.split_once(": ").map_or(&*msg, |x| x.1)),
            None => required(&key, &msg),
        }
    })?;
    Ok(p)
}

// ---------------------------------------------------------------------------------------------------------
// DynamoAutoscaler
// ---------------------------------------------------------------------------------------------------------

/// The autoscaler of a scenario with a `DynamoAutoscaler` document (or `autoscaler.*` `--set` keys), unless
/// `autoscaler.enabled` is false. Pool bounds must hold the deployment's replica counts.
fn autoscaler(g: &Get, sc: &Scenario) -> Res<Option<AutoscalerConfig>> {
    let any = g.s.values.keys().any(|k| k.starts_with("autoscaler.") && k != "autoscaler.enabled");
    let enabled = g.or("autoscaler.enabled", any, boolean)?;
    if !enabled {
        return Ok(None);
    }
    if !any {
        let v = g.val("autoscaler.enabled").expect("enabled without settings was given");
        return Err(ScenarioError::invalid(
            &v.origin,
            &v.field,
            "the autoscaler is enabled but the scenario has no `kind: DynamoAutoscaler` document: expected one \
             (minReplicas/maxReplicas and thresholds per pool)",
        ));
    }
    let origin = g.s.autoscaler.clone().unwrap_or_else(|| g.s.scenario_origin());
    let predictor = g.or(
        "autoscaler.predictor",
        Predictor::Constant,
        choice(&[("constant", Predictor::Constant), ("linear", Predictor::Linear)]),
    )?;
    let policy = g.or(
        "autoscaler.policy",
        Policy::Threshold,
        choice(&[
            ("threshold", Policy::Threshold),
            ("predictive", Policy::Predictive),
            ("planner", Policy::Planner(predictor)),
        ]),
    )?;
    let scrape_interval_ns = g.or("autoscaler.scrapeInterval", PROMETHEUS_DEFAULT_SCRAPE_NS, duration_ns)?;
    let window_ns = g.or("autoscaler.window", AutoscalerConfig::default_window_ns(scrape_interval_ns), duration_ns)?;
    let cold_start = ColdStart {
        storage_bytes_per_s: g.or(
            "autoscaler.coldStart.storageBandwidthGBps",
            DEFAULT_STORAGE_BYTES_PER_S / 1e9,
            positive_f64,
        )? * 1e9,
        container_start_ns: (g.or(
            "autoscaler.coldStart.containerStartSeconds",
            DEFAULT_CONTAINER_START_NS as f64 / 1e9,
            non_negative_f64,
        )? * 1e9)
            .round() as u64,
    };
    let c = &sc.cluster;
    let pool = |name: &str, replicas: u32| -> Res<Option<PoolScaling>> {
        let k = |f: &str| format!("autoscaler.{name}.{f}");
        if !crate::input::autoscaler::POOL_KEYS.iter().any(|f| g.val(&k(f)).is_some()) {
            return Ok(None);
        }
        let min_replicas = g.or(&k("minReplicas"), 1, positive_u32)?;
        let max_replicas = g.or(&k("maxReplicas"), replicas.max(min_replicas), positive_u32)?;
        if max_replicas < min_replicas {
            let v = g.val(&k("maxReplicas")).expect("a max below the min was given");
            return Err(ScenarioError::invalid(
                &v.origin,
                &v.field,
                format!("expected maxReplicas >= minReplicas ({min_replicas}), got {max_replicas}"),
            ));
        }
        if replicas < min_replicas || replicas > max_replicas {
            let key = if replicas < min_replicas { k("minReplicas") } else { k("maxReplicas") };
            let v = g.val(&key).expect("a bound that excludes the replicas was given");
            return Err(ScenarioError::invalid(
                &v.origin,
                &v.field,
                format!(
                    "the deployment starts with {replicas} {name} replicas, outside [{min_replicas}, {max_replicas}]: \
                     expected bounds that hold the starting count"
                ),
            ));
        }
        let ms = |f: &str| g.opt(&k(f), positive_f64);
        let share = |f: &str| g.opt(&k(f), fraction);
        Ok(Some(PoolScaling {
            min_replicas,
            max_replicas,
            up: ScaleUp {
                queue_depth: g.opt(&k("up.queueDepth"), non_negative_f64)?,
                ttft_p99_ms: ms("up.ttftP99Ms")?,
                tpot_p99_ms: ms("up.tpotP99Ms")?,
                batch_utilization: share("up.batchUtilization")?,
            },
            down: ScaleDown {
                gpu_utilization: share("down.gpuUtilization")?,
                batch_utilization: share("down.batchUtilization")?,
                cooldown_ns: (g.or(&k("down.cooldownSeconds"), 0.0, non_negative_f64)? * 1e9).round() as u64,
            },
        }))
    };
    let (prefill, decode) = match c.mode {
        Mode::Disaggregated => (pool("prefill", c.prefill.replicas)?, pool("decode", c.decode.replicas)?),
        Mode::Aggregated => {
            if let Some(v) =
                crate::input::autoscaler::POOL_KEYS.iter().find_map(|f| g.val(&format!("autoscaler.prefill.{f}")))
            {
                return Err(ScenarioError::invalid(
                    &v.origin,
                    &v.field,
                    "an aggregated deployment has no prefill pool: expected its limits under `decode` \
                     (or `aggregated`)",
                ));
            }
            (None, pool("decode", c.aggregated.replicas)?)
        }
    };
    if prefill.is_none() && decode.is_none() {
        return Err(ScenarioError::invalid(
            &origin,
            "spec",
            "the DynamoAutoscaler scales no pool: expected a `prefill` or `decode` entry with minReplicas/maxReplicas",
        ));
    }
    let sla_ms = |k: &str| g.opt(k, positive_f64);
    let ttft_p99_ms = sla_ms("autoscaler.sla.ttftP99Ms")?;
    let tpot_p99_ms = sla_ms("autoscaler.sla.tpotP99Ms")?;
    if matches!(policy, Policy::Planner(_)) && ttft_p99_ms.is_none() && tpot_p99_ms.is_none() {
        return Err(ScenarioError::invalid(
            &origin,
            "spec.sla",
            "the planner policy sizes pools to meet the SLA: expected sla.ttftP99Ms and/or sla.tpotP99Ms",
        ));
    }
    Ok(Some(AutoscalerConfig {
        policy,
        ttft_p99_ms,
        tpot_p99_ms,
        prefill,
        decode,
        auto_match_prefill: g.or("autoscaler.autoMatchPrefill", false, boolean)?,
        scrape_interval_ns,
        window_ns,
        cold_start,
    }))
}

fn boolean(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("expected true or false, got {s}")),
    }
}
