//! Scenario files: multi-document YAML (`kind: Scenario` plus Dynamo deployment documents), defaults,
//! `--set` overrides, and validation with the file, line and field in every error.
//!
//! Layout: `raw` holds the serde shapes of `kind: Scenario` and `kind: DynamoGraphDeploymentRequest` and
//! splits a stream by `kind`; `dgd` reads a real `DynamoGraphDeployment` manifest leniently; both flatten into
//! `settings::Settings` (one value per setting key, with where it came from); `overrides` applies `--set`;
//! `resolve` applies defaults, parses and checks every value and builds the `Scenario`. `keys` is the one table
//! of setting keys (doc, default, parser, whether `--set` accepts it) that all of these and `--help` read.

use std::path::{Path, PathBuf};

mod alerts;
mod autoscaler;
pub mod catalog;
pub mod deployment;
mod dgd;
mod error;
mod keys;
mod overrides;
mod raw;
mod resolve;
mod settings;
mod synth;
#[cfg(test)]
mod tests;

pub use crate::spec::scenario::{AlertSpec, RunLimits, Scenario, DEFAULT_REQUESTS};
pub use error::{Origin, ScenarioError};
pub use keys::{help as settings_help, is_set_key, set_keys};

use raw::{Doc, Sink, Source};
use settings::Settings;

/// Reads one or more scenario files (each may hold several `---`-separated documents; all documents of all
/// files form one scenario), applies `--set KEY=VALUE` overrides in order, and validates the result.
///
/// Documents, by `kind`:
/// - `Scenario` (at most one): model, hardware, backend, mode, dtypes, router, workload, run length, seed,
///   pricing, and an optional inline `aggregated:` pool.
/// - `DynamoGraphDeploymentRequest` or `DynamoGraphDeployment` (exactly one of the two): the deployment.
///
/// Relative paths inside a file (a model `config.json`, a trace) are relative to that file's directory.
pub fn load(paths: &[PathBuf], sets: &[String]) -> Result<Scenario, ScenarioError> {
    let mut sources = Vec::with_capacity(paths.len());
    for p in paths {
        let text = std::fs::read_to_string(p).map_err(|source| ScenarioError::Io { file: p.clone(), source })?;
        let base_dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        sources.push(Source { name: p.display().to_string(), text, base_dir: Some(base_dir), path: p.clone() });
    }
    load_sources(&sources, sets)
}

/// Like [`load`], from texts in memory: `(display name, YAML text)` pairs, relative paths resolved against
/// `base_dir`. The display names label errors and become [`Scenario::sources`].
pub fn load_from_strs(docs: &[(&str, &str)], base_dir: &Path, sets: &[String]) -> Result<Scenario, ScenarioError> {
    let sources: Vec<Source> = docs
        .iter()
        .map(|(name, text)| Source {
            name: name.to_string(),
            text: text.to_string(),
            base_dir: Some(base_dir.to_path_buf()),
            path: PathBuf::from(name),
        })
        .collect();
    load_sources(&sources, sets)
}

fn stem(p: &Path) -> String {
    p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "scenario".into())
}

fn load_sources(sources: &[Source], sets: &[String]) -> Result<Scenario, ScenarioError> {
    let (settings, alert_spec) = merge(sources, sets)?;
    let mut scenario = resolve::resolve(&settings)?;
    scenario.alerts = alert_spec;
    Ok(scenario)
}

/// Reads every document of `sources`, flattens them into one [`Settings`] (the deployment first, then the
/// autoscaler and the `Scenario` document, whose values win) and applies `sets`; the alert rules come apart.
fn merge(sources: &[Source], sets: &[String]) -> Result<(Settings, AlertSpec), ScenarioError> {
    let Some(first) = sources.first() else { return Err(ScenarioError::NoInput) };
    let mut scenario: Option<(Origin, usize, Box<raw::ScenarioDoc>)> = None;
    let mut deployment: Option<(Origin, usize, Doc)> = None;
    let mut autoscaler: Option<(Origin, usize, Box<autoscaler::AutoscalerDoc>)> = None;
    let mut alert_spec = AlertSpec::default();
    for (i, src) in sources.iter().enumerate() {
        for (origin, doc) in raw::read_documents(src)? {
            match doc {
                Doc::Scenario(d) => {
                    if let Some((prev, _, _)) = &scenario {
                        return Err(ScenarioError::document(
                            &origin,
                            format!(
                                "a second `kind: Scenario` document (the first is at {prev}): expected at most one"
                            ),
                        ));
                    }
                    scenario = Some((origin, i, d));
                }
                Doc::PrometheusRule(d) => alerts::read(src, &d, &mut alert_spec)?,
                Doc::Autoscaler(d) => {
                    if let Some((prev, _, _)) = &autoscaler {
                        return Err(ScenarioError::document(
                            &origin,
                            format!("a second `kind: DynamoAutoscaler` document (the first is at {prev}): expected at most one"),
                        ));
                    }
                    autoscaler = Some((origin, i, d));
                }
                d => {
                    if let Some((prev, _, _)) = &deployment {
                        return Err(ScenarioError::document(
                            &origin,
                            format!(
                                "a second deployment document (the first is at {prev}): expected exactly one \
                                 DynamoGraphDeploymentRequest or DynamoGraphDeployment per scenario"
                            ),
                        ));
                    }
                    deployment = Some((origin, i, d));
                }
            }
        }
    }
    let first_file = Origin::whole_file(&first.name);
    let Some((dep_origin, dep_src, dep)) = deployment else {
        return Err(ScenarioError::document(
            &first_file,
            "no deployment: expected a `kind: DynamoGraphDeploymentRequest` (or `kind: DynamoGraphDeployment`) document",
        ));
    };
    let mut settings = Settings {
        sources: sources.iter().map(|s| s.path.clone()).collect(),
        first_file: Some(first_file),
        default_name: stem(&sources[scenario.as_ref().map_or(0, |s| s.1)].path),
        deployment: Some(dep_origin.clone()),
        scenario: scenario.as_ref().map(|s| s.0.clone()),
        ..Settings::default()
    };
    // Deployment first, so that the Scenario document's values win.
    let mut sink = Sink { src: &sources[dep_src], out: &mut settings };
    match &dep {
        Doc::Dgdr(d) => sink.dgdr(d)?,
        Doc::Dgd(d) => dgd::flatten(&mut sink, d, &dep_origin)?,
        Doc::Scenario(_) | Doc::Autoscaler(_) | Doc::PrometheusRule(_) => {
            unreachable!("scenario, autoscaler and rule documents are kept apart")
        }
    }
    if let Some((_, i, d)) = &autoscaler {
        Sink { src: &sources[*i], out: &mut settings }.autoscaler(d)?;
    }
    if let Some((_, i, d)) = &scenario {
        Sink { src: &sources[*i], out: &mut settings }.scenario(d)?;
    }
    overrides::apply(&mut settings, sets)?;
    Ok((settings, alert_spec))
}
