//! Sweeps: many scenario variants at once, run in parallel with common random numbers, and the
//! Pareto frontier of their results (`pdsim sweep`, `pdsim merge`).
//!
//! Every point loads the same base scenario with its own `--set` values and keeps the scenario's seed,
//! so all points replay the same arrivals and lengths: differences between points come from the
//! configuration, not from sampling noise. Results go to a journal (`points.jsonl`) as points finish,
//! so an interrupted sweep loses nothing (`--resume`), and the final `points.csv` / `frontier.csv`
//! are written sorted by point, byte-identical whatever the thread count or sharding.

pub mod exec;
pub mod frontier;
pub mod spec;

use std::path::PathBuf;

pub use exec::{merge, run_sweep, SweepOptions, SweepSummary};
pub use spec::SweepSpec;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("{}:{line}:{col}: {msg}", file.display())]
    Spec { file: PathBuf, line: usize, col: usize, msg: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {msg}", path.display())]
    Journal { path: PathBuf, msg: String },
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
}
