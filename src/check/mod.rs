//! Regression gates (`pdsim check`): a baseline directory records scenarios and their metrics; a
//! check re-runs them and flags every metric that got worse by more than its tolerance.
//!
//! `DIR/baseline.json`:
//! ```json
//! {
//!   "tolerance_pct": 2.0,
//!   "scenarios": [
//!     {"name": "production", "files": ["../../scenarios/llama70b-production.yaml"], "sets": ["requests=5000"],
//!      "metrics": {"ttft_ms.p99": 1320.16, "throughput.output_tok_s": 2081.5}}
//!   ]
//! }
//! ```
//! Files are relative to the baseline directory. `metrics` holds the recorded values (written by
//! `--update`); a metric may also be `{"value": V, "tolerance_pct": T}` to override the tolerance.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::runner::{run, RunOptions};

/// The metrics a check compares: summary path and whether lower is better.
pub const METRICS: &[(&str, bool)] = &[
    ("ttft_ms.mean", true),
    ("ttft_ms.p50", true),
    ("ttft_ms.p90", true),
    ("ttft_ms.p99", true),
    ("tpot_ms.mean", true),
    ("tpot_ms.p50", true),
    ("tpot_ms.p90", true),
    ("tpot_ms.p99", true),
    ("itl_ms.p99", true),
    ("e2e_ms.p50", true),
    ("e2e_ms.p99", true),
    ("kv_transfer_ms.mean", true),
    ("kv_transfer_ms.p99", true),
    ("prefill_queue_ms.p99", true),
    ("decode_queue_ms.p99", true),
    ("throughput.output_tok_s", false),
    ("throughput.input_tok_s", false),
    ("throughput.requests_s", false),
    ("requests.completed", false),
    ("requests.rejected", true),
    ("requests.timed_out", true),
    ("sla.goodput_req_s", false),
    ("sla.attainment", false),
    ("kv_cache.hit_ratio", false),
    ("kv_cache.preemptions", true),
    ("cost.gpu_hours", true),
    ("cost.usd_per_1m_output_tok", true),
];

