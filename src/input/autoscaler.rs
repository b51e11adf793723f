//! The deployment guide's `kind: DynamoAutoscaler` document, flattened into `autoscaler.*` settings
//! (so `--set autoscaler.enabled=false` and friends work like every other key).
//!
//! ```yaml
//! apiVersion: nvidia.com/v1alpha1
//! kind: DynamoAutoscaler
//! metadata: {name: llama-70b-autoscaler}
//! spec:
//!   sla: {ttftP99Ms: 500, tpotP99Ms: 30, requestTimeoutMs: 30000}
//!   prefill:
//!     minReplicas: 2
//!     maxReplicas: 8
//!     scaleUpThreshold: {queueDepth: 10, ttftP99Ms: 400}
//!     scaleDownThreshold: {gpuUtilization: 0.3, cooldownSeconds: 300}
//!   decode:
//!     minReplicas: 4
//!     maxReplicas: 16
//!     scaleUpThreshold: {batchUtilization: 0.85, tpotP99Ms: 25}
//!     scaleDownThreshold: {batchUtilization: 0.3, cooldownSeconds: 600}
//!   kvTransfer: {autoMatchPrefill: true}
//!   metrics: {scrapeInterval: 15s}
//!   # pdsim's additions, all optional:
//!   policy: threshold            # threshold | predictive | planner
//!   planner: {predictor: constant}  # constant | linear
//!   metrics: {window: 60s}       # default: 4 scrape intervals
//!   coldStart: {storageBandwidthGBps: 7, containerStartSeconds: 10}
//! ```
//! In aggregated mode the single pool takes the `decode` entry (or `aggregated`/`worker`).

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::error::ScenarioError;
use super::raw::{Field, Manifest, Sink};

