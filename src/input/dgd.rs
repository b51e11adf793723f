//! Dynamo's real `DynamoGraphDeployment` manifest (`apiVersion: nvidia.com/v1alpha1`), read leniently: users
//! paste real Kubernetes manifests, so fields pdsim does not use are ignored, and the serving settings are
//! taken from each worker's command line.
//!
//! - Frontend: the service with `componentType: frontend` (or named `Frontend`); `--router-mode` gives the
//!   router policy (`kv` -> `kv_aware`, `round-robin` -> `round_robin`).
//! - Workers: `componentType: worker` (or a name containing `Worker`). Role: `subComponentType`
//!   (`prefill`/`decode`), else `--is-prefill-worker` / `--is-decode-worker` / `--disaggregation-mode X` in the
//!   arguments, else a name containing `Prefill` / `Decode`, else an aggregated worker. Without any prefill
//!   worker the deployment is aggregated and its worker (whatever its role) is the single pool.
//! - Backend: `dynamo.vllm` / `dynamo.sglang` / `dynamo.trtllm` in the command, else `spec.backendFramework`,
//!   else the image name.
//! - Model: `--model`, else `--model-path`, else `--served-model-name`.
//! - TP: `--tensor-parallel-size N` / `--tp-size N` / `--tp N` (also `--flag=N`), else
//!   `resources.limits.gpu`, else `resources.requests.gpu`, else 1. Replicas: `replicas`.
//! - Batch size: vllm `--max-num-seqs`, sglang `--max-running-requests`, trtllm `--max-batch-size`.
//!   Step tokens: vllm `--max-num-batched-tokens`, sglang `--chunked-prefill-size`, trtllm `--max-num-tokens`.
//!   Memory fraction: vllm `--gpu-memory-utilization`, sglang `--mem-fraction-static`, trtllm
//!   `--free-gpu-memory-fraction`. Input length: `--max-model-len` (vllm), `--context-length` (sglang),
//!   `--max-seq-len` (trtllm).
//! - KV transfer: `nixl` when a worker's arguments mention NIXL; else the default.
//!
//! `command` and `args` may be token lists or one shell string (`command: [/bin/sh, -c]`, `args: ["python3 -m
//! dynamo.vllm --model X ..."]`): every element is split on whitespace.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::error::{Origin, ScenarioError};
use super::keys::{self as k, PoolKeys, Setting};
use super::raw::{Field, Scalar, Sink};
use super::settings::{Val, Value};

