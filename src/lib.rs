//! pdsim: a discrete-event simulator of disaggregated prefill/decode LLM serving clusters.
//!
//! Data flows one way (see `DESIGN.md` §1): scenario files and traces are parsed and validated at the
//! edge ([`scenario`], [`workload`] readers) into plain structs; the engine ([`engine`], [`cluster`]) runs
//! on those structs with no I/O and emits [`metrics`]; [`report`] turns metrics into files and tables.

// Layers, each importing only those above it in this list (DESIGN.md §1; `tests/layers.rs` keeps it so).
pub mod analysis;
pub mod core;
pub mod input;
pub mod metrics;
pub mod perf;
pub mod promql;
pub mod report;
pub mod sim;
pub mod spec;
pub mod workload;
// Apps over the layers.
pub mod calibrate;
pub mod check;
pub mod plan;
pub mod runner;
pub mod sweep;
pub mod validate;

/// Version string written into `summary.json` (`sim.version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
