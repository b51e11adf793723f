//! From merged [`Settings`] to a validated [`Scenario`]: defaults, parsing of every value, range checks, then
//! [`crate::input::deployment::validate_deployment`]. Every error names where the value came from and its field.
//!
//! Each setting's default and parser are its entry in the settings table ([`super::keys`]); the defaults that
//! depend on other settings (mode, the aggregated pool's fallback to the decode component, the price, the
//! autoscaler's bounds and window) are computed here, and the table says how.

use std::path::PathBuf;

use super::error::ScenarioError;
use super::keys::{self as k, DefaultValue, Key, Setting};
use super::settings::{Settings, Val, Value};
use super::{RunLimits, Scenario};
use crate::spec::autoscaler::{AutoscalerConfig, ColdStart, Policy, PoolScaling, Predictor, ScaleDown, ScaleUp};
use crate::spec::deployment::{
    AggregatedPoolConfig, Backend, ClusterConfig, Compression, DecodePoolConfig, EngineVersion, FrontendConfig,
    KvBackend, KvRouterConfig, KvTransferConfig, Mode, Parallelism, PrefillPoolConfig, PrefixCacheCapacity,
    RouterPolicy, Topology,
};
use crate::spec::hardware::HardwareProfile;
use crate::spec::model::{Dtype, ExpertLoad, ModelSpec};
use crate::spec::workload::{Arrival, LengthDist, PrefixSpec, SessionSpec, TraceFormat, TraceOptions, WorkloadSpec};

type Res<T> = Result<T, ScenarioError>;

/// Typed access to the settings, by their entries in the settings table ([`super::keys`]).
struct Get<'a> {
    s: &'a Settings,
}

impl<'a> Get<'a> {
    fn val(&self, s: &Setting) -> Option<&'a Val> {
        self.s.get(s.key)
    }

    /// By a key built at run time (an error's key, a pool's key).
    fn val_of(&self, key: &str) -> Option<&'a Val> {
        self.s.get(key)
    }

    /// The scalar text of the setting and its `Val`.
    fn text(&self, s: &Setting) -> Res<Option<(&'a str, &'a Val)>> {
        match self.val(s) {
            None => Ok(None),
            Some(v) => match v.text() {
                Some(t) => Ok(Some((t, v))),
                None => Err(ScenarioError::invalid(&v.origin, &v.field, "expected a scalar, got a mapping")),
            },
        }
    }

    /// The given value parsed by `f`, or `None`.
    fn opt_with<T>(&self, s: &Setting, f: impl FnOnce(&str) -> Result<T, String>) -> Res<Option<T>> {
        match self.text(s)? {
            None => Ok(None),
            Some((t, v)) => f(t).map(Some).map_err(|m| ScenarioError::invalid(&v.origin, &v.field, m)),
        }
    }

    /// The given value parsed by `f`, else the table's literal default parsed by `f`.
    fn with<T>(&self, s: &Setting, f: impl Fn(&str) -> Result<T, String>) -> Res<T> {
        if let Some(x) = self.opt_with(s, &f)? {
            return Ok(x);
        }
        let t = literal(s);
        Ok(f(t).unwrap_or_else(|e| panic!("the default of {} ({t}) does not parse: {e}", s.key)))
    }

    fn opt<T>(&self, k: &Key<T>) -> Res<Option<T>> {
        self.opt_with(&k.setting, k.parse)
    }

    /// The given value, else the table's literal default.
    fn get<T>(&self, k: &Key<T>) -> Res<T> {
        self.with(&k.setting, k.parse)
    }

    /// The given value, else `default` (a computed default: the table says how it is computed).
    fn or<T>(&self, k: &Key<T>, default: T) -> Res<T> {
        Ok(self.opt(k)?.unwrap_or(default))
    }

    /// `own`'s value where it is given, else `fallback`'s (given or its default): an aggregated
    /// setting that takes the decode component's.
    fn own_or<T>(&self, own: &Key<T>, fallback: &Key<T>) -> Res<T> {
        if self.val(&own.setting).is_some() {
            self.get(own)
        } else {
            self.get(fallback)
        }
    }
}

