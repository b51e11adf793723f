//! A scenario: everything one simulation needs, validated, as plain structs (the input edge builds
//! it from files and `--set` overrides).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::spec::autoscaler::AutoscalerConfig;
use crate::spec::deployment::ClusterConfig;
use crate::spec::hardware::HardwareProfile;
use crate::spec::model::{Dtype, ModelSpec};
use crate::spec::workload::WorkloadSpec;

/// How long a run offers traffic. With neither set, a run offers [`DEFAULT_REQUESTS`] requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunLimits {
    pub requests: Option<u64>,
    pub duration_ns: Option<u64>,
}

pub const DEFAULT_REQUESTS: u64 = 10_000;

/// A validated scenario: everything a simulation needs, as plain structs.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    /// Files it was read from (for reports), in order.
    pub sources: Vec<PathBuf>,
    pub model: ModelSpec,
    pub weights_dtype: Dtype,
    pub kv_dtype: Dtype,
    pub hardware: HardwareProfile,
    pub cluster: ClusterConfig,
    pub workload: WorkloadSpec,
    pub limits: RunLimits,
    pub seed: u64,
    pub usd_per_gpu_hour: f64,
    /// A `DynamoAutoscaler` document, when the scenario has one and `autoscaler.enabled` is not false.
    pub autoscaler: Option<AutoscalerConfig>,
    /// Alerting rules of `kind: PrometheusRule` documents, evaluated on the simulated metrics.
    pub alerts: AlertSpec,
}

/// The alert rules of a scenario.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertSpec {
    pub rules: Vec<AlertRule>,
    /// The shortest group `interval` given (rules are evaluated on it, and metrics scraped at it
    /// when no autoscaler sets a scrape interval).
    pub interval_ns: Option<u64>,
    /// Recording rules seen (`record:` names), which pdsim does not evaluate.
    pub recording_rules: Vec<String>,
}

/// One alerting rule (`alert`, `expr`, `for`, `labels` of a Prometheus rule).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub expr: String,
    pub for_ns: u64,
    pub labels: BTreeMap<String, String>,
}

/// SLA targets a completed request must meet to count toward goodput (per request, ms).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SlaTargets {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
}
