//! Whole-deployment checks at the input edge: the weights fit each GPU at its parallelism with room
//! left for KV cache, and every setting is one the simulator models.

use crate::input::Scenario;
use crate::perf::memory::{decode_step_tok, memory_plan, FractionOf, MemoryPlan, PoolMemory, PREFILL_MEMORY_FRACTION};
use crate::spec::deployment::{Compression, Parallelism, Topology};
use crate::spec::workload::{Arrival, WorkloadSpec};

const GB: f64 = 1e9;

/// Why a deployment cannot run. `key` is the scenario setting it is about, so that the caller can point at
/// where that setting was written; the message is printed as `{key}: {msg}`.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
#[error("{key}: {msg}")]
pub struct DeploymentError {
    pub key: String,
    pub msg: String,
}

fn err(key: impl Into<String>, msg: impl Into<String>) -> DeploymentError {
    DeploymentError { key: key.into(), msg: msg.into() }
}

/// Checks that the deployment can run at all: weights fit each GPU at its TP with room left for KV
/// cache, and every setting is one the simulator models. Errors name the scenario key.
pub fn validate_deployment(s: &Scenario) -> Result<(), DeploymentError> {
    let c = &s.cluster;
    if let Some(a) = &s.autoscaler {
        for (name, p) in [("prefill", &a.prefill), ("decode", &a.decode)] {
            if let Some(p) = p {
                if p.min_replicas == 0 || p.max_replicas < p.min_replicas {
                    return Err(err(
                        format!("autoscaler.{name}.minReplicas"),
                        format!(
                            "expected 1 <= minReplicas <= maxReplicas, got {} and {} \
                         (a pool must keep one replica serving)",
                            p.min_replicas, p.max_replicas
                        ),
                    ));
                }
            }
        }
        if a.scrape_interval_ns == 0 {
            return Err(err("autoscaler.scrapeInterval", "expected a duration > 0"));
        }
    }
    if c.topology.kv_transfer().is_some_and(|k| k.compression == Compression::Lz4) {
        return Err(err(
            "kvTransfer.compression",
            "lz4 is not modelled yet (no measured compression ratio or throughput for KV caches in the \
             calibration data); use none",
        ));
    }
    let check = |key: &str,
                 parallelism: Parallelism,
                 fraction: f64,
                 step_tok: u64,
                 seqs: u64|
     -> Result<MemoryPlan, DeploymentError> {
        let fraction_of = FractionOf::of(c.backend);
        let pool = PoolMemory { parallelism, fraction, fraction_of, max_step_tok: step_tok, max_seqs: seqs };
        let tp = parallelism.tp;
        let plan = memory_plan(&s.model, &s.hardware, s.weights_dtype, s.kv_dtype, pool);
        if plan.kv_capacity_tok == 0 {
            let gpu_gb = s.hardware.gpu_memory_bytes as f64 / GB;
            let share = match fraction_of {
                FractionOf::Total | FractionOf::Static => {
                    format!(
                        "{:.0}% of the {gpu_gb:.0} GB GPU is {:.1} GB",
                        fraction * 100.0,
                        plan.budget_per_gpu_bytes as f64 / GB
                    )
                }
                FractionOf::Free => format!("the {gpu_gb:.0} GB GPU has no memory left after them"),
            };
            return Err(err(
                format!("{key}.tp"),
                format!(
                    "{} weights need {:.1} GB per GPU at tp={tp} ({}), plus {:.1} GB of activations, \
                 but {share}: nothing is left for KV cache. Expected a larger tp, \
                 a larger kvCacheMemoryFraction, or weights_dtype=fp8",
                    s.model.name,
                    plan.weights_per_gpu_bytes as f64 / GB,
                    s.weights_dtype.name(),
                    plan.activations_per_gpu_bytes as f64 / GB,
                ),
            ));
        }
        Ok(plan)
    };
    if let WorkloadSpec::Synthetic { arrival: Arrival::ClosedLoop { concurrency, .. }, .. } = &s.workload {
        if *concurrency > c.frontend.max_concurrent_requests {
            return Err(err(
                "workload.concurrency",
                format!(
                    "{concurrency} clients exceed the frontend's maxConcurrentRequests ({}): \
                 the extra clients would only be rejected; expected at most {}",
                    c.frontend.max_concurrent_requests, c.frontend.max_concurrent_requests
                ),
            ));
        }
    }
    match &c.topology {
        Topology::Disaggregated { prefill: p, decode: d, .. } => {
            check(
                "prefill",
                p.parallelism,
                PREFILL_MEMORY_FRACTION,
                p.max_batch_tokens as u64,
                p.max_batch_size as u64,
            )?;
            check(
                "decode",
                d.parallelism,
                d.kv_cache_memory_fraction,
                decode_step_tok(d.max_batch_size),
                d.max_batch_size as u64,
            )?;
        }
        Topology::Aggregated(a) => {
            check(
                "aggregated",
                a.parallelism,
                a.kv_cache_memory_fraction,
                a.max_batch_tokens.max(a.max_batch_size) as u64,
                a.max_batch_size as u64,
            )?;
        }
    }
    Ok(())
}
