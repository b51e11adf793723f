//! pdsim: a discrete-event simulator of disaggregated prefill/decode LLM serving clusters.
//!
//! Data flows one way (see `DESIGN.md` §1): scenario files and traces are parsed and validated at the
//! edge ([`scenario`], [`workload`] readers) into plain structs; the engine ([`engine`], [`cluster`]) runs
//! on those structs with no I/O and emits [`metrics`]; [`report`] turns metrics into files and tables.

pub mod calibrate;
pub mod check;
pub mod cluster;
pub mod cost;
pub mod engine;
pub mod hardware;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod sweep;
pub mod workload;

/// Version string written into `summary.json` (`sim.version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
