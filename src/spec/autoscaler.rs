//! The SLA-driven autoscaler's settings (the deployment guide's `DynamoAutoscaler`), as plain data.
//! What it observes and how its policies decide live in the simulator (`crate::sim::autoscaler`),
//! with the mechanics: scrape events, cold starts, draining.
//!
//! Decisions are taken only at scrape times, on metrics over a trailing window, as a Prometheus-fed
//! autoscaler (Kubernetes HPA with a custom-metrics adapter, or Dynamo's planner) sees them: late
//! and coarse by construction.

/// Which pool a setting or an observation is about. In aggregated mode the single pool is `Decode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pool {
    Prefill,
    Decode,
}

impl Pool {
    pub fn name(self) -> &'static str {
        match self {
            Pool::Prefill => "prefill",
            Pool::Decode => "decode",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Predictor {
    /// Next interval's load = the last window's (Dynamo planner's `constant` predictor).
    Constant,
    /// Least-squares trend over the recent scrapes, extrapolated one cold start ahead.
    Linear,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Policy {
    /// The guide's thresholds: +1 replica per scrape while any scale-up threshold is exceeded;
    /// -1 when every scale-down threshold holds and the cooldown has passed.
    Threshold,
    /// Threshold, plus scaling ahead on the queue's growth rate: when the queue, growing as it did over
    /// the window, would pass `queueDepth` within one cold start, add the replicas that absorb the growth.
    Predictive,
    /// Dynamo's SLA planner: size each pool from a load forecast and the per-replica throughput that
    /// still meets the SLA (computed from the calibrated step-cost model).
    Planner(Predictor),
}

/// Scale up when any set threshold is exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ScaleUp {
    /// Requests waiting in the pool's queue(s).
    pub queue_depth: Option<f64>,
    pub ttft_p99_ms: Option<f64>,
    pub tpot_p99_ms: Option<f64>,
    /// Running sequences / (maxBatchSize x serving replicas), 0..1.
    pub batch_utilization: Option<f64>,
}

/// Scale down when every set threshold holds and `cooldown_ns` has passed since the pool's last change.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ScaleDown {
    pub gpu_utilization: Option<f64>,
    pub batch_utilization: Option<f64>,
    pub cooldown_ns: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PoolScaling {
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub up: ScaleUp,
    pub down: ScaleDown,
}

/// A new replica's start-up: its weights read at `storage_bytes_per_s` plus a fixed container start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColdStart {
    pub storage_bytes_per_s: f64,
    pub container_start_ns: u64,
}

/// Default weight-load bandwidth: one PCIe 4.0 NVMe drive's sequential read, 7.0 GB/s (Samsung
/// PM1733 datasheet), i.e. weights already cached on the node's local disk.
pub const DEFAULT_STORAGE_BYTES_PER_S: f64 = 7.0e9;
/// Default container start: pod scheduling (~1 s) plus the runtime's Python start (5-10 s), image
/// already on the node (kunwar.page, "The model cold-start problem", ch. 52). Engines that compile
/// or capture CUDA graphs at start-up take longer: set `coldStart.containerStartSeconds` from your
/// own pod start times.
pub const DEFAULT_CONTAINER_START_NS: u64 = 10_000_000_000;
/// Prometheus' documented default `scrape_interval` (1m).
pub const PROMETHEUS_DEFAULT_SCRAPE_NS: u64 = 60_000_000_000;

impl Default for ColdStart {
    fn default() -> Self {
        ColdStart { storage_bytes_per_s: DEFAULT_STORAGE_BYTES_PER_S, container_start_ns: DEFAULT_CONTAINER_START_NS }
    }
}

impl ColdStart {
    /// `container_start + weight_bytes / storage_bandwidth`: the replica's GPUs load their shards in
    /// parallel from one node's storage, so the whole model crosses it once.
    pub fn ns(&self, weight_bytes: u64) -> u64 {
        self.container_start_ns + (weight_bytes as f64 / self.storage_bytes_per_s * 1e9).round() as u64
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AutoscalerConfig {
    pub policy: Policy,
    /// SLA targets (ms): the planner sizes pools to meet them.
    pub ttft_p99_ms: Option<f64>,
    pub tpot_p99_ms: Option<f64>,
    pub prefill: Option<PoolScaling>,
    pub decode: Option<PoolScaling>,
    /// Prefill replicas follow the decode pool's growth at the deployment's initial ratio.
    pub auto_match_prefill: bool,
    pub scrape_interval_ns: u64,
    /// Trailing window of the windowed metrics (P99s, utilisation, growth rates).
    pub window_ns: u64,
    pub cold_start: ColdStart,
}

impl AutoscalerConfig {
    /// Grafana's `$__rate_interval` convention: a window of 4 scrape intervals, so every window holds
    /// enough samples for a rate.
    pub fn default_window_ns(scrape_interval_ns: u64) -> u64 {
        4 * scrape_interval_ns
    }

    pub fn pool(&self, p: Pool) -> Option<&PoolScaling> {
        match p {
            Pool::Prefill => self.prefill.as_ref(),
            Pool::Decode => self.decode.as_ref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cold_start_is_weights_over_storage_plus_container() {
        let c = ColdStart { storage_bytes_per_s: 2e9, container_start_ns: 5_000_000_000 };
        assert_eq!(c.ns(140_000_000_000), 75_000_000_000);
    }
}
