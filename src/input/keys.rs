//! The one definition of every setting key: its name, a one-line doc, its default and whether `--set`
//! accepts it, and (for keys parsed the same way everywhere) its parser. `--set` checking, sweep axes,
//! `pdsim run --help` and [`super::resolve`] all read this table, and the document readers
//! ([`super::raw`], [`super::dgd`], [`super::autoscaler`]) name keys by these constants, so a key is spelled
//! once.
//!
//! The `--set` keys are stable (DESIGN.md §4): scripts and CI rely on them. Keys marked file-only are read
//! from the documents but not accepted by `--set`.

use super::resolve::{
    any_u64, backend, boolean, compression, dtype, duration_ns, duration_ns_or_zero, engine_version, expert_load,
    fraction, kv_backend, kv_dtype, mode, non_negative_f64, non_negative_u32, optional_count, optional_duration,
    positive_f64, positive_u32, positive_u64, predictor, prefix_capacity, router_policy, trace_format, workload_kind,
};
use super::synth;
use crate::spec::autoscaler::Predictor;
use crate::spec::deployment::{
    Backend, Compression, EngineVersion, KvBackend, Mode, PrefixCacheCapacity, RouterPolicy,
};
use crate::spec::model::{Dtype, ExpertLoad};
use crate::spec::workload::TraceFormat;

/// What a setting is when no document and no `--set` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DefaultValue {
    /// This text, parsed like a given value (so `--help` shows exactly what is used).
    Literal(&'static str),
    /// Computed from other settings by [`super::resolve`]; the text says how.
    Computed(&'static str),
    /// No value; the text says what that means (required by some kinds, or off).
    Unset(&'static str),
}

use DefaultValue::{Computed, Literal, Unset};

/// One setting key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Setting {
    /// The key, as `--set` and error messages write it (`prefill.tp`).
    pub key: &'static str,
    /// What it sets, one line.
    pub doc: &'static str,
    pub default: DefaultValue,
    /// Whether `--set` (and a sweep axis) accepts it; else only a document sets it.
    pub set: bool,
}

/// A setting whose value is always parsed by one function, so resolving it needs only this entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key<T: 'static> {
    pub setting: Setting,
    /// Turns the text into a value; `Err` says what was expected and what was found.
    pub parse: fn(&str) -> Result<T, String>,
}

impl Setting {
    const fn set(key: &'static str, doc: &'static str, default: DefaultValue) -> Setting {
        Setting { key, doc, default, set: true }
    }

    const fn file(key: &'static str, doc: &'static str, default: DefaultValue) -> Setting {
        Setting { key, doc, default, set: false }
    }
}

impl<T> Key<T> {
    const fn set(
        key: &'static str,
        doc: &'static str,
        default: DefaultValue,
        parse: fn(&str) -> Result<T, String>,
    ) -> Key<T> {
        Key { setting: Setting::set(key, doc, default), parse }
    }

    const fn file(
        key: &'static str,
        doc: &'static str,
        default: DefaultValue,
        parse: fn(&str) -> Result<T, String>,
    ) -> Key<T> {
        Key { setting: Setting::file(key, doc, default), parse }
    }

    pub const fn key(&self) -> &'static str {
        self.setting.key
    }
}

// ---------------------------------------------------------------------------------------------------------
// Scenario
// ---------------------------------------------------------------------------------------------------------

pub(crate) const NAME: Setting = Setting::file("name", "scenario name in outputs", Computed("the file's stem"));
pub(crate) const MODEL: Setting =
    Setting::set("model", "model preset or path to a Hugging Face config.json (or its directory)", Unset("required"));
pub(crate) const HARDWARE: Setting =
    Setting::set("hardware", "hardware profile name or profile .toml", Literal("h100-sxm"));
pub(crate) const BACKEND: Key<Backend> =
    Key::set("backend", "serving framework: trtllm, vllm or sglang", Literal("trtllm"), backend);
pub(crate) const MODE: Key<Mode> = Key::set(
    "mode",
    "disaggregated or aggregated",
    Computed("disaggregated when the deployment has a prefill pool, else aggregated"),
    mode,
);
pub(crate) const WEIGHTS_DTYPE: Key<Dtype> = Key::set(
    "weights_dtype",
    "bf16, fp8 (one scale per tensor) or fp8_block (one per 128x128 block, as DeepSeek and Qwen3 FP8 checkpoints)",
    Literal("bf16"),
    dtype,
);
pub(crate) const KV_DTYPE: Key<Dtype> = Key::set("kv_dtype", "KV cache dtype: bf16 or fp8", Literal("bf16"), kv_dtype);

// ---------------------------------------------------------------------------------------------------------
// Frontend, router, prefix cache
// ---------------------------------------------------------------------------------------------------------

pub(crate) const FRONTEND_REPLICAS: Key<u32> =
    Key::file("frontend.replicas", "frontend replicas (checked, not simulated)", Literal("1"), positive_u32);
pub(crate) const FRONTEND_MAX_CONCURRENT_REQUESTS: Key<u32> = Key::file(
    "frontend.maxConcurrentRequests",
    "requests in the system beyond this are rejected",
    Literal("4096"),
    positive_u32,
);
pub(crate) const FRONTEND_REQUEST_TIMEOUT_MS: Key<u64> = Key::file(
    "frontend.requestTimeoutMs",
    "a request not finished this long after arrival times out (ms); autoscaler.sla.requestTimeoutMs when only that is set",
    Literal("600000"),
    positive_u64,
);
pub(crate) const ROUTER_POLICY: Key<RouterPolicy> =
    Key::set("router.policy", "round_robin, least_loaded or kv_aware (kv)", Literal("round_robin"), router_policy);
pub(crate) const ROUTER_OVERLAP_WEIGHT: Key<f64> = Key::set(
    "router.overlapWeight",
    "KV-aware router: weight of blocks still to prefill against load",
    Literal("1"),
    non_negative_f64,
);
pub(crate) const ROUTER_TEMPERATURE: Key<f64> = Key::set(
    "router.temperature",
    "KV-aware router: softmax temperature (0: lowest cost wins)",
    Literal("0"),
    non_negative_f64,
);
pub(crate) const ROUTER_MAX_LOCAL_PREFILL_LENGTH: Key<u32> = Key::set(
    "router.maxLocalPrefillLength",
    "prefill on the decode worker when at most this many prompt tokens miss its cache (0: off)",
    Literal("0"),
    non_negative_u32,
);
pub(crate) const PREFIX_CACHE_CAPACITY: Key<PrefixCacheCapacity> = Key::set(
    "prefixCache.capacity",
    "auto (the worker's KV capacity), unbounded, off, or a block count",
    Literal("auto"),
    prefix_capacity,
);