/// The literal default of `s`; a setting resolved from its literal default must have one.
fn literal(s: &Setting) -> &'static str {
    match s.default {
        DefaultValue::Literal(t) => t,
        other => panic!("{} has no literal default ({other:?})", s.key),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Value parsers: Err says what was expected and what was found.
// ---------------------------------------------------------------------------------------------------------

pub(super) fn positive_u32(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a positive integer, got {s}")),
    }
}

pub(super) fn non_negative_u32(s: &str) -> Result<u32, String> {
    s.trim().parse::<u32>().map_err(|_| format!("expected a non-negative integer, got {s}"))
}

pub(super) fn positive_u64(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a positive integer, got {s}")),
    }
}

pub(super) fn any_u64(s: &str) -> Result<u64, String> {
    s.trim().parse::<u64>().map_err(|_| format!("expected a non-negative integer, got {s}"))
}

pub(super) fn positive_f64(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("expected a number > 0, got {s}")),
    }
}

pub(super) fn non_negative_f64(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("expected a number >= 0, got {s}")),
    }
}

pub(super) fn fraction(s: &str) -> Result<f64, String> {
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

// The parsers of the enumerated settings, named so that the settings table ([`super::keys`]) can refer to them.

pub(super) fn dtype(s: &str) -> Result<Dtype, String> {
    Dtype::parse(s).ok_or_else(|| format!("expected bf16, fp8 or fp8_block, got {s}"))
}

pub(super) fn expert_load(s: &str) -> Result<ExpertLoad, String> {
    ExpertLoad::parse(s.trim()).ok_or_else(|| format!("expected balanced, power_law_1.01 or power_law_1.2, got {s}"))
}

/// A pool's layout over its `tp` GPUs from its `moeTp` / `moeEp` keys: each its own given value, else
/// (the aggregated pool) the decode component's; MoE TP x EP must be the TP.
fn pool_parallelism<'k>(
    g: &Get,
    tp: u32,
    own: (&'k Key<u32>, &'k Key<u32>),
    fallback: Option<(&'k Key<u32>, &'k Key<u32>)>,
) -> Res<Parallelism> {
    let pick = |own: &'k Key<u32>, fb: Option<&'k Key<u32>>| match fb {
        Some(f) if g.val(&own.setting).is_none() => f,
        _ => own,
    };
    let (mtp_key, ep_key) = (pick(own.0, fallback.map(|f| f.0)), pick(own.1, fallback.map(|f| f.1)));
    let bad = |key: &Key<u32>, msg: String| {
        let v = g.val(&key.setting).expect("only a given value is inconsistent");
        ScenarioError::invalid(&v.origin, &v.field, msg)
    };
    let divisor = |got: u32| format!("expected a divisor of the pool's TP ({tp}), as MoE TP x EP = TP; got {got}");
    match (g.opt(mtp_key)?, g.opt(ep_key)?) {
        (None, None) => Ok(Parallelism::tp(tp)),
        (mtp, Some(ep)) => {
            let p = Parallelism::expert_parallel(tp, ep).ok_or_else(|| bad(ep_key, divisor(ep)))?;
            match mtp {
                Some(m) if m != p.moe_tp => Err(bad(
                    mtp_key,
                    format!(
                        "{m} x {} {ep} is {} GPUs, the pool has {tp}: expected MoE TP x EP = TP",
                        ep_key.setting.key,
                        m * ep
                    ),
                )),
                _ => Ok(p),
            }
        }
        (Some(m), None) if tp % m == 0 => {
            Parallelism::expert_parallel(tp, tp / m).ok_or_else(|| bad(mtp_key, divisor(m)))
        }
        (Some(m), None) => Err(bad(mtp_key, divisor(m))),
    }
}

/// A KV-cache dtype: KV caches are scaled per tensor, never per block.
pub(super) fn kv_dtype(s: &str) -> Result<Dtype, String> {
    match Dtype::parse(s) {
        Some(Dtype::Fp8Block) | None => Err(format!("expected bf16 or fp8, got {s}")),
        Some(d) => Ok(d),
    }
}

pub(super) fn backend(s: &str) -> Result<Backend, String> {
    choice(&[("trtllm", Backend::Trtllm), ("vllm", Backend::Vllm), ("sglang", Backend::Sglang)])(s)
}