/// What `--update` records for a scenario that lists no metrics yet.
pub const DEFAULT_METRICS: &[&str] = &[
    "ttft_ms.p50",
    "ttft_ms.p99",
    "tpot_ms.p50",
    "tpot_ms.p99",
    "e2e_ms.p99",
    "kv_transfer_ms.mean",
    "throughput.output_tok_s",
    "throughput.requests_s",
    "requests.completed",
    "sla.goodput_req_s",
    "cost.usd_per_1m_output_tok",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Recorded {
    Value(f64),
    WithTolerance { value: f64, tolerance_pct: f64 },
}

impl Recorded {
    pub fn value(&self) -> f64 {
        match self {
            Recorded::Value(v) | Recorded::WithTolerance { value: v, .. } => *v,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BaselineScenario {
    pub name: String,
    pub files: Vec<String>,
    #[serde(default)]
    pub sets: Vec<String>,
    #[serde(default)]
    pub metrics: BTreeMap<String, Recorded>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    #[serde(default = "default_tolerance")]
    pub tolerance_pct: f64,
    pub scenarios: Vec<BaselineScenario>,
}

fn default_tolerance() -> f64 {
    2.0
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}:{line}:{col}: {msg}", path.display())]
    Format { path: PathBuf, line: usize, col: usize, msg: String },
    #[error("{}: scenario {name}: {msg}", path.display())]
    Scenario { path: PathBuf, name: String, msg: String },
}

/// One compared metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    pub scenario: String,
    pub metric: String,
    pub baseline: f64,
    pub current: f64,
    pub tolerance_pct: f64,
    pub lower_is_better: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Same,
    Improved,
    Regressed,
}

impl Diff {
    /// Change in % of the baseline (positive = larger).
    pub fn change_pct(&self) -> f64 {
        if self.baseline == 0.0 {
            if self.current == 0.0 {
                0.0
            } else {
                f64::INFINITY.copysign(self.current)
            }
        } else {
            (self.current - self.baseline) / self.baseline.abs() * 100.0
        }
    }

    pub fn verdict(&self) -> Verdict {
        let c = self.change_pct();
        let worse = if self.lower_is_better { c } else { -c };
        if worse > self.tolerance_pct {
            Verdict::Regressed
        } else if -worse > self.tolerance_pct {
            Verdict::Improved
        } else {
            Verdict::Same
        }
    }
}

/// A summary metric by its dotted path (`ttft_ms.p99`) in the summary's JSON form.
fn lookup(summary: &serde_json::Value, path: &str) -> Option<f64> {
    let mut cur = summary;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    cur.as_f64()
}

/// Reads `DIR/baseline.json`: every metric must be one of [`METRICS`] (whose direction is known)
/// and every tolerance at least 0.
pub fn read(dir: &Path) -> Result<Baseline, CheckError> {
    let path = dir.join("baseline.json");
    let text = std::fs::read_to_string(&path).map_err(|source| CheckError::Io { path: path.clone(), source })?;
    let b: Baseline = serde_json::from_str(&text).map_err(|e| CheckError::Format {
        path: path.clone(),
        line: e.line(),
        col: e.column(),
        msg: e.to_string(),
    })?;
    let bad = |name: &str, msg: String| CheckError::Scenario { path: path.clone(), name: name.to_string(), msg };
    if !(b.tolerance_pct.is_finite() && b.tolerance_pct >= 0.0) {
        return Err(bad("(all)", format!("tolerance_pct: expected a percentage >= 0, got {}", b.tolerance_pct)));
    }
    for sc in &b.scenarios {
        for (m, rec) in &sc.metrics {
            if !METRICS.iter().any(|x| x.0 == m) {
                let known: Vec<&str> = METRICS.iter().map(|x| x.0).collect();
                return Err(bad(&sc.name, format!("metric {m}: expected one of {}", known.join(", "))));
            }
            if let Recorded::WithTolerance { tolerance_pct, .. } = rec {
                if !(tolerance_pct.is_finite() && *tolerance_pct >= 0.0) {
                    return Err(bad(&sc.name, format!("{m}: tolerance_pct: expected >= 0, got {tolerance_pct}")));
                }
            }
        }
    }
    Ok(b)
}

/// Runs one baseline scenario; its summary's metrics, by dotted path.
fn run_one(dir: &Path, sc: &BaselineScenario) -> Result<impl Fn(&str) -> Result<f64, CheckError>, CheckError> {
    let (path, name) = (dir.join("baseline.json"), sc.name.clone());
    let err = move |msg: String| CheckError::Scenario { path: path.clone(), name: name.clone(), msg };
    let files: Vec<PathBuf> = sc.files.iter().map(|f| dir.join(f)).collect();
    let s = crate::input::load(&files, &sc.sets).map_err(|e| err(e.to_string()))?;
    let opts = RunOptions { timeseries_interval_ns: 0, ..RunOptions::default() };
    let summary = run(&s, &opts).map_err(|e| err(e.to_string()))?.summary;
    // serialized once: every metric is a path into it
    let v = serde_json::to_value(&summary).expect("a summary serializes");
    Ok(move |m: &str| lookup(&v, m).ok_or_else(|| err(format!("metric {m} is not in the run summary"))))
}

/// Re-runs every scenario and compares its metrics. `tolerance_pct` overrides the file's default.
pub fn check(dir: &Path, tolerance_pct: Option<f64>) -> Result<Vec<Diff>, CheckError> {
    let b = read(dir)?;
    let tol = tolerance_pct.unwrap_or(b.tolerance_pct);
    let mut out = Vec::new();
    for sc in &b.scenarios {
        if sc.metrics.is_empty() {
            return Err(CheckError::Scenario {
                path: dir.join("baseline.json"),
                name: sc.name.clone(),
                msg: "no recorded metrics: record them with `pdsim check --baseline DIR --update`".into(),
            });
        }
        let summary = run_one(dir, sc)?;
        for (name, rec) in &sc.metrics {
            let lower = METRICS.iter().find(|m| m.0 == name).is_none_or(|m| m.1);
            let current = summary(name)?;
            let t = match (rec, tolerance_pct) {
                (_, Some(t)) => t,
                (Recorded::WithTolerance { tolerance_pct, .. }, None) => *tolerance_pct,
                (Recorded::Value(_), None) => tol,
            };
            out.push(Diff {
                scenario: sc.name.clone(),
                metric: name.clone(),
                baseline: rec.value(),
                current,
                tolerance_pct: t,
                lower_is_better: lower,
            });
        }
    }
    Ok(out)
}

/// Re-runs every scenario and records its current metrics (all of [`METRICS`] for a scenario that has
/// none yet; per-metric tolerances are kept).
pub fn update(dir: &Path) -> Result<Baseline, CheckError> {
    let mut b = read(dir)?;
    for sc in &mut b.scenarios {
        let summary = run_one(dir, sc)?;
        if sc.metrics.is_empty() {
            for m in DEFAULT_METRICS {
                sc.metrics.insert(m.to_string(), Recorded::Value(0.0));
            }
        }
        for (name, rec) in sc.metrics.iter_mut() {
            let v = summary(name)?;
            *rec = match rec {
                Recorded::WithTolerance { tolerance_pct, .. } => {
                    Recorded::WithTolerance { value: v, tolerance_pct: *tolerance_pct }
                }
                Recorded::Value(_) => Recorded::Value(v),
            };
        }
    }
    let text = serde_json::to_string_pretty(&b).expect("a baseline serializes") + "\n";
    crate::report::write_atomic(dir, "baseline.json", text.as_bytes()).map_err(|e| CheckError::Scenario {
        path: dir.join("baseline.json"),
        name: String::new(),
        msg: e.to_string(),
    })?;
    Ok(b)
}

/// The diff table (Markdown).
pub fn table(diffs: &[Diff]) -> String {
    let mut o = String::from(
        "| scenario | metric | baseline | current | change | tolerance | verdict |\n|---|---|---|---|---|---|---|\n",
    );
    for d in diffs {
        let v = match d.verdict() {
            Verdict::Same => "ok",
            Verdict::Improved => "improved",
            Verdict::Regressed => "REGRESSED",
        };
        o.push_str(&format!(
            "| {} | {} | {} | {} | {:+.2}% | {}% | {v} |\n",
            d.scenario,
            d.metric,
            d.baseline,
            d.current,
            d.change_pct(),
            d.tolerance_pct
        ));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(baseline: f64, current: f64, lower: bool) -> Diff {
        Diff { scenario: "s".into(), metric: "m".into(), baseline, current, tolerance_pct: 2.0, lower_is_better: lower }
    }

    #[test]
    fn verdicts_follow_the_direction_and_tolerance() {
        assert_eq!(d(100.0, 105.0, true).verdict(), Verdict::Regressed);
        assert_eq!(d(100.0, 101.9, true).verdict(), Verdict::Same);
        assert_eq!(d(100.0, 95.0, true).verdict(), Verdict::Improved);
        assert_eq!(d(100.0, 95.0, false).verdict(), Verdict::Regressed);
        assert_eq!(d(0.0, 0.0, true).verdict(), Verdict::Same);
        assert_eq!(d(0.0, 1.0, true).verdict(), Verdict::Regressed);
        assert!((d(200.0, 210.0, true).change_pct() - 5.0).abs() < 1e-12);
    }
}