// ---------------------------------------------------------------------------------------------------------
// Pools. TP keys are plain settings: their parser depends on the hardware (a TP group fits one node).
// ---------------------------------------------------------------------------------------------------------

pub(crate) const PREFILL_REPLICAS: Key<u32> =
    Key::set("prefill.replicas", "prefill workers", Literal("1"), non_negative_u32);
pub(crate) const PREFILL_TP: Setting =
    Setting::set("prefill.tp", "GPUs per prefill worker (a power of two within one node)", Literal("1"));
pub(crate) const PREFILL_MAX_BATCH_SIZE: Key<u32> =
    Key::set("prefill.maxBatchSize", "most requests in one prefill batch", Literal("8"), positive_u32);
pub(crate) const PREFILL_MAX_BATCH_TOKENS: Key<u32> =
    Key::set("prefill.maxBatchTokens", "most prompt tokens in one prefill batch", Literal("16384"), positive_u32);
pub(crate) const PREFILL_MAX_INPUT_LENGTH: Key<u32> =
    Key::set("prefill.maxInputLength", "longer prompts are rejected", Literal("131072"), positive_u32);

pub(crate) const DECODE_REPLICAS: Key<u32> =
    Key::set("decode.replicas", "decode workers", Literal("1"), non_negative_u32);
pub(crate) const DECODE_TP: Setting =
    Setting::set("decode.tp", "GPUs per decode worker (a power of two within one node)", Literal("1"));
pub(crate) const DECODE_MAX_BATCH_SIZE: Key<u32> =
    Key::set("decode.maxBatchSize", "most sequences in one decode batch", Literal("64"), positive_u32);
pub(crate) const DECODE_MAX_OUTPUT_LENGTH: Key<u32> =
    Key::set("decode.maxOutputLength", "output is cut at this many tokens", Literal("131072"), positive_u32);
pub(crate) const DECODE_KV_CACHE_MEMORY_FRACTION: Key<f64> = Key::set(
    "decode.kvCacheMemoryFraction",
    "the engine's memory fraction, as it reads it (trtllm: of the memory weights and activations leave; vllm: of all, for weights, activations and KV; sglang: of all, for weights and KV)",
    Literal("0.8"),
    fraction,
);
pub(crate) const DECODE_MAX_BATCH_TOKENS: Key<u32> = Key::file(
    "decode.maxBatchTokens",
    "step token budget, used when the decode component is the aggregated pool",
    Literal("8192"),
    positive_u32,
);
pub(crate) const DECODE_MAX_INPUT_LENGTH: Key<u32> = Key::file(
    "decode.maxInputLength",
    "longest prompt, used when the decode component is the aggregated pool",
    Literal("131072"),
    positive_u32,
);

pub(crate) const AGGREGATED_REPLICAS: Key<u32> =
    Key::set("aggregated.replicas", "aggregated workers", Computed("decode.replicas"), non_negative_u32);
pub(crate) const AGGREGATED_TP: Setting =
    Setting::set("aggregated.tp", "GPUs per aggregated worker (a power of two within one node)", Computed("decode.tp"));
pub(crate) const AGGREGATED_MAX_BATCH_SIZE: Key<u32> =
    Key::set("aggregated.maxBatchSize", "most sequences in one step", Computed("decode.maxBatchSize"), positive_u32);
pub(crate) const AGGREGATED_MAX_BATCH_TOKENS: Key<u32> = Key::set(
    "aggregated.maxBatchTokens",
    "token budget of one step (decode tokens plus the prefill chunk)",
    Computed("decode.maxBatchTokens"),
    positive_u32,
);
pub(crate) const AGGREGATED_MAX_INPUT_LENGTH: Key<u32> = Key::file(
    "aggregated.maxInputLength",
    "longer prompts are rejected",
    Computed("decode.maxInputLength"),
    positive_u32,
);
pub(crate) const AGGREGATED_MAX_OUTPUT_LENGTH: Key<u32> = Key::file(
    "aggregated.maxOutputLength",
    "output is cut at this many tokens",
    Computed("decode.maxOutputLength"),
    positive_u32,
);
// Expert parallelism: a MoE model's routed experts over `moeEp` ranks of `moeTp` columns each, with
// moeTp x moeEp = tp (aiconfigurator's schema without attention DP). Dense models ignore them.
pub(crate) const PREFILL_MOE_EP: Key<u32> = Key::set(
    "prefill.moeEp",
    "MoE models: expert-parallel ranks per prefill worker (divides prefill.tp; the experts' columns split the rest)",
    Literal("1"),
    positive_u32,
);
pub(crate) const PREFILL_MOE_TP: Key<u32> = Key::set(
    "prefill.moeTp",
    "MoE models: ways each expert's columns are split (moeTp x moeEp = tp)",
    Computed("prefill.tp / prefill.moeEp"),
    positive_u32,
);
pub(crate) const DECODE_MOE_EP: Key<u32> =
    Key::set("decode.moeEp", "MoE models: expert-parallel ranks per decode worker", Literal("1"), positive_u32);
pub(crate) const DECODE_MOE_TP: Key<u32> =
    Key::set("decode.moeTp", "MoE models: as prefill.moeTp", Computed("decode.tp / decode.moeEp"), positive_u32);
pub(crate) const AGGREGATED_MOE_EP: Key<u32> = Key::set(
    "aggregated.moeEp",
    "MoE models: expert-parallel ranks per aggregated worker",
    Computed("decode.moeEp"),
    positive_u32,
);
pub(crate) const AGGREGATED_MOE_TP: Key<u32> = Key::set(
    "aggregated.moeTp",
    "MoE models: as prefill.moeTp",
    Computed("decode.moeTp, else aggregated.tp / aggregated.moeEp"),
    positive_u32,
);
pub(crate) const EXPERT_LOAD: Key<ExpertLoad> = Key::set(
    "expertLoad",
    "MoE models: how routed tokens spread over the experts, as aiconfigurator measures them: balanced, power_law_1.01 or power_law_1.2 (the most loaded expert-parallel rank sets the step)",
    Literal("power_law_1.01"),
    expert_load,
);
pub(crate) const AGGREGATED_KV_CACHE_MEMORY_FRACTION: Key<f64> = Key::set(
    "aggregated.kvCacheMemoryFraction",
    "the engine's memory fraction, as decode.kvCacheMemoryFraction",
    Computed("decode.kvCacheMemoryFraction"),
    fraction,
);

