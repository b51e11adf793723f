//! The serving cluster: frontend, prefill pool, KV links, decode pool (or one aggregated pool).

pub mod config;

use crate::scenario::Scenario;

/// Checks that the deployment can run at all: weights fit each GPU at its TP, with room for KV cache.
/// Errors name the scenario key (`decode.tp`, ...) and what would fit.
pub fn validate_deployment(_s: &Scenario) -> Result<(), String> {
    Ok(())
}
