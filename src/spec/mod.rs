//! Plain specifications, data without I/O: what is simulated (model, hardware, deployment,
//! autoscaler, workload). The input edge builds them; everything below reads them.

pub mod autoscaler;
pub mod deployment;
pub mod fitted;
pub mod hardware;
pub mod kernel_params;
pub mod model;
pub mod scenario;
pub mod workload;
