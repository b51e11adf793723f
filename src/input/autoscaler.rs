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
use super::keys as k;
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
        self.put(&k::AUTOSCALER_ENABLED.setting, "spec.enabled", &s.enabled);
        self.put(&k::AUTOSCALER_POLICY, "spec.policy", &s.policy);
        if let Some(p) = &s.planner {
            self.put(&k::AUTOSCALER_PREDICTOR.setting, "spec.planner.predictor", &p.predictor);
        }
        if let Some(sla) = &s.sla {
            self.put(&k::AUTOSCALER_SLA_TTFT_P99_MS.setting, "spec.sla.ttftP99Ms", &sla.ttft_p99_ms);
            self.put(&k::AUTOSCALER_SLA_TPOT_P99_MS.setting, "spec.sla.tpotP99Ms", &sla.tpot_p99_ms);
            self.put(
                &k::AUTOSCALER_SLA_REQUEST_TIMEOUT_MS.setting,
                "spec.sla.requestTimeoutMs",
                &sla.request_timeout_ms,
            );
        }
        if let Some(t) = &s.kv_transfer {
            self.put(
                &k::AUTOSCALER_AUTO_MATCH_PREFILL.setting,
                "spec.kvTransfer.autoMatchPrefill",
                &t.auto_match_prefill,
            );
        }
        if let Some(m) = &s.metrics {
            self.put(&k::AUTOSCALER_SCRAPE_INTERVAL.setting, "spec.metrics.scrapeInterval", &m.scrape_interval);
            self.put(&k::AUTOSCALER_WINDOW.setting, "spec.metrics.window", &m.window);
        }
        if let Some(c) = &s.cold_start {
            self.put(
                &k::AUTOSCALER_COLD_START_STORAGE_BANDWIDTH_GBPS.setting,
                "spec.coldStart.storageBandwidthGBps",
                &c.storage_bandwidth_gbps,
            );
            self.put(
                &k::AUTOSCALER_COLD_START_CONTAINER_START_SECONDS.setting,
                "spec.coldStart.containerStartSeconds",
                &c.container_start_seconds,
            );
        }
        // In aggregated mode the single pool takes the `decode` keys.
        for (name, keys, pool) in [
            ("prefill", &k::AUTOSCALER_PREFILL, &s.prefill),
            ("decode", &k::AUTOSCALER_DECODE, &s.decode),
            ("aggregated", &k::AUTOSCALER_DECODE, &s.aggregated),
            ("worker", &k::AUTOSCALER_DECODE, &s.worker),
        ] {
            let Some(p) = pool else { continue };
            let path = format!("spec.{name}");
            self.put(&keys.min_replicas.setting, &format!("{path}.minReplicas"), &p.min_replicas);
            self.put(&keys.max_replicas.setting, &format!("{path}.maxReplicas"), &p.max_replicas);
            if let Some(u) = &p.scale_up {
                let f = |n: &str| format!("{path}.scaleUpThreshold.{n}");
                self.put(&keys.up_queue_depth.setting, &f("queueDepth"), &u.queue_depth);
                self.put(&keys.up_ttft_p99_ms.setting, &f("ttftP99Ms"), &u.ttft_p99_ms);
                self.put(&keys.up_batch_utilization.setting, &f("batchUtilization"), &u.batch_utilization);
                self.put(&keys.up_tpot_p99_ms.setting, &f("tpotP99Ms"), &u.tpot_p99_ms);
            }
            if let Some(dn) = &p.scale_down {
                let f = |n: &str| format!("{path}.scaleDownThreshold.{n}");
                self.put(&keys.down_gpu_utilization.setting, &f("gpuUtilization"), &dn.gpu_utilization);
                self.put(&keys.down_batch_utilization.setting, &f("batchUtilization"), &dn.batch_utilization);
                self.put(&keys.down_cooldown_seconds.setting, &f("cooldownSeconds"), &dn.cooldown_seconds);
            }
        }
        Ok(())
    }
}