pub(super) fn engine_version(s: &str) -> Result<EngineVersion, String> {
    EngineVersion::parse(s).ok_or_else(|| format!("expected a release such as 1.2.0 or 1.0.0rc3, got '{s}'"))
}

pub(super) fn mode(s: &str) -> Result<Mode, String> {
    choice(&[("disaggregated", Mode::Disaggregated), ("aggregated", Mode::Aggregated)])(s)
}

/// `kv` is Dynamo's `--router-mode kv`.
pub(super) fn router_policy(t: &str) -> Result<RouterPolicy, String> {
    let norm = t.trim().to_ascii_lowercase().replace('-', "_");
    let norm = if norm == "kv" { "kv_aware".to_string() } else { norm };
    choice(&[
        ("round_robin", RouterPolicy::RoundRobin),
        ("least_loaded", RouterPolicy::LeastLoaded),
        ("kv_aware", RouterPolicy::KvAware),
    ])(&norm)
}

pub(super) fn prefix_capacity(t: &str) -> Result<PrefixCacheCapacity, String> {
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
}

pub(super) fn kv_backend(s: &str) -> Result<KvBackend, String> {
    choice(&[
        ("nccl", KvBackend::Nccl),
        ("nixl", KvBackend::Nixl),
        ("tcp", KvBackend::Tcp),
        ("nvlink", KvBackend::Nvlink),
    ])(s)
}

pub(super) fn compression(s: &str) -> Result<Compression, String> {
    choice(&[("none", Compression::None), ("lz4", Compression::Lz4)])(s)
}

pub(super) fn workload_kind(s: &str) -> Result<Kind, String> {
    choice(&[
        ("poisson", Kind::Poisson),
        ("gamma", Kind::Gamma),
        ("closed_loop", Kind::ClosedLoop),
        ("offline", Kind::Offline),
        ("trace", Kind::Trace),
        ("diurnal", Kind::Diurnal),
        ("step", Kind::Step),
        ("ramp", Kind::Ramp),
    ])(s)
}

pub(super) fn trace_format(s: &str) -> Result<TraceFormat, String> {
    choice(&[
        ("azure", TraceFormat::AzureCsv),
        ("azure_csv", TraceFormat::AzureCsv),
        ("mooncake", TraceFormat::MooncakeJsonl),
        ("mooncake_jsonl", TraceFormat::MooncakeJsonl),
        ("burstgpt", TraceFormat::BurstGptCsv),
        ("burstgpt_csv", TraceFormat::BurstGptCsv),
    ])(s)
}

pub(super) fn predictor(s: &str) -> Result<Predictor, String> {
    choice(&[("constant", Predictor::Constant), ("linear", Predictor::Linear)])(s)
}

/// `planner` carries the predictor, so this parser is built per scenario.
fn autoscaler_policy(predictor: Predictor) -> impl Fn(&str) -> Result<Policy, String> {
    move |s| {
        choice(&[
            ("threshold", Policy::Threshold),
            ("predictive", Policy::Predictive),
            ("planner", Policy::Planner(predictor)),
        ])(s)
    }
}

/// A positive count, or `off` for none.
pub(super) fn optional_count(t: &str) -> Result<Option<u64>, String> {
    if is_off(t) {
        Ok(None)
    } else {
        positive_u64(t).map(Some)
    }
}

/// A duration, or `off` for none.
pub(super) fn optional_duration(t: &str) -> Result<Option<u64>, String> {
    if is_off(t) {
        Ok(None)
    } else {
        duration_ns(t).map(Some)
    }
}

/// `0`, or a duration.
pub(super) fn duration_ns_or_zero(t: &str) -> Result<u64, String> {
    if t.trim() == "0" {
        Ok(0)
    } else {
        duration_ns(t)
    }
}