/// The keys of one pool, for the document readers that fill the three pools alike (a DGDR component, a
/// DGD worker's flags).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolKeys {
    pub replicas: Setting,
    pub tp: Setting,
    pub moe_ep: Setting,
    pub moe_tp: Setting,
    pub max_batch_size: Setting,
    pub max_batch_tokens: Setting,
    pub max_input_length: Setting,
    /// `None` for prefill: a prefill worker produces no output tokens.
    pub max_output_length: Option<Setting>,
    /// `None` for prefill: its KV cache memory is not modelled separately.
    pub kv_cache_memory_fraction: Option<Setting>,
    /// `None` for prefill: TensorRT-LLM's context servers run without the overlap scheduler.
    pub disable_overlap_scheduler: Option<Setting>,
}

pub(crate) const PREFILL_POOL: PoolKeys = PoolKeys {
    replicas: PREFILL_REPLICAS.setting,
    tp: PREFILL_TP,
    moe_ep: PREFILL_MOE_EP.setting,
    moe_tp: PREFILL_MOE_TP.setting,
    max_batch_size: PREFILL_MAX_BATCH_SIZE.setting,
    max_batch_tokens: PREFILL_MAX_BATCH_TOKENS.setting,
    max_input_length: PREFILL_MAX_INPUT_LENGTH.setting,
    max_output_length: None,
    kv_cache_memory_fraction: None,
    disable_overlap_scheduler: None,
};

pub(crate) const DECODE_POOL: PoolKeys = PoolKeys {
    replicas: DECODE_REPLICAS.setting,
    tp: DECODE_TP,
    moe_ep: DECODE_MOE_EP.setting,
    moe_tp: DECODE_MOE_TP.setting,
    max_batch_size: DECODE_MAX_BATCH_SIZE.setting,
    max_batch_tokens: DECODE_MAX_BATCH_TOKENS.setting,
    max_input_length: DECODE_MAX_INPUT_LENGTH.setting,
    max_output_length: Some(DECODE_MAX_OUTPUT_LENGTH.setting),
    kv_cache_memory_fraction: Some(DECODE_KV_CACHE_MEMORY_FRACTION.setting),
    disable_overlap_scheduler: Some(DECODE_DISABLE_OVERLAP_SCHEDULER.setting),
};

pub(crate) const AGGREGATED_POOL: PoolKeys = PoolKeys {
    replicas: AGGREGATED_REPLICAS.setting,
    tp: AGGREGATED_TP,
    moe_ep: AGGREGATED_MOE_EP.setting,
    moe_tp: AGGREGATED_MOE_TP.setting,
    max_batch_size: AGGREGATED_MAX_BATCH_SIZE.setting,
    max_batch_tokens: AGGREGATED_MAX_BATCH_TOKENS.setting,
    max_input_length: AGGREGATED_MAX_INPUT_LENGTH.setting,
    max_output_length: Some(AGGREGATED_MAX_OUTPUT_LENGTH.setting),
    kv_cache_memory_fraction: Some(AGGREGATED_KV_CACHE_MEMORY_FRACTION.setting),
    disable_overlap_scheduler: Some(AGGREGATED_DISABLE_OVERLAP_SCHEDULER.setting),
};

// ---------------------------------------------------------------------------------------------------------
// KV transfer
// ---------------------------------------------------------------------------------------------------------

pub(crate) const KV_TRANSFER_BACKEND: Key<KvBackend> =
    Key::set("kvTransfer.backend", "nccl, nixl, tcp or nvlink", Literal("tcp"), kv_backend);
pub(crate) const KV_TRANSFER_COMPRESSION: Key<Compression> =
    Key::set("kvTransfer.compression", "none or lz4", Literal("none"), compression);
pub(crate) const KV_TRANSFER_MAX_IN_FLIGHT_TRANSFERS: Key<u32> = Key::set(
    "kvTransfer.maxInFlightTransfers",
    "concurrent transfers out of one prefill worker",
    Literal("16"),
    positive_u32,
);
pub(crate) const KV_TRANSFER_BLOCK_SIZE_KB: Key<u64> =
    Key::set("kvTransfer.blockSizeKB", "transfer granularity (KiB)", Literal("512"), positive_u64);

// ---------------------------------------------------------------------------------------------------------
// Workload
// ---------------------------------------------------------------------------------------------------------

pub(crate) const WORKLOAD_KIND: Key<super::resolve::Kind> = Key::set(
    "workload.kind",
    "poisson, gamma, closed_loop, offline, trace, diurnal, step or ramp",
    Literal("poisson"),
    workload_kind,
);
pub(crate) const WORKLOAD_RATE: Key<f64> = Key::set(
    "workload.rate",
    "requests/s (trace: rescales time to this mean rate)",
    Unset("required by poisson, gamma, diurnal"),
    positive_f64,
);
pub(crate) const WORKLOAD_CV: Key<f64> =
    Key::set("workload.cv", "gamma: coefficient of variation of the gaps", Literal("1"), positive_f64);
pub(crate) const WORKLOAD_CONCURRENCY: Key<u32> =
    Key::set("workload.concurrency", "closed_loop: clients", Unset("required by closed_loop"), positive_u32);
