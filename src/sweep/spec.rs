//! The sweep file (`kind: Sweep`): a base scenario, axes over `--set` keys, a sampling plan,
//! constraints on the deployment, and the objectives of the frontier.
//!
//! ```yaml
//! kind: Sweep
//! name: production-pools
//! scenario: [../scenarios/llama70b-production.yaml]   # relative to this file
//! set: [requests=10000]                               # applied to every point
//! axes:
//!   - {key: prefill.replicas, values: [1, 2, 3, 4]}
//!   - {key: decode.replicas, range: {min: 1, max: 12}}            # integers min..=max (step 1)
//!   - {key: decode.kvCacheMemoryFraction, range: {min: 0.7, max: 0.95, step: 0.05}}
//!   - {key: kvTransfer.backend, values: [nccl, tcp]}
//! sampling: grid                 # grid | {random: 200} | {lhs: 200}
//! seed: 1                        # draws of random / lhs sampling
//! constraints: ["total_gpus <= 16", "prefill.replicas <= decode.replicas"]
//! objectives: [ttft_p99_ms, tpot_p99_ms, usd_per_1m_output_tok]   # minimised; `max:NAME` maximises
//! sla: {ttft_p99_ms: 500, tpot_p99_ms: 30}   # optional: the frontier keeps only points meeting it
//! ```

use std::path::{Path, PathBuf};

use rand::{RngExt, SeedableRng};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::SweepError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    kind: String,
    name: Option<String>,
    scenario: OneOrMany,
    #[serde(default)]
    set: Vec<Scalar>,
    axes: Vec<Spanned<RawAxis>>,
    sampling: Option<Spanned<RawSampling>>,
    seed: Option<u64>,
    #[serde(default)]
    constraints: Vec<Spanned<String>>,
    #[serde(default)]
    objectives: Vec<Spanned<String>>,
    sla: Option<RawSla>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A scalar written as a string, number or bool, kept as its text.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Text(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAxis {
    key: String,
    values: Option<Vec<Scalar>>,
    range: Option<RawRange>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRange {
    min: f64,
    max: f64,
    step: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawSampling {
    Name(String),
    Random { random: usize },
    Lhs { lhs: usize },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSla {
    ttft_p99_ms: Option<f64>,
    tpot_p99_ms: Option<f64>,
}

/// One axis: a `--set` key and the values it takes (as `--set` text).
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    Grid,
    Random(usize),
    LatinHypercube(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Le,
    Lt,
    Ge,
    Gt,
    Eq,
    Ne,
}

/// `LHS op RHS`, each side a number, an axis/scenario key, or `total_gpus`/`prefill_gpus`/`decode_gpus`.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    pub text: String,
    pub lhs: String,
    pub op: CmpOp,
    pub rhs: String,
}

impl CmpOp {
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Le => a <= b,
            CmpOp::Lt => a < b,
            CmpOp::Ge => a >= b,
            CmpOp::Gt => a > b,
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
        }
    }
}

/// An objective of the frontier: a metric column, minimised unless `maximize`.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    pub metric: String,
    pub maximize: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    pub name: String,
    /// The sweep file and the base scenario files (absolute or relative to the working directory).
    pub file: PathBuf,
    pub scenario: Vec<PathBuf>,
    pub base_sets: Vec<String>,
    pub axes: Vec<Axis>,
    pub sampling: Sampling,
    pub seed: u64,
    pub constraints: Vec<Constraint>,
    pub objectives: Vec<Objective>,
    pub sla_ttft_p99_ms: Option<f64>,
    pub sla_tpot_p99_ms: Option<f64>,
}

/// One point: its index in the sweep and the `--set` arguments of its axis values.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub id: usize,
    pub values: Vec<String>,
}

impl Point {
    pub fn sets(&self, axes: &[Axis]) -> Vec<String> {
        axes.iter().zip(&self.values).map(|(a, v)| format!("{}={v}", a.key)).collect()
    }
}

fn err(file: &Path, line: usize, col: usize, msg: impl Into<String>) -> SweepError {
    SweepError::Spec { file: file.to_path_buf(), line, col, msg: msg.into() }
}

fn parse_op(text: &str) -> Option<(String, CmpOp, String)> {
    for (sym, op) in
        [("<=", CmpOp::Le), (">=", CmpOp::Ge), ("==", CmpOp::Eq), ("!=", CmpOp::Ne), ("<", CmpOp::Lt), (">", CmpOp::Gt)]
    {
        if let Some((l, r)) = text.split_once(sym) {
            let (l, r) = (l.trim(), r.trim());
            if !l.is_empty() && !r.is_empty() {
                return Some((l.to_string(), op, r.to_string()));
            }
        }
    }
    None
}