/// Resolves defaults, parses and checks every setting, and checks that the deployment can run.
pub(crate) fn resolve(s: &Settings) -> Res<Scenario> {
    let g = Get { s };

    let hardware = match g.text(&k::HARDWARE)? {
        None => HardwareProfile::by_name(literal(&k::HARDWARE)).expect("the default hardware profile exists"),
        Some((t, v)) => {
            HardwareProfile::by_name(t).map_err(|e| ScenarioError::invalid(&v.origin, &v.field, e.to_string()))?
        }
    };
    let model = match g.text(&k::MODEL)? {
        None => return Err(ScenarioError::document(
            &s.scenario_origin(),
            "no model: expected `model:` in the Scenario document, `spec.model` in the deployment, or --set model=...",
        )),
        Some((t, v)) => model(t, v)?,
    };
    let weights_dtype = g.get(&k::WEIGHTS_DTYPE)?;
    let kv_dtype = g.get(&k::KV_DTYPE)?;
    let backend = g.get(&k::BACKEND)?;
    let default_mode = if s.has_prefill { Mode::Disaggregated } else { Mode::Aggregated };
    let mode = g.or(&k::MODE, default_mode)?;

    // Frontend and router.
    g.opt(&k::FRONTEND_REPLICAS)?;
    let max_concurrent_requests = g.get(&k::FRONTEND_MAX_CONCURRENT_REQUESTS)?;
    // the autoscaler's SLA timeout applies when the frontend sets none
    let timeout_key = if g.val(&k::FRONTEND_REQUEST_TIMEOUT_MS.setting).is_none()
        && g.val(&k::AUTOSCALER_SLA_REQUEST_TIMEOUT_MS.setting).is_some()
    {
        &k::AUTOSCALER_SLA_REQUEST_TIMEOUT_MS
    } else {
        &k::FRONTEND_REQUEST_TIMEOUT_MS
    };
    let timeout_ms = g.get(timeout_key)?;
    let request_timeout_ns = timeout_ms.checked_mul(1_000_000).ok_or_else(|| {
        let v = g.val(&timeout_key.setting).expect("only a given value can overflow");
        ScenarioError::invalid(
            &v.origin,
            &v.field,
            format!("expected at most {} ms, got {timeout_ms}", u64::MAX / 1_000_000),
        )
    })?;
    let router = g.get(&k::ROUTER_POLICY)?;
    let kv_router = KvRouterConfig {
        overlap_weight: g.get(&k::ROUTER_OVERLAP_WEIGHT)?,
        temperature: g.get(&k::ROUTER_TEMPERATURE)?,
        max_local_prefill_tok: g.get(&k::ROUTER_MAX_LOCAL_PREFILL_LENGTH)?,
    };
    let prefix_cache = g.get(&k::PREFIX_CACHE_CAPACITY)?;

    // Pools.
    let tp = tp_size(hardware.gpus_per_node);
    let prefill = PrefillPoolConfig {
        replicas: g.get(&k::PREFILL_REPLICAS)?,
        parallelism: pool_parallelism(
            &g,
            g.with(&k::PREFILL_TP, &tp)?,
            (&k::PREFILL_MOE_TP, &k::PREFILL_MOE_EP),
            None,
        )?,
        max_batch_size: g.get(&k::PREFILL_MAX_BATCH_SIZE)?,
        max_batch_tokens: g.get(&k::PREFILL_MAX_BATCH_TOKENS)?,
        max_input_length: g.get(&k::PREFILL_MAX_INPUT_LENGTH)?,
    };
    let decode = DecodePoolConfig {
        replicas: g.get(&k::DECODE_REPLICAS)?,
        parallelism: pool_parallelism(&g, g.with(&k::DECODE_TP, &tp)?, (&k::DECODE_MOE_TP, &k::DECODE_MOE_EP), None)?,
        max_batch_size: g.get(&k::DECODE_MAX_BATCH_SIZE)?,
        max_output_length: g.get(&k::DECODE_MAX_OUTPUT_LENGTH)?,
        kv_cache_memory_fraction: g.get(&k::DECODE_KV_CACHE_MEMORY_FRACTION)?,
        disable_overlap_scheduler: g.get(&k::DECODE_DISABLE_OVERLAP_SCHEDULER)?,
    };
    // Decode-only keys that matter when the decode component is the aggregated pool.
    g.opt(&k::DECODE_MAX_BATCH_TOKENS)?;
    g.opt(&k::DECODE_MAX_INPUT_LENGTH)?;
    // Each aggregated setting: its own key, else the decode component's (whose default it then takes).
    let aggregated = AggregatedPoolConfig {
        replicas: g.own_or(&k::AGGREGATED_REPLICAS, &k::DECODE_REPLICAS)?,
        parallelism: pool_parallelism(
            &g,
            match g.val(&k::AGGREGATED_TP) {
                Some(_) => g.with(&k::AGGREGATED_TP, &tp)?,
                None => g.with(&k::DECODE_TP, &tp)?,
            },
            (&k::AGGREGATED_MOE_TP, &k::AGGREGATED_MOE_EP),
            Some((&k::DECODE_MOE_TP, &k::DECODE_MOE_EP)),
        )?,
        max_batch_size: g.own_or(&k::AGGREGATED_MAX_BATCH_SIZE, &k::DECODE_MAX_BATCH_SIZE)?,
        max_batch_tokens: g.own_or(&k::AGGREGATED_MAX_BATCH_TOKENS, &k::DECODE_MAX_BATCH_TOKENS)?,
        max_input_length: g.own_or(&k::AGGREGATED_MAX_INPUT_LENGTH, &k::DECODE_MAX_INPUT_LENGTH)?,
        max_output_length: g.own_or(&k::AGGREGATED_MAX_OUTPUT_LENGTH, &k::DECODE_MAX_OUTPUT_LENGTH)?,
        enable_chunked_context: g.get(&k::AGGREGATED_ENABLE_CHUNKED_CONTEXT)?,
        disable_overlap_scheduler: g
            .own_or(&k::AGGREGATED_DISABLE_OVERLAP_SCHEDULER, &k::DECODE_DISABLE_OVERLAP_SCHEDULER)?,
        kv_cache_memory_fraction: g
            .own_or(&k::AGGREGATED_KV_CACHE_MEMORY_FRACTION, &k::DECODE_KV_CACHE_MEMORY_FRACTION)?,
    };
    let in_use: &[(&str, u32)] = match mode {
        Mode::Disaggregated => &[("prefill", prefill.replicas), ("decode", decode.replicas)],
        Mode::Aggregated => &[("aggregated", aggregated.replicas)],
    };
    for (pool, replicas) in in_use {
        if *replicas == 0 {
            let key = format!("{pool}.replicas");
            let v = [key.as_str(), k::DECODE_REPLICAS.key()]
                .iter()
                .find_map(|k| g.val_of(k))
                .expect("a zero count was given");
            return Err(ScenarioError::invalid(
                &v.origin,
                &v.field,
                format!("expected a positive integer, got 0 (the {pool} pool is in use in {} mode)", mode.name()),
            ));
        }
    }

    let kv_transfer = KvTransferConfig {
        backend: g.get(&k::KV_TRANSFER_BACKEND)?,
        compression: g.get(&k::KV_TRANSFER_COMPRESSION)?,
        max_in_flight_transfers: g.get(&k::KV_TRANSFER_MAX_IN_FLIGHT_TRANSFERS)?,
    };
    let kv_block_size_bytes = g.get(&k::KV_TRANSFER_BLOCK_SIZE_KB)?.saturating_mul(1024);
    let (topology, other_topology) = Topology::both(mode, prefill, decode, kv_transfer, aggregated);

    let workload = workload(&g, s)?;

    let limits = RunLimits { requests: g.or(&k::REQUESTS, None)?, duration_ns: g.or(&k::DURATION, None)? };
    let seed = g.get(&k::SEED)?;
    let usd_per_gpu_hour = match (g.opt(&k::PRICING_USD_PER_GPU_HOUR)?, hardware.usd_per_gpu_hour_default) {
        (Some(usd), _) | (None, Some(usd)) => usd,
        (None, None) => {
            return Err(ScenarioError::invalid(
                &s.scenario_origin(),
                k::PRICING_USD_PER_GPU_HOUR.key(),
                format!(
                    "missing; pdsim has no list price for {} comparable with its others, so a scenario on it states its own (e.g. pricing: {{usd_per_gpu_hour: 3.5}})",
                    hardware.name
                ),
            ))
        }
    };
    let name = match g.text(&k::NAME)? {
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
            backend,
            backend_version: g.opt(&k::BACKEND_VERSION)?,
            expert_load: g.get(&k::EXPERT_LOAD)?,
            frontend: FrontendConfig { max_concurrent_requests, request_timeout_ns },
            router,
            kv_router,
            prefix_cache,
            kv_block_size_bytes,
            topology,
        },
        other_topology,
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
        let origin = match g.val_of(key) {
            Some(v) => v.origin.clone(),
            None if key.starts_with("aggregated.") => g
                .val_of(&key.replacen("aggregated.", "decode.", 1))
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
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
            Kind::ClosedLoop => &["concurrency", "rampUp", "isl", "osl", "preset", P[0], P[1], P[2], P[3], P[4]],
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
    "rampUp",
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
    let kind = g.get(&k::WORKLOAD_KIND)?;
    // A key the kind does not use is a mistake when written next to that kind; after `--set workload.kind`
    // switched the kind, the file's other keys are simply unused.
    let kind_from_set = g.val(&k::WORKLOAD_KIND.setting).is_some_and(|v| v.origin.is_set());
    for name in WORKLOAD_KEYS {
        let key = format!("workload.{name}");
        if let (Some(v), false, false) = (g.val_of(&key), kind.keys().contains(name), kind_from_set) {
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
    let rate = || g.opt(&k::WORKLOAD_RATE)?.ok_or_else(|| required(k::WORKLOAD_RATE.key(), "rate: 5"));
    // A preset gives isl and osl (an explicit isl or osl replaces the preset's); one without a grounded
    // source is an error.
    let preset_lengths = match g.text(&k::WORKLOAD_PRESET)? {
        Some((t, v)) if kind.keys().contains(&"preset") => Some(
            crate::workload::presets::Preset::parse(t)
                .and_then(|p| p.lengths())
                .map_err(|e| ScenarioError::invalid(&v.origin, &v.field, e))?,
        ),
        _ => None,
    };
    let length = |key: &Setting| -> Res<LengthDist> {
        let from_preset = preset_lengths.as_ref().map(|(i, o)| if key == &k::WORKLOAD_ISL { i } else { o });
        let v = match (g.val(key), from_preset) {
            (Some(v), _) => v,
            (None, Some(d)) => return Ok(d.clone()),
            (None, None) => {
                return Err(required(key.key, "isl: 1024, isl: lognormal:mean=1000,sigma=0.8 or preset: chatbot"))
            }
        };
        match &v.value {
            Value::Dist(d) => Ok(d.clone()),
            Value::Text(t) => LengthDist::parse(t).map_err(|e| ScenarioError::invalid(&v.origin, &v.field, e)),
        }
    };
    let synthetic = |arrival: Arrival| -> Res<WorkloadSpec> {
        let (isl, osl) = (length(&k::WORKLOAD_ISL)?, length(&k::WORKLOAD_OSL)?);
        let prefix = prefix_spec(g, &required)?;
        if prefix.is_active() && kind.keys().contains(&"system_prompts") {
            Ok(WorkloadSpec::SyntheticPrefix { arrival, isl, osl, prefix })
        } else {
            Ok(WorkloadSpec::Synthetic { arrival, isl, osl })
        }
    };
    match kind {
        Kind::Poisson => synthetic(Arrival::Poisson { rate_per_s: rate()? }),
        Kind::Gamma => synthetic(Arrival::Gamma { rate_per_s: rate()?, cv: g.get(&k::WORKLOAD_CV)? }),
        Kind::ClosedLoop => {
            let concurrency = g
                .opt(&k::WORKLOAD_CONCURRENCY)?
                .ok_or_else(|| required(k::WORKLOAD_CONCURRENCY.key(), "concurrency: 64"))?;
            synthetic(Arrival::ClosedLoop { concurrency, ramp_up_ns: g.get(&k::WORKLOAD_RAMP_UP)? })
        }
        Kind::Offline => synthetic(Arrival::Offline),
        Kind::Diurnal => synthetic(Arrival::Diurnal {
            rate_per_s: rate()?,
            amplitude: g.get(&k::WORKLOAD_AMPLITUDE)?,
            period_s: g.get(&k::WORKLOAD_PERIOD)? as f64 / 1e9,
            phase_rad: g.get(&k::WORKLOAD_PHASE)?,
        }),
        Kind::Step | Kind::Ramp => {
            let points = g
                .opt(&k::WORKLOAD_PROFILE)?
                .ok_or_else(|| required(k::WORKLOAD_PROFILE.key(), "profile: [[0, 10], [300s, 40]]"))?;
            synthetic(if kind == Kind::Step { Arrival::Step { points } } else { Arrival::Ramp { points } })
        }
        Kind::Trace => {
            let (t, v) = g
                .text(&k::WORKLOAD_TRACE)?
                .ok_or_else(|| required(k::WORKLOAD_TRACE.key, "trace: traces/azure.csv"))?;
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
            let format = match g.opt(&k::WORKLOAD_FORMAT)? {
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
    let rate = match g.val(&k::WORKLOAD_RATE.setting) {
        Some(v) if kind_from_set && !v.origin.is_set() => None,
        _ => g.opt(&k::WORKLOAD_RATE)?,
    };
    if let (Some(_), Some(v)) = (rate, g.val(&k::WORKLOAD_SPEEDUP.setting)) {
        return Err(ScenarioError::invalid(
            &v.origin,
            &v.field,
            "set together with workload.rate, which already fixes the time scale of a trace: expected one of them",
        ));
    }
    let start_ns = g.get(&k::WORKLOAD_START)?;
    let model = g.text(&k::WORKLOAD_TRACE_MODEL)?.map(|(t, _)| t.trim().to_string()).filter(|t| !t.is_empty());
    Ok(TraceOptions {
        speedup: g.get(&k::WORKLOAD_SPEEDUP)?,
        rate,
        start_ns,
        duration_ns: g.opt(&k::WORKLOAD_DURATION)?,
        sample: g.get(&k::WORKLOAD_SAMPLE)?,
        skip_bad_lines: g.get(&k::WORKLOAD_SKIP_BAD_LINES)?,
        model,
    })
}

/// The prefix structure of a synthetic workload (`system_prompts`, `system_prompt_tok`, `system_prompt_zipf`,
/// `sessions.{turns,think_time}`), checked; all absent = none.
fn prefix_spec(g: &Get, required: &dyn Fn(&str, &str) -> ScenarioError) -> Res<PrefixSpec> {
    let system_prompts = g.get(&k::WORKLOAD_SYSTEM_PROMPTS)?;
    let system_prompt_tok = match g.opt(&k::WORKLOAD_SYSTEM_PROMPT_TOK)? {
        Some(t) => t,
        None if system_prompts > 0 => {
            return Err(required(k::WORKLOAD_SYSTEM_PROMPT_TOK.key(), "system_prompt_tok: 1024"))
        }
        None => 0,
    };
    let turns = g.opt(&k::WORKLOAD_SESSIONS_TURNS)?;
    let think = g.opt(&k::WORKLOAD_SESSIONS_THINK_TIME)?;
    let sessions = match (turns, think) {
        (None, None) => None,
        (Some(mean_turns), Some(think_time_s)) => Some(SessionSpec { mean_turns, think_time_s }),
        (None, Some(_)) => {
            return Err(required(k::WORKLOAD_SESSIONS_TURNS.key(), "sessions: {turns: 4, think_time: 30s}"))
        }
        (Some(_), None) => {
            return Err(required(k::WORKLOAD_SESSIONS_THINK_TIME.key(), "sessions: {turns: 4, think_time: 30s}"))
        }
    };
    let p = PrefixSpec {
        system_prompts,
        system_prompt_tok,
        system_prompt_zipf: g.get(&k::WORKLOAD_SYSTEM_PROMPT_ZIPF)?,
        sessions,
    };
    p.validate().map_err(|msg| {
        // The message starts with the key it is about (`sessions.turns: ...`).
        let key = format!("workload.{}", msg.split(':').next().unwrap_or(""));
        match g.val_of(&key) {
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
    let enabled = g.or(&k::AUTOSCALER_ENABLED, any)?;
    if !enabled {
        return Ok(None);
    }
    if !any {
        let v = g.val(&k::AUTOSCALER_ENABLED.setting).expect("enabled without settings was given");
        return Err(ScenarioError::invalid(
            &v.origin,
            &v.field,
            "the autoscaler is enabled but the scenario has no `kind: DynamoAutoscaler` document: expected one \
             (minReplicas/maxReplicas and thresholds per pool)",
        ));
    }
    let origin = g.s.autoscaler.clone().unwrap_or_else(|| g.s.scenario_origin());
    let predictor = g.get(&k::AUTOSCALER_PREDICTOR)?;
    let policy = g.with(&k::AUTOSCALER_POLICY, autoscaler_policy(predictor))?;
    let scrape_interval_ns = g.get(&k::AUTOSCALER_SCRAPE_INTERVAL)?;
    let window_ns = g.or(&k::AUTOSCALER_WINDOW, AutoscalerConfig::default_window_ns(scrape_interval_ns))?;
    let cold_start = ColdStart {
        storage_bytes_per_s: g.get(&k::AUTOSCALER_COLD_START_STORAGE_BANDWIDTH_GBPS)? * 1e9,
        container_start_ns: (g.get(&k::AUTOSCALER_COLD_START_CONTAINER_START_SECONDS)? * 1e9).round() as u64,
    };
    let c = &sc.cluster;
    let pool = |name: &str, keys: &k::PoolScalingKeys, replicas: u32| -> Res<Option<PoolScaling>> {
        if !keys.all().iter().any(|s| g.val(s).is_some()) {
            return Ok(None);
        }
        let min_replicas = g.get(&keys.min_replicas)?;
        let max_replicas = g.or(&keys.max_replicas, replicas.max(min_replicas))?;
        if max_replicas < min_replicas {
            let v = g.val(&keys.max_replicas.setting).expect("a max below the min was given");
            return Err(ScenarioError::invalid(
                &v.origin,
                &v.field,
                format!("expected maxReplicas >= minReplicas ({min_replicas}), got {max_replicas}"),
            ));
        }
        if replicas < min_replicas || replicas > max_replicas {
            let key = if replicas < min_replicas { &keys.min_replicas } else { &keys.max_replicas };
            let v = g.val(&key.setting).expect("a bound that excludes the replicas was given");
            return Err(ScenarioError::invalid(
                &v.origin,
                &v.field,
                format!(
                    "the deployment starts with {replicas} {name} replicas, outside [{min_replicas}, {max_replicas}]: \
                     expected bounds that hold the starting count"
                ),
            ));
        }
        Ok(Some(PoolScaling {
            min_replicas,
            max_replicas,
            up: ScaleUp {
                queue_depth: g.opt(&keys.up_queue_depth)?,
                ttft_p99_ms: g.opt(&keys.up_ttft_p99_ms)?,
                tpot_p99_ms: g.opt(&keys.up_tpot_p99_ms)?,
                batch_utilization: g.opt(&keys.up_batch_utilization)?,
            },
            down: ScaleDown {
                gpu_utilization: g.opt(&keys.down_gpu_utilization)?,
                batch_utilization: g.opt(&keys.down_batch_utilization)?,
                cooldown_ns: (g.get(&keys.down_cooldown_seconds)? * 1e9).round() as u64,
            },
        }))
    };
    let (prefill, decode) = match &c.topology {
        Topology::Disaggregated { prefill, decode, .. } => (
            pool("prefill", &k::AUTOSCALER_PREFILL, prefill.replicas)?,
            pool("decode", &k::AUTOSCALER_DECODE, decode.replicas)?,
        ),
        Topology::Aggregated(aggregated) => {
            if let Some(v) = k::AUTOSCALER_PREFILL.all().iter().find_map(|s| g.val(s)) {
                return Err(ScenarioError::invalid(
                    &v.origin,
                    &v.field,
                    "an aggregated deployment has no prefill pool: expected its limits under `decode` \
                     (or `aggregated`)",
                ));
            }
            (None, pool("decode", &k::AUTOSCALER_DECODE, aggregated.replicas)?)
        }
    };
    if prefill.is_none() && decode.is_none() {
        return Err(ScenarioError::invalid(
            &origin,
            "spec",
            "the DynamoAutoscaler scales no pool: expected a `prefill` or `decode` entry with minReplicas/maxReplicas",
        ));
    }
    let ttft_p99_ms = g.opt(&k::AUTOSCALER_SLA_TTFT_P99_MS)?;
    let tpot_p99_ms = g.opt(&k::AUTOSCALER_SLA_TPOT_P99_MS)?;
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
        auto_match_prefill: g.get(&k::AUTOSCALER_AUTO_MATCH_PREFILL)?,
        scrape_interval_ns,
        window_ns,
        cold_start,
    }))
}

pub(super) fn boolean(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("expected true or false, got {s}")),
    }
}