pub(crate) const AGGREGATED_ENABLE_CHUNKED_CONTEXT: Key<bool> = Key::set(
    "aggregated.enableChunkedContext",
    "TensorRT-LLM: split prompts across steps (its enable_chunked_context; vLLM and SGLang always do)",
    Literal("false"),
    boolean,
);
/// TensorRT-LLM PyTorch backend's `disable_overlap_scheduler` (default False: "Enabled by default",
/// TensorRT-LLM docs, "Overlap Scheduler"). vLLM and SGLang ignore it.
pub(crate) const DECODE_DISABLE_OVERLAP_SCHEDULER: Key<bool> = Key::set(
    "decode.disableOverlapScheduler",
    "TensorRT-LLM: schedule each step only after the last one's results (its disable_overlap_scheduler; the overlap scheduler costs an arriving request one step and a finished one an extra step)",
    Literal("false"),
    boolean,
);
pub(crate) const AGGREGATED_DISABLE_OVERLAP_SCHEDULER: Key<bool> = Key::set(
    "aggregated.disableOverlapScheduler",
    "TensorRT-LLM: as decode.disableOverlapScheduler, for the aggregated workers",
    Computed("decode.disableOverlapScheduler"),
    boolean,
);
pub(crate) const BACKEND_VERSION: Key<EngineVersion> = Key::set(
    "backendVersion",
    "the engine's release (e.g. 1.2.0rc6), where a default changed between releases (TensorRT-LLM 1.2: no overlap-scheduler extra step for requests stopped by length)",
    Unset("TensorRT-LLM 1.0's behaviour"),
    engine_version,
);
pub(crate) const WORKLOAD_RAMP_UP: Key<u64> = Key::set(
    "workload.rampUp",
    "closed_loop: clients start one by one over this time (a duration; 0: all at t = 0, as aiperf starts them)",
    Literal("0"),
    duration_ns_or_zero,
);
pub(crate) const WORKLOAD_ISL: Setting = Setting::set(
    "workload.isl",
    "prompt tokens: N, uniform:MIN-MAX, lognormal:mean=M,sigma=S or a {dist: ...} mapping",
    Computed("the preset's, else required"),
);
pub(crate) const WORKLOAD_OSL: Setting = Setting::set(
    "workload.osl",
    "output tokens: N, uniform:MIN-MAX, lognormal:mean=M,sigma=S or a {dist: ...} mapping",
    Computed("the preset's, else required"),
);
pub(crate) const WORKLOAD_TRACE: Setting = Setting::set(
    "workload.trace",
    "trace: file, relative to the scenario file (--set: to the working directory)",
    Unset("required by trace"),
);
pub(crate) const WORKLOAD_FORMAT: Key<TraceFormat> = Key::set(
    "workload.format",
    "trace: azure, mooncake or burstgpt",
    Computed("from the extension and a .csv's header"),
    trace_format,
);
pub(crate) const WORKLOAD_SPEEDUP: Key<f64> =
    Key::set("workload.speedup", "trace: replay speed (2 = twice as fast)", Literal("1"), positive_f64);
pub(crate) const WORKLOAD_START: Key<u64> = Key::set(
    "workload.start",
    "trace: window start after the first request (a duration)",
    Literal("0"),
    duration_ns_or_zero,
);
pub(crate) const WORKLOAD_DURATION: Key<u64> =
    Key::set("workload.duration", "trace: window length in trace time (a duration)", Unset("to the end"), duration_ns);
pub(crate) const WORKLOAD_SAMPLE: Key<f64> =
    Key::set("workload.sample", "trace: fraction of requests to keep", Literal("1"), fraction);
pub(crate) const WORKLOAD_SKIP_BAD_LINES: Key<bool> = Key::set(
    "workload.skip_bad_lines",
    "trace: skip and count malformed lines instead of stopping",
    Literal("false"),
    boolean,
);
pub(crate) const WORKLOAD_TRACE_MODEL: Setting =
    Setting::set("workload.trace_model", "trace (BurstGPT): keep only rows of this Model", Unset("all rows"));
pub(crate) const WORKLOAD_PRESET: Setting = Setting::set(
    "workload.preset",
    "synthetic: chatbot, rag, code_generation, summarization or batch (gives isl and osl)",
    Unset("none"),
);
pub(crate) const WORKLOAD_AMPLITUDE: Key<f64> = Key::set(
    "workload.amplitude",
    "diurnal: relative amplitude of the rate, in [0, 1]",
    Literal("0.5"),
    synth::unit_interval,
);
pub(crate) const WORKLOAD_PERIOD: Key<u64> =
    Key::set("workload.period", "diurnal: period of the rate cycle (a duration)", Literal("24h"), duration_ns);
pub(crate) const WORKLOAD_PHASE: Key<f64> =
    Key::set("workload.phase", "diurnal: phase of the sinusoid (radians)", Literal("0"), synth::finite);
pub(crate) const WORKLOAD_PROFILE: Key<Vec<(f64, f64)>> = Key::set(
    "workload.profile",
    "step/ramp: TIME:RATE,... (or [[time, rate], ...] in a file)",
    Unset("required by step, ramp"),
    synth::profile,
);
pub(crate) const WORKLOAD_SYSTEM_PROMPTS: Key<u32> =
    Key::set("workload.system_prompts", "synthetic: shared system prompts", Literal("0"), non_negative_u32);
pub(crate) const WORKLOAD_SYSTEM_PROMPT_TOK: Key<u32> = Key::set(
    "workload.system_prompt_tok",
    "synthetic: tokens per system prompt",
    Unset("required with system_prompts > 0"),
    positive_u32,
);
pub(crate) const WORKLOAD_SYSTEM_PROMPT_ZIPF: Key<f64> = Key::set(
    "workload.system_prompt_zipf",
    "synthetic: Zipf exponent of the system-prompt choice (0 = uniform)",
    Literal("0"),
    non_negative_f64,
);
pub(crate) const WORKLOAD_SESSIONS_TURNS: Key<f64> =
    Key::set("workload.sessions.turns", "synthetic: mean turns per session", Unset("no sessions"), positive_f64);
pub(crate) const WORKLOAD_SESSIONS_THINK_TIME: Key<f64> = Key::set(
    "workload.sessions.think_time",
    "synthetic: mean think time between turns (a duration)",
    Unset("no sessions"),
    synth::duration_s_or_zero,
);

// ---------------------------------------------------------------------------------------------------------
// Run
// ---------------------------------------------------------------------------------------------------------

pub(crate) const REQUESTS: Key<Option<u64>> =
    Key::set("requests", "requests to offer (off: no limit)", Unset("10000 unless duration is set"), optional_count);
pub(crate) const DURATION: Key<Option<u64>> = Key::set(
    "duration",
    "simulated time to offer traffic for: 600, 600s, 10m, 1h, 1500ms (off: no limit)",
    Unset("no limit"),
    optional_duration,
);
pub(crate) const SEED: Key<u64> = Key::set("seed", "RNG seed", Literal("42"), any_u64);
pub(crate) const PRICING_USD_PER_GPU_HOUR: Key<f64> = Key::set(
    "pricing.usd_per_gpu_hour",
    "GPU price for cost metrics (USD per GPU-hour)",
    Computed("the hardware profile's list price"),
    non_negative_f64,
);

