//! A scenario: everything one simulation needs, validated, as plain structs (the input edge builds
//! it from files and `--set` overrides).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::spec::autoscaler::AutoscalerConfig;
use crate::spec::deployment::{ClusterConfig, Mode, Topology};
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
    /// The pools the same settings give in the other mode (aggregated for a disaggregated deployment,
    /// and the other way round). Never simulated: `plan` searches both modes from one scenario and a
    /// sweep constraint may name a pool its point does not run (`prefill.tp` of an aggregated point).
    pub other_topology: Topology,
    pub workload: WorkloadSpec,
    pub limits: RunLimits,
    pub seed: u64,
    pub usd_per_gpu_hour: f64,
    /// A `DynamoAutoscaler` document, when the scenario has one and `autoscaler.enabled` is not false.
    pub autoscaler: Option<AutoscalerConfig>,
    /// Alerting rules of `kind: PrometheusRule` documents, evaluated on the simulated metrics.
    pub alerts: AlertSpec,
}

impl Scenario {
    /// The layout this scenario gives in `mode`: the simulated one, or the one the same settings give
    /// in the other mode.
    pub fn topology(&self, mode: Mode) -> &Topology {
        if self.cluster.mode() == mode {
            &self.cluster.topology
        } else {
            &self.other_topology
        }
    }

    pub fn topology_mut(&mut self, mode: Mode) -> &mut Topology {
        if self.cluster.mode() == mode {
            &mut self.cluster.topology
        } else {
            &mut self.other_topology
        }
    }

    /// Simulates `mode` from now on, with the pools the settings give in it.
    pub fn switch_mode(&mut self, mode: Mode) {
        if self.cluster.mode() != mode {
            std::mem::swap(&mut self.cluster.topology, &mut self.other_topology);
        }
    }
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