/// Most points one sweep may have.
pub const MAX_POINTS: usize = 10_000_000;

/// Keys a constraint may name besides the axes (the deployment's numeric settings).
pub const CONSTRAINT_KEYS: &[&str] = &[
    "total_gpus",
    "prefill_gpus",
    "decode_gpus",
    "prefill.replicas",
    "prefill.tp",
    "prefill.maxBatchSize",
    "prefill.maxBatchTokens",
    "decode.replicas",
    "decode.tp",
    "decode.maxBatchSize",
    "decode.kvCacheMemoryFraction",
    "aggregated.replicas",
    "aggregated.tp",
    "aggregated.maxBatchSize",
    "aggregated.maxBatchTokens",
];

/// Metric columns of `points.csv` that objectives may name: all of them.
pub use super::exec::METRIC_COLUMNS as OBJECTIVE_METRICS;

impl SweepSpec {
    pub fn read(path: &Path) -> Result<SweepSpec, SweepError> {
        let text = std::fs::read_to_string(path).map_err(|source| SweepError::Io { path: path.into(), source })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<SweepSpec, SweepError> {
        let raw: RawSweep = serde_saphyr::from_str(text).map_err(|e| {
            let (line, col) = e.location().map_or((1, 1), |l| (l.line() as usize, l.column() as usize));
            err(path, line, col, e.to_string())
        })?;
        if raw.kind != "Sweep" {
            return Err(err(path, 1, 1, format!("kind: expected Sweep, got {}", raw.kind)));
        }
        let base = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let scenario: Vec<PathBuf> = match raw.scenario {
            OneOrMany::One(s) => vec![base.join(s)],
            OneOrMany::Many(v) => v.into_iter().map(|s| base.join(s)).collect(),
        };
        if scenario.is_empty() {
            return Err(err(path, 1, 1, "scenario: expected at least one scenario file"));
        }
        let mut axes = Vec::new();
        for a in &raw.axes {
            let (line, col) = (a.referenced.line() as usize, a.referenced.column() as usize);
            let v = &a.value;
            if !crate::input::is_set_key(&v.key) {
                return Err(err(
                    path,
                    line,
                    col,
                    format!("axes.key: `{}` is not a --set key (see DESIGN.md §4)", v.key),
                ));
            }
            if axes.iter().any(|x: &Axis| x.key == v.key) {
                return Err(err(path, line, col, format!("axes.key: `{}` appears twice", v.key)));
            }
            let values = match (&v.values, &v.range) {
                (Some(vals), None) if !vals.is_empty() => vals.iter().map(Scalar::text).collect(),
                (None, Some(r)) => {
                    let step = r.step.unwrap_or(1.0);
                    if !(r.min.is_finite() && r.max.is_finite() && r.min <= r.max && step > 0.0) {
                        return Err(err(path, line, col, "axes.range: expected min <= max and step > 0"));
                    }
                    let n = ((r.max - r.min) / step + 1e-9).floor() + 1.0;
                    if !(n.is_finite() && n <= 100_000.0) {
                        return Err(err(path, line, col, format!("axes.range: {n} values, expected at most 100000")));
                    }
                    let n = n as usize;
                    (0..n).map(|i| fmt_num(r.min + i as f64 * step)).collect()
                }
                _ => {
                    return Err(err(
                        path,
                        line,
                        col,
                        "axes: expected `values: [...]` (non-empty) or `range: {min, max}`",
                    ))
                }
            };
            axes.push(Axis { key: v.key.clone(), values });
        }
        if axes.is_empty() {
            return Err(err(path, 1, 1, "axes: expected at least one axis"));
        }
        let grid = axes.iter().try_fold(1usize, |acc, a| acc.checked_mul(a.values.len())).filter(|&n| n <= MAX_POINTS);
        let sampling = match &raw.sampling {
            None => Sampling::Grid,
            Some(s) => {
                let (line, col) = (s.referenced.line() as usize, s.referenced.column() as usize);
                match &s.value {
                    RawSampling::Name(n) if n == "grid" => Sampling::Grid,
                    RawSampling::Random { random } if *random > 0 => Sampling::Random(*random),
                    RawSampling::Lhs { lhs } if *lhs > 0 => Sampling::LatinHypercube(*lhs),
                    _ => {
                        return Err(err(path, line, col, "sampling: expected grid, {random: N} or {lhs: N} with N > 0"))
                    }
                }
            }
        };
        match sampling {
            Sampling::Grid if grid.is_none() => {
                return Err(err(
                    path,
                    1,
                    1,
                    format!(
                    "axes: the grid has more than {MAX_POINTS} points: expected fewer values, or sampling: {{lhs: N}}"
                ),
                ))
            }
            Sampling::Random(n) | Sampling::LatinHypercube(n) if n > MAX_POINTS => {
                return Err(err(path, 1, 1, format!("sampling: {n} points, expected at most {MAX_POINTS}")))
            }
            _ => {}
        }
        let mut constraints = Vec::new();
        for c in &raw.constraints {
            let (line, col) = (c.referenced.line() as usize, c.referenced.column() as usize);
            let Some((lhs, op, rhs)) = parse_op(&c.value) else {
                return Err(err(
                    path,
                    line,
                    col,
                    format!("constraints: expected `LEFT OP RIGHT` with OP one of <= < >= > == !=, got `{}`", c.value),
                ));
            };
            for side in [&lhs, &rhs] {
                let known = side.parse::<f64>().is_ok()
                    || CONSTRAINT_KEYS.contains(&side.as_str())
                    || axes.iter().any(|a| a.key == *side);
                if !known {
                    return Err(err(
                        path,
                        line,
                        col,
                        format!(
                            "constraints: `{side}` is not a number, an axis key or one of {}",
                            CONSTRAINT_KEYS.join(", ")
                        ),
                    ));
                }
            }
            constraints.push(Constraint { text: c.value.clone(), lhs, op, rhs });
        }
        let mut objectives = Vec::new();
        for o in &raw.objectives {
            let (line, col) = (o.referenced.line() as usize, o.referenced.column() as usize);
            let (maximize, metric) = match o.value.strip_prefix("max:") {
                Some(m) => (true, m.trim()),
                None => (false, o.value.strip_prefix("min:").unwrap_or(&o.value).trim()),
            };
            if !OBJECTIVE_METRICS.contains(&metric) {
                return Err(err(
                    path,
                    line,
                    col,
                    format!("objectives: unknown metric `{metric}`: expected one of {}", OBJECTIVE_METRICS.join(", ")),
                ));
            }
            objectives.push(Objective { metric: metric.to_string(), maximize });
        }
        if objectives.is_empty() {
            objectives = ["ttft_p99_ms", "tpot_p99_ms", "usd_per_1m_output_tok"]
                .iter()
                .map(|m| Objective { metric: m.to_string(), maximize: false })
                .collect();
        }
        let name = raw.name.unwrap_or_else(|| {
            path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "sweep".into())
        });
        Ok(SweepSpec {
            name,
            file: path.to_path_buf(),
            scenario,
            base_sets: raw.set.iter().map(Scalar::text).collect(),
            axes,
            sampling,
            seed: raw.seed.unwrap_or(1),
            constraints,
            objectives,
            sla_ttft_p99_ms: raw.sla.as_ref().and_then(|s| s.ttft_p99_ms),
            sla_tpot_p99_ms: raw.sla.as_ref().and_then(|s| s.tpot_p99_ms),
        })
    }