#[derive(Debug, Deserialize)]
pub(crate) struct DgdDoc {
    pub spec: Option<DgdSpec>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DgdSpec {
    #[serde(rename = "backendFramework")]
    pub backend_framework: Field,
    pub services: Option<Spanned<Ordered<Spanned<Service>>>>,
}

/// A mapping read in document order.
#[derive(Debug)]
pub(crate) struct Ordered<T>(pub Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of service name to service")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<T>, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = map.next_entry::<String, T>()? {
                    v.push((k, x));
                }
                Ok(Ordered(v))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Service {
    #[serde(rename = "componentType")]
    pub component_type: Option<Scalar>,
    #[serde(rename = "subComponentType")]
    pub sub_component_type: Option<Scalar>,
    pub replicas: Field,
    pub resources: Option<K8sResources>,
    #[serde(rename = "extraPodSpec")]
    pub extra_pod_spec: Option<ExtraPodSpec>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct K8sResources {
    pub limits: Option<GpuQuantity>,
    pub requests: Option<GpuQuantity>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct GpuQuantity {
    pub gpu: Field,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ExtraPodSpec {
    #[serde(rename = "mainContainer")]
    pub main_container: Option<MainContainer>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct MainContainer {
    pub image: Option<Scalar>,
    pub command: Option<Vec<Spanned<Scalar>>>,
    pub args: Option<Vec<Spanned<Scalar>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Prefill,
    Decode,
    Aggregated,
}

impl Role {
    fn pool(self) -> &'static str {
        match self {
            Role::Prefill => "prefill",
            Role::Decode => "decode",
            Role::Aggregated => "aggregated",
        }
    }

    fn keys(self) -> &'static PoolKeys {
        match self {
            Role::Prefill => &k::PREFILL_POOL,
            Role::Decode => &k::DECODE_POOL,
            Role::Aggregated => &k::AGGREGATED_POOL,
        }
    }
}

/// One whitespace-separated word of a container's command line, with where it was written.
struct Token {
    text: String,
    origin: Origin,
    /// `command` or `args`.
    list: &'static str,
}

/// The words of `command` then `args`, each element split on whitespace, quotes and line continuations
/// dropped.
fn tokens(sink: &Sink, c: Option<&MainContainer>) -> Vec<Token> {
    let mut out = Vec::new();
    let Some(c) = c else { return out };
    for (list, items) in [("command", &c.command), ("args", &c.args)] {
        for item in items.iter().flatten() {
            let origin = sink.origin(item);
            for w in item.value.0.split_whitespace() {
                let w = w.trim_matches(|ch| ch == '"' || ch == '\'');
                if !w.is_empty() && w != "\\" {
                    out.push(Token { text: w.to_string(), origin: origin.clone(), list });
                }
            }
        }
    }
    out
}

/// The value of the first of `flags` present (`--flag value` or `--flag=value`), with its token.
fn flag<'a>(toks: &'a [Token], flags: &[&'static str]) -> Option<(&'static str, String, &'a Token)> {
    for f in flags {
        for (i, t) in toks.iter().enumerate() {
            if t.text == *f {
                if let Some(next) = toks.get(i + 1) {
                    return Some((f, next.text.clone(), next));
                }
            } else if let Some(v) = t.text.strip_prefix(f).and_then(|r| r.strip_prefix('=')) {
                return Some((f, v.to_string(), t));
            }
        }
    }
    None
}

fn has(toks: &[Token], word: &str) -> bool {
    toks.iter().any(|t| t.text == word)
}

fn detect_backend(toks: &[Token], image: Option<&str>) -> Option<&'static str> {
    for t in toks {
        let w = t.text.as_str();
        if w.contains("dynamo.vllm") {
            return Some("vllm");
        }
        if w.contains("dynamo.sglang") {
            return Some("sglang");
        }
        if w.contains("dynamo.trtllm") || w.contains("dynamo.tensorrt_llm") {
            return Some("trtllm");
        }
    }
    let image = image?.to_ascii_lowercase();
    if image.contains("vllm") {
        Some("vllm")
    } else if image.contains("sglang") {
        Some("sglang")
    } else if image.contains("tensorrtllm") || image.contains("trtllm") {
        Some("trtllm")
    } else {
        None
    }
}

/// Command-line flags of each backend for (batch size, step tokens, memory fraction, input length).
fn backend_flags(backend: Option<&str>) -> [Vec<&'static str>; 4] {
    let vllm = ["--max-num-seqs", "--max-num-batched-tokens", "--gpu-memory-utilization", "--max-model-len"];
    let sglang = ["--max-running-requests", "--chunked-prefill-size", "--mem-fraction-static", "--context-length"];
    let trtllm = ["--max-batch-size", "--max-num-tokens", "--free-gpu-memory-fraction", "--max-seq-len"];
    let pick = |i: usize| match backend {
        Some("vllm") => vec![vllm[i]],
        Some("sglang") => vec![sglang[i]],
        Some("trtllm") => vec![trtllm[i]],
        _ => vec![vllm[i], sglang[i], trtllm[i]],
    };
    [pick(0), pick(1), pick(2), pick(3)]
}

const TP_FLAGS: &[&str] = &["--tensor-parallel-size", "--tp-size", "--tp"];
const MODEL_FLAGS: &[&str] = &["--model", "--model-path", "--served-model-name"];

fn role_of(name: &str, svc: &Service, toks: &[Token]) -> Role {
    if let Some(s) = &svc.sub_component_type {
        match s.0.to_ascii_lowercase().as_str() {
            "prefill" => return Role::Prefill,
            "decode" => return Role::Decode,
            _ => {}
        }
    }
    if has(toks, "--is-prefill-worker") {
        return Role::Prefill;
    }
    if has(toks, "--is-decode-worker") {
        return Role::Decode;
    }
    if let Some((_, mode, _)) = flag(toks, &["--disaggregation-mode"]) {
        match mode.to_ascii_lowercase().as_str() {
            "prefill" | "prefill_only" | "context_only" => return Role::Prefill,
            "decode" | "decode_only" | "generation_only" => return Role::Decode,
            _ => {}
        }
    }
    let lower = name.to_ascii_lowercase();
    if lower.contains("prefill") {
        Role::Prefill
    } else if lower.contains("decode") {
        Role::Decode
    } else {
        Role::Aggregated
    }
}

/// Flattens a `DynamoGraphDeployment` into settings (see the module docs for what is read from where).
pub(crate) fn flatten(sink: &mut Sink, doc: &DgdDoc, at: &Origin) -> Result<(), ScenarioError> {
    let spec = doc.spec.as_ref();
    let services = spec.and_then(|s| s.services.as_ref());
    let Some(services) = services.filter(|s| !s.value.0.is_empty()) else {
        return Err(ScenarioError::invalid(at, "spec.services", "missing; expected the deployment's services"));
    };
    if let Some(b) = spec.and_then(|s| s.backend_framework.as_ref()) {
        sink.put(&k::BACKEND.setting, "spec.backendFramework", &Some(b.clone()));
    }
    let mut seen: Vec<(Role, String, Origin)> = Vec::new();
    let mut model: Option<(String, String, Origin)> = None;
    let mut backend: Option<(&'static str, String)> = None;
    for (name, svc) in &services.value.0 {
        let svc_origin = sink.origin(svc);
        let s = &svc.value;
        let container = s.extra_pod_spec.as_ref().and_then(|e| e.main_container.as_ref());
        let toks = tokens(sink, container);
        let base = format!("spec.services.{name}");
        let arg_field = |t: &Token, f: &str| format!("{base}.extraPodSpec.mainContainer.{}[{f}]", t.list);
        let ctype = s.component_type.as_ref().map(|c| c.0.to_ascii_lowercase());
        let lower = name.to_ascii_lowercase();
        let is_frontend = ctype.as_deref() == Some("frontend") || (ctype.is_none() && lower == "frontend");
        if is_frontend {
            if let Some((f, mode, t)) = flag(&toks, &["--router-mode"]) {
                let policy = match mode.as_str() {
                    "kv" => "kv_aware".to_string(),
                    other => other.replace('-', "_"),
                };
                let v = Val {
                    value: Value::Text(policy),
                    origin: t.origin.clone(),
                    field: arg_field(t, f),
                    base_dir: None,
                };
                sink.out.set(&k::ROUTER_POLICY.setting, v);
            }
            continue;
        }
        let is_worker =
            ctype.as_deref() == Some("worker") || s.sub_component_type.is_some() || lower.contains("worker");
        if !is_worker {
            continue; // planner, metrics, ...: not simulated
        }
        let role = role_of(name, s, &toks);
        if let Some((_, other, o)) = seen.iter().find(|(r, _, _)| *r == role) {
            return Err(ScenarioError::invalid(
                &svc_origin,
                &base,
                format!(
                    "a second {} worker service (the first is {other} at {o}): pdsim simulates one pool per role; \
                     expected one service per role",
                    role.pool()
                ),
            ));
        }
        seen.push((role, name.clone(), svc_origin.clone()));

        let image = container.and_then(|c| c.image.as_ref()).map(|i| i.0.as_str());
        let b = detect_backend(&toks, image);
        if let Some(b) = b {
            match &backend {
                Some((prev, prev_name)) if *prev != b => {
                    return Err(ScenarioError::invalid(
                        &svc_origin,
                        &base,
                        format!("runs {b} but {prev_name} runs {prev}: expected one backend for every worker"),
                    ))
                }
                Some(_) => {}
                None => {
                    backend = Some((b, name.clone()));
                    let v = Val {
                        value: Value::Text(b.to_string()),
                        origin: svc_origin.clone(),
                        field: format!("{base}.extraPodSpec.mainContainer"),
                        base_dir: None,
                    };
                    sink.out.set(&k::BACKEND.setting, v);
                }
            }
        }
        if let Some((f, m, t)) = flag(&toks, MODEL_FLAGS) {
            match &model {
                Some((prev, prev_name, _)) if *prev != m => {
                    return Err(ScenarioError::invalid(
                        &t.origin,
                        &arg_field(t, f),
                        format!("{m} but {prev_name} serves {prev}: expected one model for every worker"),
                    ))
                }
                Some(_) => {}
                None => {
                    model = Some((m.clone(), name.clone(), t.origin.clone()));
                    let v =
                        Val { value: Value::Text(m), origin: t.origin.clone(), field: arg_field(t, f), base_dir: None };
                    sink.out.set(&k::MODEL, v);
                }
            }
        }

        let pool = role.keys();
        if role == Role::Prefill {
            sink.out.has_prefill = true;
        }
        sink.put(&pool.replicas, &format!("{base}.replicas"), &s.replicas);
        let put_flag = |sink: &mut Sink, key: &Setting, flags: &[&'static str]| {
            if let Some((f, v, t)) = flag(&toks, flags) {
                let v = Val { value: Value::Text(v), origin: t.origin.clone(), field: arg_field(t, f), base_dir: None };
                sink.out.set(key, v);
                true
            } else {
                false
            }
        };
        if !put_flag(sink, &pool.tp, TP_FLAGS) {
            let res = s.resources.as_ref();
            let limits = res.and_then(|r| r.limits.as_ref()).and_then(|l| l.gpu.as_ref());
            let requests = res.and_then(|r| r.requests.as_ref()).and_then(|l| l.gpu.as_ref());
            if let Some(g) = limits {
                sink.put(&pool.tp, &format!("{base}.resources.limits.gpu"), &Some(g.clone()));
            } else if let Some(g) = requests {
                sink.put(&pool.tp, &format!("{base}.resources.requests.gpu"), &Some(g.clone()));
            }
        }
        let [batch, tokens_flags, memory, input] = backend_flags(b.or(backend.as_ref().map(|x| x.0)));
        put_flag(sink, &pool.max_batch_size, &batch);
        put_flag(sink, &pool.max_batch_tokens, &tokens_flags);
        put_flag(sink, &pool.max_input_length, &input);
        // a prefill pool has no memory-fraction key
        if let Some(key) = &pool.kv_cache_memory_fraction {
            put_flag(sink, key, &memory);
        }
        if let Some(t) = toks.iter().find(|t| t.text.to_ascii_lowercase().contains("nixl")) {
            let v = Val {
                value: Value::Text("nixl".into()),
                origin: t.origin.clone(),
                field: format!("{base}.extraPodSpec.mainContainer.{} ({})", t.list, t.text),
                base_dir: None,
            };
            sink.out.set(&k::KV_TRANSFER_BACKEND.setting, v);
        }
    }
    if seen.is_empty() {
        return Err(ScenarioError::invalid(
            &sink.origin(services),
            "spec.services",
            "no worker service: expected a service with `componentType: worker`",
        ));
    }
    Ok(())
}