// ---------------------------------------------------------------------------------------------------------
// Autoscaler (the `DynamoAutoscaler` document)
// ---------------------------------------------------------------------------------------------------------

pub(crate) const AUTOSCALER_ENABLED: Key<bool> = Key::set(
    "autoscaler.enabled",
    "run the autoscaler (needs a DynamoAutoscaler document)",
    Computed("true when any other autoscaler.* key is set"),
    boolean,
);
/// Its parser depends on the predictor (`planner` carries it), so it is a plain setting.
pub(crate) const AUTOSCALER_POLICY: Setting =
    Setting::set("autoscaler.policy", "threshold, predictive or planner", Literal("threshold"));
pub(crate) const AUTOSCALER_PREDICTOR: Key<Predictor> =
    Key::set("autoscaler.predictor", "planner: constant or linear", Literal("constant"), predictor);
pub(crate) const AUTOSCALER_SCRAPE_INTERVAL: Key<u64> =
    Key::set("autoscaler.scrapeInterval", "metrics scrape interval (a duration)", Literal("60s"), duration_ns);
pub(crate) const AUTOSCALER_WINDOW: Key<u64> =
    Key::set("autoscaler.window", "metrics window (a duration)", Computed("4 scrape intervals"), duration_ns);
pub(crate) const AUTOSCALER_AUTO_MATCH_PREFILL: Key<bool> =
    Key::set("autoscaler.autoMatchPrefill", "scale prefill with decode", Literal("false"), boolean);
pub(crate) const AUTOSCALER_SLA_TTFT_P99_MS: Key<f64> =
    Key::set("autoscaler.sla.ttftP99Ms", "SLA: TTFT p99 (ms)", Unset("none"), positive_f64);
pub(crate) const AUTOSCALER_SLA_TPOT_P99_MS: Key<f64> =
    Key::set("autoscaler.sla.tpotP99Ms", "SLA: TPOT p99 (ms)", Unset("none"), positive_f64);
pub(crate) const AUTOSCALER_SLA_REQUEST_TIMEOUT_MS: Key<u64> = Key::set(
    "autoscaler.sla.requestTimeoutMs",
    "request timeout when the frontend sets none (ms)",
    Unset("frontend.requestTimeoutMs's default"),
    positive_u64,
);
pub(crate) const AUTOSCALER_COLD_START_STORAGE_BANDWIDTH_GBPS: Key<f64> = Key::set(
    "autoscaler.coldStart.storageBandwidthGBps",
    "cold start: weight loading bandwidth (GB/s)",
    Literal("7"),
    positive_f64,
);
pub(crate) const AUTOSCALER_COLD_START_CONTAINER_START_SECONDS: Key<f64> = Key::set(
    "autoscaler.coldStart.containerStartSeconds",
    "cold start: container start before loading (s)",
    Literal("10"),
    non_negative_f64,
);

/// The `autoscaler.<pool>.*` keys of one pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolScalingKeys {
    pub min_replicas: Key<u32>,
    pub max_replicas: Key<u32>,
    pub up_queue_depth: Key<f64>,
    pub up_ttft_p99_ms: Key<f64>,
    pub up_batch_utilization: Key<f64>,
    pub up_tpot_p99_ms: Key<f64>,
    pub down_gpu_utilization: Key<f64>,
    pub down_batch_utilization: Key<f64>,
    pub down_cooldown_seconds: Key<f64>,
}

impl PoolScalingKeys {
    /// Every key of the pool, in table order.
    pub fn all(&self) -> [Setting; 9] {
        [
            self.min_replicas.setting,
            self.max_replicas.setting,
            self.up_queue_depth.setting,
            self.up_ttft_p99_ms.setting,
            self.up_batch_utilization.setting,
            self.up_tpot_p99_ms.setting,
            self.down_gpu_utilization.setting,
            self.down_batch_utilization.setting,
            self.down_cooldown_seconds.setting,
        ]
    }
}

/// Spelled out for both pools (rather than built from a pool name) so each key is a literal that `grep`
/// finds.
pub(crate) const AUTOSCALER_PREFILL: PoolScalingKeys = PoolScalingKeys {
    min_replicas: Key::set("autoscaler.prefill.minReplicas", "prefill: fewest replicas", Literal("1"), positive_u32),
    max_replicas: Key::set(
        "autoscaler.prefill.maxReplicas",
        "prefill: most replicas",
        Computed("the larger of the starting replicas and minReplicas"),
        positive_u32,
    ),
    up_queue_depth: Key::set(
        "autoscaler.prefill.up.queueDepth",
        "prefill: scale up above this queue depth",
        Unset("not used"),
        non_negative_f64,
    ),
    up_ttft_p99_ms: Key::set(
        "autoscaler.prefill.up.ttftP99Ms",
        "prefill: scale up above this TTFT p99 (ms)",
        Unset("not used"),
        positive_f64,
    ),
    up_batch_utilization: Key::set(
        "autoscaler.prefill.up.batchUtilization",
        "prefill: scale up above this batch utilization",
        Unset("not used"),
        fraction,
    ),
    up_tpot_p99_ms: Key::set(
        "autoscaler.prefill.up.tpotP99Ms",
        "prefill: scale up above this TPOT p99 (ms)",
        Unset("not used"),
        positive_f64,
    ),
    down_gpu_utilization: Key::set(
        "autoscaler.prefill.down.gpuUtilization",
        "prefill: scale down below this GPU utilization",
        Unset("not used"),
        fraction,
    ),
    down_batch_utilization: Key::set(
        "autoscaler.prefill.down.batchUtilization",
        "prefill: scale down below this batch utilization",
        Unset("not used"),
        fraction,
    ),
    down_cooldown_seconds: Key::set(
        "autoscaler.prefill.down.cooldownSeconds",
        "prefill: wait this long after a change before scaling down (s)",
        Literal("0"),
        non_negative_f64,
    ),
};