    /// The sweep's points, in a fixed order: the grid in axis order (last axis fastest), or `n` draws.
    /// Random and Latin-hypercube draws pick value indices per axis (a Latin hypercube puts each axis'
    /// `n` draws in `n` equal strata of its value list).
    pub fn points(&self) -> Vec<Point> {
        let sizes: Vec<usize> = self.axes.iter().map(|a| a.values.len()).collect();
        let idx: Vec<Vec<usize>> = match self.sampling {
            Sampling::Grid => {
                let total: usize = sizes.iter().product();
                (0..total)
                    .map(|mut i| {
                        let mut v = vec![0; sizes.len()];
                        for (k, &n) in sizes.iter().enumerate().rev() {
                            v[k] = i % n;
                            i /= n;
                        }
                        v
                    })
                    .collect()
            }
            Sampling::Random(n) => {
                let mut rng = rand_pcg::Pcg64::seed_from_u64(self.seed);
                (0..n).map(|_| sizes.iter().map(|&s| rng.random_range(0..s)).collect()).collect()
            }
            Sampling::LatinHypercube(n) => {
                let mut rng = rand_pcg::Pcg64::seed_from_u64(self.seed);
                let mut cols: Vec<Vec<usize>> = Vec::new();
                for &s in &sizes {
                    let mut strata: Vec<usize> = (0..n)
                        .map(|i| {
                            let u = (i as f64 + rng.random::<f64>()) / n as f64;
                            ((u * s as f64) as usize).min(s - 1)
                        })
                        .collect();
                    // Fisher-Yates, so the axes' strata pair up at random
                    for i in (1..strata.len()).rev() {
                        let j = rng.random_range(0..=i);
                        strata.swap(i, j);
                    }
                    cols.push(strata);
                }
                (0..n).map(|i| cols.iter().map(|c| c[i]).collect()).collect()
            }
        };
        idx.into_iter()
            .enumerate()
            .map(|(id, ix)| Point {
                id,
                values: ix.iter().zip(&self.axes).map(|(&i, a)| a.values[i].clone()).collect(),
            })
            .collect()
    }

