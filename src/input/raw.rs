//! Serde shapes of the `kind: Scenario` and `kind: DynamoGraphDeploymentRequest` documents, how a multi-document
//! stream is split by `kind`, and how each document is flattened into [`Settings`].
//!
//! Every leaf is read as a located scalar ([`Field`]) and parsed only when the scenario is resolved, so that a
//! bad value gets one message style (`expected a positive integer, got -4`) wherever it came from (a file or
//! `--set`). Unknown fields are errors (`deny_unknown_fields`); the real Kubernetes manifest
//! (`DynamoGraphDeployment`, in [`super::dgd`]) is read leniently instead.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::dgd::DgdDoc;
use super::error::{Origin, ScenarioError};
use super::keys::{self as k, Setting};
use super::settings::{Settings, Val, Value};
use crate::spec::workload::LengthDist;

/// One input file (or in-memory text) of a scenario.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// Name shown in messages (the path as given).
    pub name: String,
    pub text: String,
    /// Directory that relative paths inside the file are resolved against.
    pub base_dir: Option<PathBuf>,
    pub path: PathBuf,
}

/// A scalar as written. Numbers and booleans arrive typed from the YAML parser and are formatted back to text
/// (`0.92`, `4`, `false`); null is the absence of the field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar (a number or a string)")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// An optional located scalar: every leaf of our documents.
pub(crate) type Field = Option<Spanned<Scalar>>;

/// `isl` / `osl`: a bare number, the compact string syntax (`uniform:128-2048`), or a mapping.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LengthField {
    Scalar(Scalar),
    Map(Box<LengthMap>),
}