pub(crate) const AUTOSCALER_DECODE: PoolScalingKeys = PoolScalingKeys {
    min_replicas: Key::set(
        "autoscaler.decode.minReplicas",
        "decode (or aggregated): fewest replicas",
        Literal("1"),
        positive_u32,
    ),
    max_replicas: Key::set(
        "autoscaler.decode.maxReplicas",
        "decode (or aggregated): most replicas",
        Computed("the larger of the starting replicas and minReplicas"),
        positive_u32,
    ),
    up_queue_depth: Key::set(
        "autoscaler.decode.up.queueDepth",
        "decode: scale up above this queue depth",
        Unset("not used"),
        non_negative_f64,
    ),
    up_ttft_p99_ms: Key::set(
        "autoscaler.decode.up.ttftP99Ms",
        "decode: scale up above this TTFT p99 (ms)",
        Unset("not used"),
        positive_f64,
    ),
    up_batch_utilization: Key::set(
        "autoscaler.decode.up.batchUtilization",
        "decode: scale up above this batch utilization",
        Unset("not used"),
        fraction,
    ),
    up_tpot_p99_ms: Key::set(
        "autoscaler.decode.up.tpotP99Ms",
        "decode: scale up above this TPOT p99 (ms)",
        Unset("not used"),
        positive_f64,
    ),
    down_gpu_utilization: Key::set(
        "autoscaler.decode.down.gpuUtilization",
        "decode: scale down below this GPU utilization",
        Unset("not used"),
        fraction,
    ),
    down_batch_utilization: Key::set(
        "autoscaler.decode.down.batchUtilization",
        "decode: scale down below this batch utilization",
        Unset("not used"),
        fraction,
    ),
    down_cooldown_seconds: Key::set(
        "autoscaler.decode.down.cooldownSeconds",
        "decode: wait this long after a change before scaling down (s)",
        Literal("0"),
        non_negative_f64,
    ),
};

/// Every setting, in the order `--help` and the "unknown key" error list them (the `--set` keys in the
/// order of DESIGN.md §4's table, which was `SET_KEYS`' order).
pub(crate) const ALL: &[&Setting] = &[
    &MODEL,
    &HARDWARE,
    &BACKEND.setting,
    &MODE.setting,
    &WEIGHTS_DTYPE.setting,
    &KV_DTYPE.setting,
    &PREFILL_REPLICAS.setting,
    &PREFILL_TP,
    &PREFILL_MAX_BATCH_SIZE.setting,
    &PREFILL_MAX_BATCH_TOKENS.setting,
    &PREFILL_MAX_INPUT_LENGTH.setting,
    &DECODE_REPLICAS.setting,
    &DECODE_TP,
    &DECODE_MAX_BATCH_SIZE.setting,
    &DECODE_MAX_OUTPUT_LENGTH.setting,
    &DECODE_KV_CACHE_MEMORY_FRACTION.setting,
    &AGGREGATED_REPLICAS.setting,
    &AGGREGATED_TP,
    &AGGREGATED_MAX_BATCH_SIZE.setting,
    &AGGREGATED_MAX_BATCH_TOKENS.setting,
    &AGGREGATED_KV_CACHE_MEMORY_FRACTION.setting,
    &KV_TRANSFER_BACKEND.setting,
    &KV_TRANSFER_COMPRESSION.setting,
    &KV_TRANSFER_MAX_IN_FLIGHT_TRANSFERS.setting,
    &KV_TRANSFER_BLOCK_SIZE_KB.setting,
    &ROUTER_POLICY.setting,
    &ROUTER_OVERLAP_WEIGHT.setting,
    &ROUTER_TEMPERATURE.setting,
    &ROUTER_MAX_LOCAL_PREFILL_LENGTH.setting,
    &PREFIX_CACHE_CAPACITY.setting,
    &WORKLOAD_KIND.setting,
    &WORKLOAD_RATE.setting,
    &WORKLOAD_CV.setting,
    &WORKLOAD_CONCURRENCY.setting,
    &WORKLOAD_ISL,
    &WORKLOAD_OSL,
    &WORKLOAD_TRACE,
    &WORKLOAD_FORMAT.setting,
    &WORKLOAD_SPEEDUP.setting,
    &WORKLOAD_START.setting,
    &WORKLOAD_DURATION.setting,
    &WORKLOAD_SAMPLE.setting,
    &WORKLOAD_SKIP_BAD_LINES.setting,
    &WORKLOAD_TRACE_MODEL,
    &WORKLOAD_PRESET,
    &WORKLOAD_AMPLITUDE.setting,
    &WORKLOAD_PERIOD.setting,
    &WORKLOAD_PHASE.setting,
    &WORKLOAD_PROFILE.setting,
    &WORKLOAD_SYSTEM_PROMPTS.setting,
    &WORKLOAD_SYSTEM_PROMPT_TOK.setting,
    &WORKLOAD_SYSTEM_PROMPT_ZIPF.setting,
    &WORKLOAD_SESSIONS_TURNS.setting,
    &WORKLOAD_SESSIONS_THINK_TIME.setting,
    &REQUESTS.setting,
    &DURATION.setting,
    &SEED.setting,
    &AUTOSCALER_ENABLED.setting,
    &AUTOSCALER_POLICY,
    &AUTOSCALER_PREDICTOR.setting,
    &AUTOSCALER_SCRAPE_INTERVAL.setting,
    &AUTOSCALER_WINDOW.setting,
    &AUTOSCALER_AUTO_MATCH_PREFILL.setting,
    &AUTOSCALER_SLA_TTFT_P99_MS.setting,
    &AUTOSCALER_SLA_TPOT_P99_MS.setting,
    &AUTOSCALER_SLA_REQUEST_TIMEOUT_MS.setting,
    &AUTOSCALER_COLD_START_STORAGE_BANDWIDTH_GBPS.setting,
    &AUTOSCALER_COLD_START_CONTAINER_START_SECONDS.setting,
    &AUTOSCALER_PREFILL.min_replicas.setting,
    &AUTOSCALER_PREFILL.max_replicas.setting,
    &AUTOSCALER_PREFILL.up_queue_depth.setting,
    &AUTOSCALER_PREFILL.up_ttft_p99_ms.setting,
    &AUTOSCALER_PREFILL.up_batch_utilization.setting,
    &AUTOSCALER_PREFILL.up_tpot_p99_ms.setting,
    &AUTOSCALER_PREFILL.down_gpu_utilization.setting,
    &AUTOSCALER_PREFILL.down_batch_utilization.setting,
    &AUTOSCALER_PREFILL.down_cooldown_seconds.setting,
    &AUTOSCALER_DECODE.min_replicas.setting,
    &AUTOSCALER_DECODE.max_replicas.setting,
    &AUTOSCALER_DECODE.up_queue_depth.setting,
    &AUTOSCALER_DECODE.up_ttft_p99_ms.setting,
    &AUTOSCALER_DECODE.up_batch_utilization.setting,
    &AUTOSCALER_DECODE.up_tpot_p99_ms.setting,
    &AUTOSCALER_DECODE.down_gpu_utilization.setting,
    &AUTOSCALER_DECODE.down_batch_utilization.setting,
    &AUTOSCALER_DECODE.down_cooldown_seconds.setting,
    &PRICING_USD_PER_GPU_HOUR.setting,
    // File-only keys.
    &NAME,
    &FRONTEND_REPLICAS.setting,
    &FRONTEND_MAX_CONCURRENT_REQUESTS.setting,
    &FRONTEND_REQUEST_TIMEOUT_MS.setting,
    &DECODE_MAX_BATCH_TOKENS.setting,
    &DECODE_MAX_INPUT_LENGTH.setting,
    &AGGREGATED_MAX_INPUT_LENGTH.setting,
    &AGGREGATED_MAX_OUTPUT_LENGTH.setting,
    // Settable keys added since the stable list (`--set` lists them in this order).
    &WORKLOAD_RAMP_UP.setting,
    &AGGREGATED_ENABLE_CHUNKED_CONTEXT.setting,
    &DECODE_DISABLE_OVERLAP_SCHEDULER.setting,
    &AGGREGATED_DISABLE_OVERLAP_SCHEDULER.setting,
    &BACKEND_VERSION.setting,
    &PREFILL_MOE_EP.setting,
    &PREFILL_MOE_TP.setting,
    &DECODE_MOE_EP.setting,
    &DECODE_MOE_TP.setting,
    &AGGREGATED_MOE_EP.setting,
    &AGGREGATED_MOE_TP.setting,
    &EXPERT_LOAD.setting,
];

