//! The performance model: how long things take. Kernel formulas, the memory plan, the step timer
//! and the KV link rate, read from the specs (the hardware profile and its fitted coefficients).

pub mod kernels;
pub mod kv_link;
pub mod memory;
pub mod step;