impl<'de> Deserialize<'de> for LengthField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LengthField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a token length: a number, `uniform:MIN-MAX`, `lognormal:mean=M,sigma=S`, or a mapping \
                     with `dist:`",
                )
            }
            fn visit_str<E>(self, v: &str) -> Result<LengthField, E> {
                Ok(LengthField::Scalar(Scalar(v.to_string())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<LengthField, E> {
                Ok(LengthField::Scalar(Scalar(v.to_string())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<LengthField, E> {
                Ok(LengthField::Scalar(Scalar(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<LengthField, E> {
                Ok(LengthField::Scalar(Scalar(v.to_string())))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LengthField, A::Error> {
                LengthMap::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|m| LengthField::Map(Box::new(m)))
            }
        }
        d.deserialize_any(V)
    }
}

/// `{dist: fixed, value: N}`, `{dist: uniform, min: A, max: B}`,
/// `{dist: lognormal, mean: M, sigma: S, min: A, max: B}` (lognormal `min` defaults to 1, `max` to
/// [`crate::workload::DEFAULT_LOGNORMAL_MAX`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LengthMap {
    pub dist: Field,
    pub value: Field,
    pub min: Field,
    pub max: Field,
    pub mean: Field,
    pub sigma: Field,
}

// ---------------------------------------------------------------------------------------------------------
// kind: Scenario
// ---------------------------------------------------------------------------------------------------------

/// The `kind: Scenario` document. Defaults are applied when resolving (see [`super::resolve`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScenarioDoc {
    /// Free-form (e.g. `pdsim/v1`); not checked.
    #[serde(rename = "apiVersion")]
    pub _api_version: Option<Scalar>,
    #[serde(rename = "kind")]
    pub _kind: Scalar,
    /// Default: the stem of the file.
    pub name: Field,
    /// Preset name or path to a Hugging Face `config.json` (relative to this file). Default: the deployment's.
    pub model: Field,
    /// Default `h100-sxm`.
    pub hardware: Field,
    /// `trtllm` (default), `vllm`, `sglang`.
    pub backend: Field,
    /// The engine's release, e.g. `1.2.0rc6` (default: unset).
    #[serde(rename = "backendVersion")]
    pub backend_version: Field,
    /// MoE models: `balanced`, `power_law_1.01` (default) or `power_law_1.2`.
    #[serde(rename = "expertLoad")]
    pub expert_load: Field,
    /// `disaggregated` (default when the deployment has a prefill pool) or `aggregated`.
    pub mode: Field,
    /// `bf16` (default) or `fp8`.
    pub weights_dtype: Field,
    pub kv_dtype: Field,
    pub router: Option<RouterDoc>,
    #[serde(rename = "prefixCache")]
    pub prefix_cache: Option<PrefixCacheDoc>,
    pub autoscaler: Option<AutoscalerDoc>,
    pub workload: Option<Spanned<WorkloadDoc>>,
    /// Requests to offer (default [`super::DEFAULT_REQUESTS`] when neither this nor `duration` is set).
    pub requests: Field,
    /// Simulated time to offer traffic for: `600`, `600s`, `10m`, `1h`, `1500ms`.
    pub duration: Field,
    /// Default 42.
    pub seed: Field,
    pub pricing: Option<PricingDoc>,
    /// The single pool of aggregated mode (overrides a `worker`/`aggregated`/`decode` component).
    pub aggregated: Option<AggregatedDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouterDoc {
    /// `round_robin` (default), `least_loaded` or `kv_aware`.
    pub policy: Field,
    /// KV-aware router: weight of blocks to prefill against load (default 1.0).
    #[serde(rename = "overlapWeight")]
    pub overlap_weight: Field,
    /// KV-aware router: softmax temperature (default 0: lowest cost wins).
    pub temperature: Field,
    /// Conditional disaggregation: prefill on the decode worker when at most this many prompt tokens
    /// miss its prefix cache (default 0: off).
    #[serde(rename = "maxLocalPrefillLength")]
    pub max_local_prefill_length: Field,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrefixCacheDoc {
    /// `auto` (default: the worker's KV capacity), `unbounded`, `off`, or a block count.
    pub capacity: Field,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AutoscalerDoc {
    /// Only `false` is supported yet.
    pub enabled: Field,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PricingDoc {
    /// Default: the hardware profile's list price.
    pub usd_per_gpu_hour: Field,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkloadDoc {
    /// `poisson` (default), `gamma`, `closed_loop`, `offline`, `trace`.
    pub kind: Field,
    /// Requests/s (poisson, gamma).
    pub rate: Field,
    /// Coefficient of variation of the gaps (gamma; default 1).
    pub cv: Field,
    /// Clients (closed_loop).
    pub concurrency: Field,
    /// How long the clients take to start, one by one (closed_loop; default 0: all at once).
    #[serde(rename = "rampUp")]
    pub ramp_up: Field,
    pub isl: Option<Spanned<LengthField>>,
    pub osl: Option<Spanned<LengthField>>,
    /// Trace file, relative to this file.
    pub trace: Field,
    /// `azure`, `mooncake` or `burstgpt`; default from the extension (`.csv`, `.jsonl`) and a `.csv`'s
    /// header.
    pub format: Field,
    /// Replay speed (2 = twice as fast); default 1.
    pub speedup: Field,
    /// Trace: window start in trace time after the first request (default 0).
    pub start: Field,
    /// Trace: window length in trace time (default: to the end).
    pub duration: Field,
    /// Trace: fraction of requests to keep, chosen from the seed (default 1).
    pub sample: Field,
    /// Trace: skip and count malformed lines instead of stopping (default false).
    pub skip_bad_lines: Field,
    /// Trace (BurstGPT): keep only rows of this `Model`.
    pub trace_model: Field,
    /// Synthetic: a traffic preset (`chatbot`, `rag`, `code_generation`, `summarization`, `batch`) giving
    /// isl and osl from a published trace; an explicit isl or osl replaces the preset's.
    pub preset: Field,
    /// Diurnal: relative amplitude of the sinusoidal rate, in [0, 1] (default 0.5).
    pub amplitude: Field,
    /// Diurnal: period of the rate cycle, a duration (default 24h).
    pub period: Field,
    /// Diurnal: phase of the sinusoid in radians (default 0).
    pub phase: Field,
    /// Step / ramp: `[[time, rate], ...]` (time a duration from 0, rate requests/s), or the text form
    /// `0:10,300s:40`.
    pub profile: Option<Spanned<ProfileField>>,
    /// Synthetic: number of shared system prompts (default 0 = none).
    pub system_prompts: Field,
    /// Synthetic: tokens per system prompt, prepended to each prompt.
    pub system_prompt_tok: Field,
    /// Synthetic: Zipf exponent of the system-prompt choice (default 0 = uniform).
    pub system_prompt_zipf: Field,
    /// Synthetic: multi-turn sessions `{turns: mean turns, think_time: duration}`.
    pub sessions: Option<SessionsDoc>,
}

/// `sessions:` of a synthetic workload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionsDoc {
    /// Mean turns per session (>= 1).
    pub turns: Field,
    /// Mean think time between turns, a duration (`30s`, `0`).
    pub think_time: Field,
}

/// A rate profile: a sequence of `[time, rate]` pairs, read into the text form `t:r,t:r` that `--set
/// workload.profile=...` also uses (parsed when resolved).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProfileField(pub Scalar);

impl<'de> Deserialize<'de> for ProfileField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ProfileField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rate profile: a list of [time, rate] pairs such as [[0, 10], [300s, 40]]")
            }
            fn visit_str<E>(self, v: &str) -> Result<ProfileField, E> {
                Ok(ProfileField(Scalar(v.to_string())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<ProfileField, A::Error> {
                let mut parts = Vec::new();
                while let Some(pair) = seq.next_element::<Vec<Scalar>>()? {
                    let [t, r] = pair.as_slice() else {
                        return Err(de::Error::custom(format!(
                            "a rate profile point: expected [time, rate], got {} values",
                            pair.len()
                        )));
                    };
                    parts.push(format!("{}:{}", t.0, r.0));
                }
                Ok(ProfileField(Scalar(parts.join(","))))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AggregatedDoc {
    pub replicas: Field,
    pub tp: Field,
    #[serde(rename = "maxBatchSize")]
    pub max_batch_size: Field,
    #[serde(rename = "maxBatchTokens")]
    pub max_batch_tokens: Field,
    #[serde(rename = "maxInputLength")]
    pub max_input_length: Field,
    #[serde(rename = "maxOutputLength")]
    pub max_output_length: Field,
    #[serde(rename = "kvCacheMemoryFraction")]
    pub kv_cache_memory_fraction: Field,
    /// TensorRT-LLM's `enable_chunked_context` (default false).
    #[serde(rename = "enableChunkedContext")]
    pub enable_chunked_context: Field,
    /// TensorRT-LLM's `disable_overlap_scheduler` (default false).
    #[serde(rename = "disableOverlapScheduler")]
    pub disable_overlap_scheduler: Field,
}

// ---------------------------------------------------------------------------------------------------------
// kind: DynamoGraphDeploymentRequest
// ---------------------------------------------------------------------------------------------------------

/// The deployment as the deployment guide writes it:
///
/// ```yaml
/// apiVersion: nvidia.com/v1alpha1
/// kind: DynamoGraphDeploymentRequest
/// metadata: {name: llama70b-production}
/// spec:
///   model: meta-llama/Llama-3.1-70B-Instruct
///   backend: trtllm
///   components:
///     frontend: {replicas: 1, config: {maxConcurrentRequests: 4096, requestTimeoutMs: 60000}}
///     prefill: {replicas: 1, resources: {gpu: 4}, config: {tensorParallelSize: 4, maxBatchSize: 32}}
///     decode: {replicas: 3, resources: {gpu: 4}, config: {maxBatchSize: 256, kvCacheMemoryFraction: 0.92}}
///     kvTransfer: {backend: nccl, compression: none, maxInFlightTransfers: 64, blockSizeKB: 512}
/// ```
///
/// Every field is optional; defaults are listed on each struct.
pub(crate) type DgdrDoc = Manifest<DgdrSpec>;

/// A Kubernetes-style document read strictly: `apiVersion`, `kind`, `metadata` and its `spec`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest<S> {
    /// Checked against the kind's group/version when given ([`Sink::check_api_version`]).
    #[serde(rename = "apiVersion")]
    pub api_version: Field,
    #[serde(rename = "kind")]
    pub _kind: Scalar,
    /// `name`, `namespace`, `labels`, `annotations`; not used.
    #[serde(rename = "metadata")]
    pub _metadata: Option<Metadata>,
    pub spec: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Metadata {
    #[serde(rename = "name")]
    pub _name: Option<Scalar>,
    #[serde(rename = "namespace")]
    pub _namespace: Option<Scalar>,
    #[serde(rename = "labels")]
    pub _labels: Option<IgnoredAny>,
    #[serde(rename = "annotations")]
    pub _annotations: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DgdrSpec {
    /// Used when the `Scenario` document names no model.
    pub model: Field,
    /// Used when the `Scenario` document names no backend.
    pub backend: Field,
    pub components: Option<Components>,
}

/// A deployment has `prefill` + `decode` (disaggregated) or one `decode`, `worker` or `aggregated`
/// component (aggregated: that component is the single pool).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Components {
    pub frontend: Option<FrontendComponent>,
    pub prefill: Option<Spanned<WorkerComponent<PrefillConfig>>>,
    pub decode: Option<Spanned<WorkerComponent<DecodeConfig>>>,
    pub worker: Option<Spanned<WorkerComponent<DecodeConfig>>>,
    pub aggregated: Option<Spanned<WorkerComponent<DecodeConfig>>>,
    #[serde(rename = "kvTransfer")]
    pub kv_transfer: Option<KvTransferComponent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FrontendComponent {
    /// Checked (>= 1) but not modelled: the frontend is never the bottleneck in pdsim.
    pub replicas: Field,
    pub config: Option<FrontendConfigDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FrontendConfigDoc {
    /// Default 4096.
    #[serde(rename = "maxConcurrentRequests")]
    pub max_concurrent_requests: Field,
    /// Default 600000 (10 minutes).
    #[serde(rename = "requestTimeoutMs")]
    pub request_timeout_ms: Field,
    /// Same as `router.policy` of the `Scenario` document, which wins.
    #[serde(rename = "routerPolicy")]
    pub router_policy: Field,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkerComponent<C> {
    /// Default 1.
    pub replicas: Field,
    pub resources: Option<Resources>,
    pub config: Option<C>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Resources {
    /// GPUs per replica; the TP size when `tensorParallelSize` is not given.
    pub gpu: Field,
}

/// Prefill pool defaults: tp 1, maxBatchSize 8, maxBatchTokens 16384, maxInputLength 131072.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrefillConfig {
    #[serde(rename = "tensorParallelSize")]
    pub tensor_parallel_size: Field,
    /// MoE models: expert-parallel ranks (aiconfigurator's and the engines' `moe_ep_size`).
    #[serde(rename = "expertParallelSize")]
    pub expert_parallel_size: Field,
    #[serde(rename = "moeTensorParallelSize")]
    pub moe_tensor_parallel_size: Field,
    #[serde(rename = "maxBatchSize")]
    pub max_batch_size: Field,
    #[serde(rename = "maxBatchTokens")]
    pub max_batch_tokens: Field,
    #[serde(rename = "maxInputLength")]
    pub max_input_length: Field,
}

/// Decode pool defaults: tp 1, maxBatchSize 64, maxOutputLength 131072, kvCacheMemoryFraction 0.8.
/// `maxBatchTokens` (default 8192) and `maxInputLength` (default 131072) apply when this component is the
/// aggregated pool.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecodeConfig {
    #[serde(rename = "tensorParallelSize")]
    pub tensor_parallel_size: Field,
    #[serde(rename = "expertParallelSize")]
    pub expert_parallel_size: Field,
    #[serde(rename = "moeTensorParallelSize")]
    pub moe_tensor_parallel_size: Field,
    #[serde(rename = "maxBatchSize")]
    pub max_batch_size: Field,
    #[serde(rename = "maxBatchTokens")]
    pub max_batch_tokens: Field,
    #[serde(rename = "maxInputLength")]
    pub max_input_length: Field,
    #[serde(rename = "maxOutputLength")]
    pub max_output_length: Field,
    #[serde(rename = "kvCacheMemoryFraction")]
    pub kv_cache_memory_fraction: Field,
    /// TensorRT-LLM's `disable_overlap_scheduler` (default false).
    #[serde(rename = "disableOverlapScheduler")]
    pub disable_overlap_scheduler: Field,
}

/// Defaults: backend tcp, compression none, maxInFlightTransfers 16, blockSizeKB 512.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KvTransferComponent {
    /// `nccl`, `nixl`, `tcp`, `nvlink`.
    pub backend: Field,
    /// `none` or `lz4`.
    pub compression: Field,
    #[serde(rename = "maxInFlightTransfers")]
    pub max_in_flight_transfers: Field,
    /// KiB.
    #[serde(rename = "blockSizeKB")]
    pub block_size_kb: Field,
}

// ---------------------------------------------------------------------------------------------------------
// Splitting a stream by kind
// ---------------------------------------------------------------------------------------------------------

pub(crate) const SUPPORTED_KINDS: &str =
    "Scenario, DynamoGraphDeploymentRequest, DynamoGraphDeployment, DynamoAutoscaler, PrometheusRule";
/// Kinds of the design (DESIGN.md §5) that pdsim does not read yet.
const LATER_KINDS: &[&str] = &[];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DocKind {
    Scenario,
    Dgdr,
    Dgd,
    Autoscaler,
    PrometheusRule,
}

/// One parsed document of a file.
#[derive(Debug)]
pub(crate) enum Doc {
    Scenario(Box<ScenarioDoc>),
    Dgdr(Box<DgdrDoc>),
    Dgd(Box<DgdDoc>),
    Autoscaler(Box<super::autoscaler::AutoscalerDoc>),
    PrometheusRule(Box<super::alerts::PrometheusRuleDoc>),
}

/// First pass: only `kind`, everything else skipped.
#[derive(Deserialize)]
struct KindProbe {
    kind: Option<Scalar>,
}

thread_local! {
    /// Kinds of the documents of the stream being read, in order, for [`Doc`]'s `Deserialize` (serde-saphyr
    /// reads every document of a stream into one type; the first pass tells the second which type each is).
    static PLAN: RefCell<VecDeque<DocKind>> = const { RefCell::new(VecDeque::new()) };
}

impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match PLAN.with(|p| p.borrow_mut().pop_front()) {
            Some(DocKind::Scenario) => ScenarioDoc::deserialize(d).map(|x| Doc::Scenario(Box::new(x))),
            Some(DocKind::Dgdr) => DgdrDoc::deserialize(d).map(|x| Doc::Dgdr(Box::new(x))),
            Some(DocKind::Dgd) => DgdDoc::deserialize(d).map(|x| Doc::Dgd(Box::new(x))),
            Some(DocKind::PrometheusRule) => {
                super::alerts::PrometheusRuleDoc::deserialize(d).map(|x| Doc::PrometheusRule(Box::new(x)))
            }
            Some(DocKind::Autoscaler) => {
                super::autoscaler::AutoscalerDoc::deserialize(d).map(|x| Doc::Autoscaler(Box::new(x)))
            }
            None => Err(de::Error::custom("internal error: the document count changed between passes")),
        }
    }
}

/// Reads every document of `src`: `(origin of the document, document)`, in order. Empty documents are
/// skipped. A document without `kind`, or of a kind pdsim does not read, is an error naming its line.
pub(crate) fn read_documents(src: &Source) -> Result<Vec<(Origin, Doc)>, ScenarioError> {
    let yaml_err = |e: serde_saphyr::Error| ScenarioError::from_yaml(&src.name, &src.text, &e);
    let probes: Vec<Spanned<KindProbe>> = serde_saphyr::from_multiple(&src.text).map_err(yaml_err)?;
    let mut kinds = VecDeque::new();
    let mut origins = Vec::new();
    for p in &probes {
        let origin = Origin::file(&src.name, p.referenced.line(), p.referenced.column());
        let kind = match p.value.kind.as_ref().map(|k| k.0.as_str()) {
            Some("Scenario") => DocKind::Scenario,
            Some("DynamoGraphDeploymentRequest") => DocKind::Dgdr,
            Some("DynamoGraphDeployment") => DocKind::Dgd,
            Some("DynamoAutoscaler") => DocKind::Autoscaler,
            Some("PrometheusRule") => DocKind::PrometheusRule,
            Some(other) => {
                let what = if LATER_KINDS.contains(&other) { "is not supported yet" } else { "is unknown" };
                return Err(ScenarioError::document(
                    &origin,
                    format!("kind {other} {what}: expected one of {SUPPORTED_KINDS}"),
                ));
            }
            None => {
                return Err(ScenarioError::document(
                    &origin,
                    format!("document has no `kind`: expected one of {SUPPORTED_KINDS}"),
                ))
            }
        };
        kinds.push_back(kind);
        origins.push(origin);
    }
    PLAN.with(|p| *p.borrow_mut() = kinds);
    let docs: Result<Vec<Doc>, _> = serde_saphyr::from_multiple(&src.text);
    PLAN.with(|p| p.borrow_mut().clear());
    let docs = docs.map_err(yaml_err)?;
    if docs.len() != origins.len() {
        return Err(ScenarioError::document(
            &Origin::whole_file(&src.name),
            "internal error: the document count changed between passes",
        ));
    }
    Ok(origins.into_iter().zip(docs).collect())
}

// ---------------------------------------------------------------------------------------------------------
// Flattening into Settings
// ---------------------------------------------------------------------------------------------------------

/// Writes the fields of one document into [`Settings`], each with its file position and YAML path.
pub(crate) struct Sink<'a> {
    pub src: &'a Source,
    pub out: &'a mut Settings,
}

impl Sink<'_> {
    pub fn origin<T>(&self, s: &Spanned<T>) -> Origin {
        Origin::file(&self.src.name, s.referenced.line(), s.referenced.column())
    }

    pub fn val<T>(&self, s: &Spanned<T>, field: &str, value: Value) -> Val {
        Val { value, origin: self.origin(s), field: field.to_string(), base_dir: self.src.base_dir.clone() }
    }

    /// Sets `key` from `f` when present; `field` is where it was written.
    pub fn put(&mut self, key: &Setting, field: &str, f: &Field) {
        if let Some(s) = f {
            let v = self.val(s, field, Value::Text(s.value.0.clone()));
            self.out.set(key, v);
        }
    }

    /// Sets `key` from `f` when present, where the field's path is the key (the `Scenario` document).
    fn put_same(&mut self, key: &Setting, f: &Field) {
        self.put(key, key.key, f);
    }

    fn put_length(&mut self, key: &Setting, f: &Option<Spanned<LengthField>>) -> Result<(), ScenarioError> {
        let field = key.key;
        let Some(s) = f else { return Ok(()) };
        let value = match &s.value {
            LengthField::Scalar(t) => Value::Text(t.0.clone()),
            LengthField::Map(m) => Value::Dist(self.length_map(field, &self.origin(s), m)?),
        };
        let v = self.val(s, field, value);
        self.out.set(key, v);
        Ok(())
    }

    /// Checks a `{dist: ...}` mapping and builds the distribution.
    fn length_map(&self, field: &str, at: &Origin, m: &LengthMap) -> Result<LengthDist, ScenarioError> {
        let sub = |name: &str| format!("{field}.{name}");
        let need = |f: &Field, name: &str, dist: &str| -> Result<(Origin, String), ScenarioError> {
            match f {
                Some(s) => Ok((self.origin(s), s.value.0.clone())),
                None => Err(ScenarioError::invalid(at, &sub(name), format!("missing; dist {dist} needs it"))),
            }
        };
        let int = |(o, t): (Origin, String), name: &str| -> Result<u32, ScenarioError> {
            t.trim().parse::<u32>().map_err(|_| {
                ScenarioError::invalid(&o, &sub(name), format!("expected a non-negative integer token count, got {t}"))
            })
        };
        let num = |(o, t): (Origin, String), name: &str| -> Result<f64, ScenarioError> {
            t.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| ScenarioError::invalid(&o, &sub(name), format!("expected a number, got {t}")))
        };
        let unused = |allowed: &[&str], dist: &str| -> Result<(), ScenarioError> {
            for (name, f) in
                [("value", &m.value), ("min", &m.min), ("max", &m.max), ("mean", &m.mean), ("sigma", &m.sigma)]
            {
                if let (Some(s), false) = (f, allowed.contains(&name)) {
                    return Err(ScenarioError::invalid(
                        &self.origin(s),
                        &sub(name),
                        format!("not used by dist {dist} (expected only: dist, {})", allowed.join(", ")),
                    ));
                }
            }
            Ok(())
        };
        let Some(dist) = &m.dist else {
            return Err(ScenarioError::invalid(at, &sub("dist"), "missing; expected fixed, uniform or lognormal"));
        };
        let d = match dist.value.0.as_str() {
            "fixed" => {
                unused(&["value"], "fixed")?;
                LengthDist::Fixed(int(need(&m.value, "value", "fixed")?, "value")?)
            }
            "uniform" => {
                unused(&["min", "max"], "uniform")?;
                LengthDist::Uniform {
                    min: int(need(&m.min, "min", "uniform")?, "min")?,
                    max: int(need(&m.max, "max", "uniform")?, "max")?,
                }
            }
            "lognormal" => {
                unused(&["mean", "sigma", "min", "max"], "lognormal")?;
                let opt = |f: &Field, name: &str, default: u32| match f {
                    Some(s) => int((self.origin(s), s.value.0.clone()), name),
                    None => Ok(default),
                };
                LengthDist::LogNormal {
                    mean: num(need(&m.mean, "mean", "lognormal")?, "mean")?,
                    sigma: num(need(&m.sigma, "sigma", "lognormal")?, "sigma")?,
                    min: opt(&m.min, "min", 1)?,
                    max: opt(&m.max, "max", crate::workload::DEFAULT_LOGNORMAL_MAX)?,
                }
            }
            other => {
                return Err(ScenarioError::invalid(
                    &self.origin(dist),
                    &sub("dist"),
                    format!("expected fixed, uniform or lognormal, got {other}"),
                ))
            }
        };
        d.validate().map_err(|e| ScenarioError::invalid(at, field, e))?;
        Ok(d)
    }

    /// Flattens a `kind: Scenario` document.
    pub fn scenario(&mut self, d: &ScenarioDoc) -> Result<(), ScenarioError> {
        self.put_same(&k::NAME, &d.name);
        self.put_same(&k::MODEL, &d.model);
        self.put_same(&k::HARDWARE, &d.hardware);
        self.put_same(&k::BACKEND.setting, &d.backend);
        self.put_same(&k::BACKEND_VERSION.setting, &d.backend_version);
        self.put_same(&k::EXPERT_LOAD.setting, &d.expert_load);
        self.put_same(&k::MODE.setting, &d.mode);
        self.put_same(&k::WEIGHTS_DTYPE.setting, &d.weights_dtype);
        self.put_same(&k::KV_DTYPE.setting, &d.kv_dtype);
        if let Some(r) = &d.router {
            self.put_same(&k::ROUTER_POLICY.setting, &r.policy);
            self.put_same(&k::ROUTER_OVERLAP_WEIGHT.setting, &r.overlap_weight);
            self.put_same(&k::ROUTER_TEMPERATURE.setting, &r.temperature);
            self.put_same(&k::ROUTER_MAX_LOCAL_PREFILL_LENGTH.setting, &r.max_local_prefill_length);
        }
        if let Some(p) = &d.prefix_cache {
            self.put_same(&k::PREFIX_CACHE_CAPACITY.setting, &p.capacity);
        }
        if let Some(a) = &d.autoscaler {
            self.put_same(&k::AUTOSCALER_ENABLED.setting, &a.enabled);
        }
        if let Some(p) = &d.pricing {
            self.put_same(&k::PRICING_USD_PER_GPU_HOUR.setting, &p.usd_per_gpu_hour);
        }
        self.put_same(&k::REQUESTS.setting, &d.requests);
        self.put_same(&k::DURATION.setting, &d.duration);
        self.put_same(&k::SEED.setting, &d.seed);
        if let Some(w) = &d.workload {
            self.out.workload = Some(self.origin(w));
            let w = &w.value;
            for (key, f) in [
                (&k::WORKLOAD_KIND.setting, &w.kind),
                (&k::WORKLOAD_RATE.setting, &w.rate),
                (&k::WORKLOAD_CV.setting, &w.cv),
                (&k::WORKLOAD_CONCURRENCY.setting, &w.concurrency),
                (&k::WORKLOAD_RAMP_UP.setting, &w.ramp_up),
                (&k::WORKLOAD_TRACE, &w.trace),
                (&k::WORKLOAD_FORMAT.setting, &w.format),
                (&k::WORKLOAD_SPEEDUP.setting, &w.speedup),
                (&k::WORKLOAD_START.setting, &w.start),
                (&k::WORKLOAD_DURATION.setting, &w.duration),
                (&k::WORKLOAD_SAMPLE.setting, &w.sample),
                (&k::WORKLOAD_SKIP_BAD_LINES.setting, &w.skip_bad_lines),
                (&k::WORKLOAD_TRACE_MODEL, &w.trace_model),
                (&k::WORKLOAD_PRESET, &w.preset),
                (&k::WORKLOAD_AMPLITUDE.setting, &w.amplitude),
                (&k::WORKLOAD_PERIOD.setting, &w.period),
                (&k::WORKLOAD_PHASE.setting, &w.phase),
                (&k::WORKLOAD_SYSTEM_PROMPTS.setting, &w.system_prompts),
                (&k::WORKLOAD_SYSTEM_PROMPT_TOK.setting, &w.system_prompt_tok),
                (&k::WORKLOAD_SYSTEM_PROMPT_ZIPF.setting, &w.system_prompt_zipf),
            ] {
                self.put_same(key, f);
            }
            if let Some(p) = &w.profile {
                let key = &k::WORKLOAD_PROFILE.setting;
                let v = self.val(p, key.key, Value::Text(p.value.0 .0.clone()));
                self.out.set(key, v);
            }
            if let Some(sess) = &w.sessions {
                self.put_same(&k::WORKLOAD_SESSIONS_TURNS.setting, &sess.turns);
                self.put_same(&k::WORKLOAD_SESSIONS_THINK_TIME.setting, &sess.think_time);
            }
            self.put_length(&k::WORKLOAD_ISL, &w.isl)?;
            self.put_length(&k::WORKLOAD_OSL, &w.osl)?;
        }
        if let Some(a) = &d.aggregated {
            for (key, f) in [
                (&k::AGGREGATED_REPLICAS.setting, &a.replicas),
                (&k::AGGREGATED_TP, &a.tp),
                (&k::AGGREGATED_MAX_BATCH_SIZE.setting, &a.max_batch_size),
                (&k::AGGREGATED_MAX_BATCH_TOKENS.setting, &a.max_batch_tokens),
                (&k::AGGREGATED_MAX_INPUT_LENGTH.setting, &a.max_input_length),
                (&k::AGGREGATED_MAX_OUTPUT_LENGTH.setting, &a.max_output_length),
                (&k::AGGREGATED_KV_CACHE_MEMORY_FRACTION.setting, &a.kv_cache_memory_fraction),
                (&k::AGGREGATED_ENABLE_CHUNKED_CONTEXT.setting, &a.enable_chunked_context),
                (&k::AGGREGATED_DISABLE_OVERLAP_SCHEDULER.setting, &a.disable_overlap_scheduler),
            ] {
                self.put_same(key, f);
            }
        }
        Ok(())
    }

    /// An `apiVersion` field, when given, must be `expected`.
    pub fn check_api_version(&self, f: &Field, expected: &str) -> Result<(), ScenarioError> {
        match f {
            Some(v) if v.value.0 != expected => Err(ScenarioError::invalid(
                &self.origin(v),
                "apiVersion",
                format!("expected {expected}, got {}", v.value.0),
            )),
            _ => Ok(()),
        }
    }

    /// Flattens a `kind: DynamoGraphDeploymentRequest` document.
    pub fn dgdr(&mut self, d: &DgdrDoc) -> Result<(), ScenarioError> {
        self.check_api_version(&d.api_version, "nvidia.com/v1alpha1")?;
        let Some(spec) = &d.spec else { return Ok(()) };
        self.put(&k::MODEL, "spec.model", &spec.model);
        self.put(&k::BACKEND.setting, "spec.backend", &spec.backend);
        let Some(c) = &spec.components else { return Ok(()) };
        const C: &str = "spec.components";
        if let Some(f) = &c.frontend {
            self.put(&k::FRONTEND_REPLICAS.setting, &format!("{C}.frontend.replicas"), &f.replicas);
            if let Some(cfg) = &f.config {
                let p = format!("{C}.frontend.config");
                self.put(
                    &k::FRONTEND_MAX_CONCURRENT_REQUESTS.setting,
                    &format!("{p}.maxConcurrentRequests"),
                    &cfg.max_concurrent_requests,
                );
                self.put(
                    &k::FRONTEND_REQUEST_TIMEOUT_MS.setting,
                    &format!("{p}.requestTimeoutMs"),
                    &cfg.request_timeout_ms,
                );
                self.put(&k::ROUTER_POLICY.setting, &format!("{p}.routerPolicy"), &cfg.router_policy);
            }
        }
        if let Some(p) = &c.prefill {
            self.out.has_prefill = true;
            let path = format!("{C}.prefill");
            let w = &p.value;
            let pool = &k::PREFILL_POOL;
            self.put(&pool.replicas, &format!("{path}.replicas"), &w.replicas);
            let cfg = w.config.as_ref();
            self.tp(&pool.tp, &path, w, cfg.and_then(|c| c.tensor_parallel_size.as_ref()))?;
            if let Some(cfg) = cfg {
                let p = format!("{path}.config");
                self.put(&pool.max_batch_size, &format!("{p}.maxBatchSize"), &cfg.max_batch_size);
                self.put(&pool.max_batch_tokens, &format!("{p}.maxBatchTokens"), &cfg.max_batch_tokens);
                self.put(&pool.max_input_length, &format!("{p}.maxInputLength"), &cfg.max_input_length);
                self.put(&pool.moe_ep, &format!("{p}.expertParallelSize"), &cfg.expert_parallel_size);
                self.put(&pool.moe_tp, &format!("{p}.moeTensorParallelSize"), &cfg.moe_tensor_parallel_size);
            }
        }
        if let (Some(w), Some(a)) = (&c.worker, &c.aggregated) {
            return Err(ScenarioError::invalid(
                &self.origin(a),
                &format!("{C}.aggregated"),
                format!(
                    "both `worker` (line {}) and `aggregated` components are given: expected one aggregated pool",
                    w.referenced.line()
                ),
            ));
        }
        for (name, pool, comp) in [
            ("decode", &k::DECODE_POOL, &c.decode),
            ("worker", &k::AGGREGATED_POOL, &c.worker),
            ("aggregated", &k::AGGREGATED_POOL, &c.aggregated),
        ] {
            let Some(comp) = comp else { continue };
            let path = format!("{C}.{name}");
            let w = &comp.value;
            self.put(&pool.replicas, &format!("{path}.replicas"), &w.replicas);
            let cfg = w.config.as_ref();
            self.tp(&pool.tp, &path, w, cfg.and_then(|c| c.tensor_parallel_size.as_ref()))?;
            if let Some(cfg) = cfg {
                let p = format!("{path}.config");
                for (key, name, f) in [
                    (Some(pool.max_batch_size), "maxBatchSize", &cfg.max_batch_size),
                    (Some(pool.max_batch_tokens), "maxBatchTokens", &cfg.max_batch_tokens),
                    (Some(pool.max_input_length), "maxInputLength", &cfg.max_input_length),
                    (pool.max_output_length, "maxOutputLength", &cfg.max_output_length),
                    (pool.kv_cache_memory_fraction, "kvCacheMemoryFraction", &cfg.kv_cache_memory_fraction),
                    (pool.disable_overlap_scheduler, "disableOverlapScheduler", &cfg.disable_overlap_scheduler),
                    (Some(pool.moe_ep), "expertParallelSize", &cfg.expert_parallel_size),
                    (Some(pool.moe_tp), "moeTensorParallelSize", &cfg.moe_tensor_parallel_size),
                ] {
                    if let Some(key) = key {
                        self.put(&key, &format!("{p}.{name}"), f);
                    }
                }
            }
        }
        if let Some(t) = &c.kv_transfer {
            let p = format!("{C}.kvTransfer");
            self.put(&k::KV_TRANSFER_BACKEND.setting, &format!("{p}.backend"), &t.backend);
            self.put(&k::KV_TRANSFER_COMPRESSION.setting, &format!("{p}.compression"), &t.compression);
            self.put(
                &k::KV_TRANSFER_MAX_IN_FLIGHT_TRANSFERS.setting,
                &format!("{p}.maxInFlightTransfers"),
                &t.max_in_flight_transfers,
            );
            self.put(&k::KV_TRANSFER_BLOCK_SIZE_KB.setting, &format!("{p}.blockSizeKB"), &t.block_size_kb);
        }
        Ok(())
    }

    /// TP of a component: `config.tensorParallelSize`, else `resources.gpu`; both given and different is an
    /// error naming both.
    fn tp<C>(
        &mut self,
        key: &Setting,
        path: &str,
        w: &WorkerComponent<C>,
        tp: Option<&Spanned<Scalar>>,
    ) -> Result<(), ScenarioError> {
        let gpu = w.resources.as_ref().and_then(|r| r.gpu.as_ref());
        match (tp, gpu) {
            (Some(t), Some(g)) if t.value.0.trim() != g.value.0.trim() => Err(ScenarioError::invalid(
                &self.origin(t),
                &format!("{path}.config.tensorParallelSize"),
                format!(
                    "{} disagrees with {path}.resources.gpu = {} (line {}): TP is the GPUs per replica; expected \
                     equal values or only one of them",
                    t.value.0,
                    g.value.0,
                    g.referenced.line()
                ),
            )),
            (Some(t), _) => {
                self.put(key, &format!("{path}.config.tensorParallelSize"), &Some(t.clone()));
                Ok(())
            }
            (None, Some(g)) => {
                self.put(key, &format!("{path}.resources.gpu"), &Some(g.clone()));
                Ok(())
            }
            (None, None) => Ok(()),
        }
    }
}
