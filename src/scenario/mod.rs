//! Scenario files: multi-document YAML (`kind: Scenario` plus Dynamo deployment documents), defaults,
//! `--set` overrides, and validation with the file, line and field in every error.

use std::path::PathBuf;

use crate::cluster::config::ClusterConfig;
use crate::hardware::HardwareProfile;
use crate::model::{Dtype, ModelSpec};
use crate::workload::spec::WorkloadSpec;

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
}