pub(crate) type AutoscalerDoc = Manifest<Spanned<AutoscalerSpec>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AutoscalerSpec {
    /// `true` by default; `false` keeps the deployment's replica counts.
    pub enabled: Field,
    pub sla: Option<SlaDoc>,
    pub prefill: Option<PoolDoc>,
    pub decode: Option<PoolDoc>,
    pub aggregated: Option<PoolDoc>,
    pub worker: Option<PoolDoc>,
    #[serde(rename = "kvTransfer")]
    pub kv_transfer: Option<KvTransferDoc>,
    pub metrics: Option<MetricsDoc>,
    pub policy: Field,
    pub planner: Option<PlannerDoc>,
    #[serde(rename = "coldStart")]
    pub cold_start: Option<ColdStartDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SlaDoc {
    #[serde(rename = "ttftP99Ms")]
    pub ttft_p99_ms: Field,
    #[serde(rename = "tpotP99Ms")]
    pub tpot_p99_ms: Field,
    #[serde(rename = "requestTimeoutMs")]
    pub request_timeout_ms: Field,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PoolDoc {
    #[serde(rename = "minReplicas")]
    pub min_replicas: Field,
    #[serde(rename = "maxReplicas")]
    pub max_replicas: Field,
    #[serde(rename = "scaleUpThreshold")]
    pub scale_up: Option<ScaleUpDoc>,
    #[serde(rename = "scaleDownThreshold")]
    pub scale_down: Option<ScaleDownDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScaleUpDoc {
    #[serde(rename = "queueDepth")]
    pub queue_depth: Field,
    #[serde(rename = "ttftP99Ms")]
    pub ttft_p99_ms: Field,
    #[serde(rename = "batchUtilization")]
    pub batch_utilization: Field,
    #[serde(rename = "tpotP99Ms")]
    pub tpot_p99_ms: Field,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScaleDownDoc {
    #[serde(rename = "gpuUtilization")]
    pub gpu_utilization: Field,
    #[serde(rename = "batchUtilization")]
    pub batch_utilization: Field,
    #[serde(rename = "cooldownSeconds")]
    pub cooldown_seconds: Field,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KvTransferDoc {
    #[serde(rename = "autoMatchPrefill")]
    pub auto_match_prefill: Field,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricsDoc {
    #[serde(rename = "scrapeInterval")]
    pub scrape_interval: Field,
    pub window: Field,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlannerDoc {
    pub predictor: Field,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ColdStartDoc {
    #[serde(rename = "storageBandwidthGBps")]
    pub storage_bandwidth_gbps: Field,
    #[serde(rename = "containerStartSeconds")]
    pub container_start_seconds: Field,
}

impl Sink<'_> {
    /// Flattens a `kind: DynamoAutoscaler` document into `autoscaler.*`.
    pub fn autoscaler(&mut self, d: &AutoscalerDoc) -> Result<(), ScenarioError> {
        self.check_api_version(&d.api_version, "nvidia.com/v1alpha1")?;
        let Some(spec) = &d.spec else { return Ok(()) };
        self.out.autoscaler = Some(self.origin(spec));
        let s = &spec.value;
        self.put("autoscaler.enabled", "spec.enabled", &s.enabled);
        self.put("autoscaler.policy", "spec.policy", &s.policy);
        if let Some(p) = &s.planner {
            self.put("autoscaler.predictor", "spec.planner.predictor", &p.predictor);
        }
        if let Some(sla) = &s.sla {
            self.put("autoscaler.sla.ttftP99Ms", "spec.sla.ttftP99Ms", &sla.ttft_p99_ms);
            self.put("autoscaler.sla.tpotP99Ms", "spec.sla.tpotP99Ms", &sla.tpot_p99_ms);
            self.put("autoscaler.sla.requestTimeoutMs", "spec.sla.requestTimeoutMs", &sla.request_timeout_ms);
        }
        if let Some(k) = &s.kv_transfer {
            self.put("autoscaler.autoMatchPrefill", "spec.kvTransfer.autoMatchPrefill", &k.auto_match_prefill);
        }
        if let Some(m) = &s.metrics {
            self.put("autoscaler.scrapeInterval", "spec.metrics.scrapeInterval", &m.scrape_interval);
            self.put("autoscaler.window", "spec.metrics.window", &m.window);
        }
        if let Some(c) = &s.cold_start {
            self.put(
                "autoscaler.coldStart.storageBandwidthGBps",
                "spec.coldStart.storageBandwidthGBps",
                &c.storage_bandwidth_gbps,
            );
            self.put(
                "autoscaler.coldStart.containerStartSeconds",
                "spec.coldStart.containerStartSeconds",
                &c.container_start_seconds,
            );
        }
        for (name, key, pool) in [
            ("prefill", "prefill", &s.prefill),
            ("decode", "decode", &s.decode),
            ("aggregated", "decode", &s.aggregated),
            ("worker", "decode", &s.worker),
        ] {
            let Some(p) = pool else { continue };
            let path = format!("spec.{name}");
            let k = |f: &str| format!("autoscaler.{key}.{f}");
            self.put(&k("minReplicas"), &format!("{path}.minReplicas"), &p.min_replicas);
            self.put(&k("maxReplicas"), &format!("{path}.maxReplicas"), &p.max_replicas);
            if let Some(u) = &p.scale_up {
                let f = |n: &str| format!("{path}.scaleUpThreshold.{n}");
                self.put(&k("up.queueDepth"), &f("queueDepth"), &u.queue_depth);
                self.put(&k("up.ttftP99Ms"), &f("ttftP99Ms"), &u.ttft_p99_ms);
                self.put(&k("up.batchUtilization"), &f("batchUtilization"), &u.batch_utilization);
                self.put(&k("up.tpotP99Ms"), &f("tpotP99Ms"), &u.tpot_p99_ms);
            }
            if let Some(dn) = &p.scale_down {
                let f = |n: &str| format!("{path}.scaleDownThreshold.{n}");
                self.put(&k("down.gpuUtilization"), &f("gpuUtilization"), &dn.gpu_utilization);
                self.put(&k("down.batchUtilization"), &f("batchUtilization"), &dn.batch_utilization);
                self.put(&k("down.cooldownSeconds"), &f("cooldownSeconds"), &dn.cooldown_seconds);
            }
        }
        Ok(())
    }
}