    /// A fingerprint of everything that decides the points and their results (shards and resumed runs
    /// must agree on it): FNV-1a of the spec's canonical text and the scenario files' contents.
    pub fn fingerprint(&self) -> Result<String, SweepError> {
        let mut h: u64 = 0xcbf29ce484222325;
        let mut eat = |b: &[u8]| {
            for &x in b {
                h ^= x as u64;
                h = h.wrapping_mul(0x100000001b3);
            }
        };
        // the pdsim version too: shards run by different builds may not agree; and the SLA, which
        // decides goodput and attainment
        eat(env!("CARGO_PKG_VERSION").as_bytes());
        eat(format!("{:?}{:?}", self.sla_ttft_p99_ms, self.sla_tpot_p99_ms).as_bytes());
        eat(format!("{:?}{:?}{:?}{:?}{}", self.base_sets, self.axes, self.sampling, self.constraints, self.seed)
            .as_bytes());
        for f in &self.scenario {
            eat(&std::fs::read(f).map_err(|source| SweepError::Io { path: f.clone(), source })?);
        }
        Ok(format!("{h:016x}"))
    }
}

/// Numbers as `--set` text: integers without a fraction, others with up to 6 decimals.
fn fmt_num(x: f64) -> String {
    let r = (x * 1e6).round() / 1e6;
    if r.fract() == 0.0 && r.abs() < 1e15 {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Result<SweepSpec, SweepError> {
        SweepSpec::parse(text, Path::new("dir/s.yaml"))
    }

    const BASE: &str = "kind: Sweep\nscenario: a.yaml\n";

    #[test]
    fn grid_enumerates_in_axis_order() {
        let s = spec(&format!(
            "{BASE}axes:\n  - {{key: prefill.replicas, values: [1, 2]}}\n  - {{key: decode.kvCacheMemoryFraction, range: {{min: 0.8, max: 0.9, step: 0.05}}}}\n"
        ))
        .unwrap();
        assert_eq!(s.scenario, vec![PathBuf::from("dir/a.yaml")]);
        let p = s.points();
        assert_eq!(p.len(), 6);
        assert_eq!(p[0].values, ["1", "0.8"]);
        assert_eq!(p[1].values, ["1", "0.85"]);
        assert_eq!(p[5].values, ["2", "0.9"]);
        assert_eq!(p[4].sets(&s.axes), ["prefill.replicas=2", "decode.kvCacheMemoryFraction=0.85"]);
    }

    #[test]
    fn latin_hypercube_covers_every_stratum_once() {
        let s = spec(&format!(
            "{BASE}axes:\n  - {{key: decode.replicas, range: {{min: 1, max: 10}}}}\n  - {{key: prefill.replicas, range: {{min: 1, max: 10}}}}\nsampling: {{lhs: 10}}\nseed: 3\n"
        ))
        .unwrap();
        let p = s.points();
        assert_eq!(p.len(), 10);
        for axis in 0..2 {
            let mut seen: Vec<String> = p.iter().map(|x| x.values[axis].clone()).collect();
            seen.sort_by_key(|v| v.parse::<u32>().unwrap());
            assert_eq!(seen, (1..=10).map(|i| i.to_string()).collect::<Vec<_>>());
        }
        // deterministic
        assert_eq!(p, s.points());
        let r =
            spec(&format!("{BASE}axes:\n  - {{key: decode.replicas, values: [1, 2, 3]}}\nsampling: {{random: 7}}\n"))
                .unwrap();
        assert_eq!(r.points().len(), 7);
    }

    #[test]
    fn bad_specs_name_line_and_field() {
        let e = spec(&format!("{BASE}axes:\n  - {{key: decode.replica, values: [1]}}\n")).unwrap_err().to_string();
        assert!(e.starts_with("dir/s.yaml:4:5: axes.key: `decode.replica` is not a --set key"), "{e}");
        let e = spec(&format!("{BASE}axes:\n  - {{key: decode.replicas, values: [1]}}\nconstraints: [\"gpus < 3\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("constraints: `gpus` is not a number"), "{e}");
        let e = spec(&format!("{BASE}axes:\n  - {{key: decode.replicas, values: [1]}}\nobjectives: [speed]\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("objectives: unknown metric `speed`"), "{e}");
        let e = spec(&format!("{BASE}axes:\n  - {{key: decode.replicas}}\n")).unwrap_err().to_string();
        assert!(e.contains("axes: expected `values"), "{e}");
        let e = spec(&format!("{BASE}axes: []\nbogus: 1\n")).unwrap_err().to_string();
        assert!(e.contains("bogus"), "{e}");
    }
}