/// The table entry of `key`.
pub(crate) fn lookup(key: &str) -> Option<&'static Setting> {
    ALL.iter().copied().find(|s| s.key == key)
}

/// Every key `--set` accepts, in table order.
pub fn set_keys() -> impl Iterator<Item = &'static str> {
    ALL.iter().filter(|s| s.set).map(|s| s.key)
}

/// Whether `--set` (and a sweep axis) accepts `key`.
pub fn is_set_key(key: &str) -> bool {
    lookup(key).is_some_and(|s| s.set)
}

/// The `--set` key closest to `key` in edit distance, when it is close enough to be a likely typo
/// (at most a third of the key's length apart).
pub(crate) fn suggest(key: &str) -> Option<&'static str> {
    let (best, d) = set_keys().map(|k| (k, edit_distance(key, k))).min_by_key(|(_, d)| *d)?;
    (d > 0 && d * 3 <= key.chars().count().max(3)).then_some(best)
}

/// Levenshtein distance between two short strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The key list for `pdsim run --help` and `pdsim sweep --help`: every key with its doc and default, the
/// file-only ones marked.
pub fn help() -> String {
    let width = ALL.iter().map(|s| s.key.len()).max().unwrap_or(0);
    let mut out = String::from(
        "Settings (--set KEY=VALUE, or a sweep axis key; keys marked [file only] are read from the scenario \
         files but not accepted by --set):\n",
    );
    for s in ALL {
        let default = match s.default {
            Literal(t) | Computed(t) => format!("default: {t}"),
            Unset(t) => format!("unset: {t}"),
        };
        let file_only = if s.set { "" } else { " [file only]" };
        out.push_str(&format!("  {:<width$}  {}{file_only} [{default}]\n", s.key, s.doc));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `--set` keys before the table existed (the old `SET_KEYS`), in order. Stable: scripts and CI
    /// rely on them (DESIGN.md §4), so keys may be added to the table but none of these may go.
    const STABLE_SET_KEYS: &[&str] = &[
        "model",
        "hardware",
        "backend",
        "mode",
        "weights_dtype",
        "kv_dtype",
        "prefill.replicas",
        "prefill.tp",
        "prefill.maxBatchSize",
        "prefill.maxBatchTokens",
        "prefill.maxInputLength",
        "decode.replicas",
        "decode.tp",
        "decode.maxBatchSize",
        "decode.maxOutputLength",
        "decode.kvCacheMemoryFraction",
        "aggregated.replicas",
        "aggregated.tp",
        "aggregated.maxBatchSize",
        "aggregated.maxBatchTokens",
        "aggregated.kvCacheMemoryFraction",
        "kvTransfer.backend",
        "kvTransfer.compression",
        "kvTransfer.maxInFlightTransfers",
        "kvTransfer.blockSizeKB",
        "router.policy",
        "router.overlapWeight",
        "router.temperature",
        "router.maxLocalPrefillLength",
        "prefixCache.capacity",
        "workload.kind",
        "workload.rate",
        "workload.cv",
        "workload.concurrency",
        "workload.isl",
        "workload.osl",
        "workload.trace",
        "workload.format",
        "workload.speedup",
        "workload.start",
        "workload.duration",
        "workload.sample",
        "workload.skip_bad_lines",
        "workload.trace_model",
        "workload.preset",
        "workload.amplitude",
        "workload.period",
        "workload.phase",
        "workload.profile",
        "workload.system_prompts",
        "workload.system_prompt_tok",
        "workload.system_prompt_zipf",
        "workload.sessions.turns",
        "workload.sessions.think_time",
        "requests",
        "duration",
        "seed",
        "autoscaler.enabled",
        "autoscaler.policy",
        "autoscaler.predictor",
        "autoscaler.scrapeInterval",
        "autoscaler.window",
        "autoscaler.autoMatchPrefill",
        "autoscaler.sla.ttftP99Ms",
        "autoscaler.sla.tpotP99Ms",
        "autoscaler.sla.requestTimeoutMs",
        "autoscaler.coldStart.storageBandwidthGBps",
        "autoscaler.coldStart.containerStartSeconds",
        "autoscaler.prefill.minReplicas",
        "autoscaler.prefill.maxReplicas",
        "autoscaler.prefill.up.queueDepth",
        "autoscaler.prefill.up.ttftP99Ms",
        "autoscaler.prefill.up.batchUtilization",
        "autoscaler.prefill.up.tpotP99Ms",
        "autoscaler.prefill.down.gpuUtilization",
        "autoscaler.prefill.down.batchUtilization",
        "autoscaler.prefill.down.cooldownSeconds",
        "autoscaler.decode.minReplicas",
        "autoscaler.decode.maxReplicas",
        "autoscaler.decode.up.queueDepth",
        "autoscaler.decode.up.ttftP99Ms",
        "autoscaler.decode.up.batchUtilization",
        "autoscaler.decode.up.tpotP99Ms",
        "autoscaler.decode.down.gpuUtilization",
        "autoscaler.decode.down.batchUtilization",
        "autoscaler.decode.down.cooldownSeconds",
        "pricing.usd_per_gpu_hour",
    ];

    #[test]
    fn set_keys_keep_the_stable_ones_in_order() {
        let now: Vec<&str> = set_keys().collect();
        assert_eq!(&now[..STABLE_SET_KEYS.len()], STABLE_SET_KEYS);
    }

    #[test]
    fn keys_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for s in ALL {
            assert!(seen.insert(s.key), "{} is in the table twice", s.key);
        }
    }

    /// A literal default is parsed like a given value when resolving; each one must parse.
    #[test]
    fn literal_defaults_parse() {
        fn check<T>(k: &Key<T>) {
            if let Literal(t) = k.setting.default {
                assert!((k.parse)(t).is_ok(), "{}: default {t} does not parse", k.key());
            }
        }
        check(&BACKEND);
        check(&MODE);
        check(&WEIGHTS_DTYPE);
        check(&KV_DTYPE);
        check(&ROUTER_POLICY);
        check(&PREFIX_CACHE_CAPACITY);
        check(&KV_TRANSFER_BACKEND);
        check(&KV_TRANSFER_COMPRESSION);
        check(&WORKLOAD_KIND);
        check(&WORKLOAD_START);
        check(&WORKLOAD_PERIOD);
        check(&WORKLOAD_SKIP_BAD_LINES);
        check(&AUTOSCALER_PREDICTOR);
        check(&AUTOSCALER_SCRAPE_INTERVAL);
        for k in [
            &FRONTEND_REPLICAS,
            &FRONTEND_MAX_CONCURRENT_REQUESTS,
            &DECODE_MAX_BATCH_TOKENS,
            &DECODE_MAX_INPUT_LENGTH,
            &ROUTER_MAX_LOCAL_PREFILL_LENGTH,
            &PREFILL_REPLICAS,
            &PREFILL_MAX_BATCH_SIZE,
            &PREFILL_MAX_BATCH_TOKENS,
            &PREFILL_MAX_INPUT_LENGTH,
            &DECODE_REPLICAS,
            &DECODE_MAX_BATCH_SIZE,
            &DECODE_MAX_OUTPUT_LENGTH,
            &KV_TRANSFER_MAX_IN_FLIGHT_TRANSFERS,
            &WORKLOAD_SYSTEM_PROMPTS,
            &AUTOSCALER_PREFILL.min_replicas,
            &AUTOSCALER_DECODE.min_replicas,
        ] {
            check(k);
        }
        for k in [
            &ROUTER_OVERLAP_WEIGHT,
            &ROUTER_TEMPERATURE,
            &DECODE_KV_CACHE_MEMORY_FRACTION,
            &WORKLOAD_CV,
            &WORKLOAD_SPEEDUP,
            &WORKLOAD_SAMPLE,
            &WORKLOAD_AMPLITUDE,
            &WORKLOAD_PHASE,
            &WORKLOAD_SYSTEM_PROMPT_ZIPF,
            &AUTOSCALER_COLD_START_STORAGE_BANDWIDTH_GBPS,
            &AUTOSCALER_COLD_START_CONTAINER_START_SECONDS,
            &AUTOSCALER_PREFILL.down_cooldown_seconds,
            &AUTOSCALER_DECODE.down_cooldown_seconds,
        ] {
            check(k);
        }
        check(&KV_TRANSFER_BLOCK_SIZE_KB);
        check(&SEED);
        check(&FRONTEND_REQUEST_TIMEOUT_MS);
    }

    /// Literal defaults that restate a constant of `spec` must equal it.
    #[test]
    fn literal_defaults_match_the_spec_constants() {
        use crate::spec::autoscaler::{
            DEFAULT_CONTAINER_START_NS, DEFAULT_STORAGE_BYTES_PER_S, PROMETHEUS_DEFAULT_SCRAPE_NS,
        };
        let lit = |s: &Setting| match s.default {
            Literal(t) => t,
            other => panic!("{}: {other:?}", s.key),
        };
        let parse = |k: &Key<f64>| (k.parse)(lit(&k.setting)).unwrap();
        let router = crate::spec::deployment::KvRouterConfig::default();
        assert_eq!(parse(&ROUTER_OVERLAP_WEIGHT), router.overlap_weight);
        assert_eq!(parse(&ROUTER_TEMPERATURE), router.temperature);
        assert_eq!(
            (ROUTER_MAX_LOCAL_PREFILL_LENGTH.parse)(lit(&ROUTER_MAX_LOCAL_PREFILL_LENGTH.setting)),
            Ok(router.max_local_prefill_tok)
        );
        assert_eq!(parse(&AUTOSCALER_COLD_START_STORAGE_BANDWIDTH_GBPS) * 1e9, DEFAULT_STORAGE_BYTES_PER_S);
        assert_eq!(parse(&AUTOSCALER_COLD_START_CONTAINER_START_SECONDS) * 1e9, DEFAULT_CONTAINER_START_NS as f64);
        assert_eq!(
            (AUTOSCALER_SCRAPE_INTERVAL.parse)(lit(&AUTOSCALER_SCRAPE_INTERVAL.setting)),
            Ok(PROMETHEUS_DEFAULT_SCRAPE_NS)
        );
        assert!(
            matches!(REQUESTS.setting.default, Unset(t) if t.starts_with(&crate::spec::scenario::DEFAULT_REQUESTS.to_string()))
        );
    }

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(suggest("decode.replica"), Some("decode.replicas"));
        assert_eq!(suggest("prefill.maxbatchsize"), Some("prefill.maxBatchSize"));
        assert_eq!(suggest("zzz"), None);
        assert_eq!(suggest("completely.unrelated.thing"), None);
    }

    #[test]
    fn help_lists_every_key() {
        let h = help();
        for s in ALL {
            assert!(h.lines().any(|l| l.trim_start().starts_with(&format!("{} ", s.key))), "{} not in help", s.key);
        }
    }
}
