//! The merged, not yet validated layer between the documents and the [`Scenario`](super::Scenario): one value
//! per setting key (the `--set` keys of DESIGN.md §4 plus a few file-only ones), each remembering where it
//! came from. Documents are flattened into it (deployment first, then the `Scenario` document, whose values
//! win), `--set` overrides replace entries, and [`resolve`](super::resolve) turns it into plain structs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::error::Origin;
use super::keys::Setting;
use crate::spec::workload::LengthDist;

/// A raw setting value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A scalar as written (numbers are formatted back to text); parsed when resolved.
    Text(String),
    /// A length distribution given as a mapping (`{dist: uniform, min: 1, max: 2}`), already checked.
    Dist(LengthDist),
}

/// One setting with its provenance.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Val {
    pub value: Value,
    pub origin: Origin,
    /// The field as the user wrote it: a YAML path, a `--set` key, or a manifest argument.
    pub field: String,
    /// Directory that relative paths in this value are resolved against (`None`: the working directory).
    pub base_dir: Option<PathBuf>,
}

impl Val {
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            Value::Text(s) => Some(s),
            Value::Dist(_) => None,
        }
    }
}

/// All settings of one scenario, by key (`prefill.tp`, `workload.rate`, ...).
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub values: BTreeMap<String, Val>,
    /// Whether the deployment has a prefill pool (a `prefill` component or a prefill worker service).
    pub has_prefill: bool,
    /// The deployment document (for errors about the deployment as a whole).
    pub deployment: Option<Origin>,
    /// The `kind: Scenario` document, when there is one.
    pub scenario: Option<Origin>,
    /// The `DynamoAutoscaler` document's `spec`, when there is one.
    pub autoscaler: Option<Origin>,
    /// Its `workload:` block, when there is one.
    pub workload: Option<Origin>,
    /// Name used when the scenario sets none: the stem of the file of the `Scenario` document (else the first
    /// file).
    pub default_name: String,
    pub sources: Vec<PathBuf>,
    /// Where to point errors about the scenario as a whole (first file).
    pub first_file: Option<Origin>,
}

impl Settings {
    pub fn get(&self, key: &str) -> Option<&Val> {
        self.values.get(key)
    }

    /// Sets a key of the settings table ([`super::keys`]): the readers name keys by its entries, so only
    /// table keys get in.
    pub fn set(&mut self, key: &Setting, val: Val) {
        debug_assert_eq!(super::keys::lookup(key.key), Some(key), "{} is not the table's entry", key.key);
        self.values.insert(key.key.to_string(), val);
    }

    /// The origin for errors about the scenario as a whole.
    pub fn scenario_origin(&self) -> Origin {
        self.scenario.clone().or_else(|| self.first_file.clone()).unwrap_or_else(|| Origin::whole_file("<scenario>"))
    }

    pub fn deployment_origin(&self) -> Origin {
        self.deployment.clone().unwrap_or_else(|| self.scenario_origin())
    }
}
