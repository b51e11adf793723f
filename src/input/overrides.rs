//! `--set KEY=VALUE` overrides (DESIGN.md §4): applied in order after all documents are merged, each replacing
//! one setting. Values are checked when the scenario is resolved, so a bad value is reported as
//! `--set prefill.tp=3: prefill.tp: expected ...`.

use super::error::{Origin, ScenarioError};
use super::settings::{Settings, Val, Value};

/// Every key `--set` accepts. Stable: scripts and CI rely on them (DESIGN.md §4).
pub const SET_KEYS: &[&str] = &[
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

/// Applies `KEY=VALUE` arguments in order. An unknown key is an error listing the valid keys; a relative
/// path value (`model`, `workload.trace`) is relative to the working directory.
pub(crate) fn apply(settings: &mut Settings, sets: &[String]) -> Result<(), ScenarioError> {
    for arg in sets {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(ScenarioError::Set {
                arg: arg.clone(),
                msg: "expected KEY=VALUE (e.g. decode.replicas=4)".into(),
            });
        };
        let key = key.trim();
        if !SET_KEYS.contains(&key) {
            return Err(ScenarioError::Set {
                arg: arg.clone(),
                msg: format!("unknown key `{key}`: expected one of {}", SET_KEYS.join(", ")),
            });
        }
        let v = Val {
            value: Value::Text(value.trim().to_string()),
            origin: Origin::Set(arg.clone()),
            field: key.to_string(),
            base_dir: None,
        };
        settings.set(key, v);
    }
    Ok(())
}
