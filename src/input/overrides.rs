//! `--set KEY=VALUE` overrides (DESIGN.md §4): applied in order after all documents are merged, each replacing
//! one setting. Values are checked when the scenario is resolved, so a bad value is reported as
//! `--set prefill.tp=3: prefill.tp: expected ...`.

use super::error::{Origin, ScenarioError};
use super::keys;
use super::settings::{Settings, Val, Value};

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
        let Some(setting) = keys::lookup(key).filter(|s| s.set) else {
            let file_only = if keys::lookup(key).is_some() { " (it is read only from a scenario file)" } else { "" };
            let hint = keys::suggest(key).map(|k| format!("; did you mean `{k}`?")).unwrap_or_default();
            let all: Vec<&str> = keys::set_keys().collect();
            return Err(ScenarioError::Set {
                arg: arg.clone(),
                msg: format!("unknown key `{key}`{file_only}: expected one of {}{hint}", all.join(", ")),
            });
        };
        let v = Val {
            value: Value::Text(value.trim().to_string()),
            origin: Origin::Set(arg.clone()),
            field: key.to_string(),
            base_dir: None,
        };
        settings.set(setting, v);
    }
    Ok(())
}
