//! The run summary (`summary.json`, `--json`, the table's numbers) and what is derived from the
//! metrics: throughput, SLA attainment and goodput, utilisation per pool, GPU-hours and $/token.

use serde::Serialize;

use crate::metrics::{LatencyStats, RunMetrics};
use crate::spec::deployment::{Backend, Mode, Topology};
use crate::spec::scenario::{Scenario, SlaTargets};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RequestCounts {
    pub arrived: u64,
    pub completed: u64,
    pub rejected: u64,
    pub timed_out: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Throughput {
    pub output_tok_s: f64,
    pub input_tok_s: f64,
    pub requests_s: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Sla {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    /// Share of arrived requests that completed within every target.
    pub attainment: f64,
    pub goodput_req_s: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PoolStats {
    pub replicas_mean: f64,
    pub replicas_max: u32,
    /// GPUs of the replicas the deployment starts with.
    pub gpus: u32,
    /// GPUs per replica.
    pub tp: u32,
    /// Busy time / replica time held (replica time = replicas x run time without an autoscaler).
    pub utilization: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Pools {
    pub prefill: Option<PoolStats>,
    pub decode: PoolStats,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KvCache {
    pub hit_ratio: f64,
    pub preemptions: u64,
    /// Highest share of one worker's KV capacity in use.
    pub peak_usage: f64,
    pub capacity_tok_per_worker: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cost {
    pub gpu_hours: f64,
    pub usd_per_gpu_hour: f64,
    pub usd_per_1m_output_tok: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SimInfo {
    pub events: u64,
    /// Wall-clock seconds; `null` unless asked for, so that the same scenario and seed give the
    /// same bytes.
    pub wall_s: Option<f64>,
    pub simulated_s: f64,
    pub seed: u64,
    pub version: &'static str,
}

/// The summary object of DESIGN.md §5 (stable keys, units in names).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub scenario: String,
    pub model: String,
    pub mode: &'static str,
    pub backend: &'static str,
    pub kv_transfer_backend: &'static str,
    pub gpus: u32,
    pub requests: RequestCounts,
    pub ttft_ms: LatencyStats,
    pub tpot_ms: LatencyStats,
    pub itl_ms: LatencyStats,
    pub e2e_ms: LatencyStats,
    pub kv_transfer_ms: LatencyStats,
    pub prefill_queue_ms: LatencyStats,
    pub decode_queue_ms: LatencyStats,
    pub throughput: Throughput,
    pub sla: Sla,
    pub pools: Pools,
    pub kv_cache: KvCache,
    pub cost: Cost,
    pub alerts: Vec<serde_json::Value>,
    pub sim: SimInfo,
    pub workload: WorkloadStats,
}

/// What trace replay left out: lines skipped as malformed or too far out of order (with
/// `skip_bad_lines`), and BurstGPT failed requests (`Response tokens` 0). Zero for synthetic traffic.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
pub struct WorkloadStats {
    pub skipped_lines: u64,
    pub skipped_failed_requests: u64,
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

fn round_stats(s: LatencyStats) -> LatencyStats {
    LatencyStats {
        mean: round(s.mean, 3),
        p50: round(s.p50, 3),
        p90: round(s.p90, 3),
        p99: round(s.p99, 3),
        max: round(s.max, 3),
    }
}

/// What a run's numbers do not show on their own and a reader should know before trusting them.
pub fn warnings(s: &Scenario, m: &RunMetrics) -> Vec<String> {
    use crate::spec::workload::Arrival;
    let mut out = Vec::new();
    if m.output_clamped > 0 {
        let limit = match &s.cluster.topology {
            Topology::Disaggregated { decode, .. } => ("decode.maxOutputLength", decode.max_output_length),
            Topology::Aggregated(a) => ("aggregated.maxOutputLength", a.max_output_length),
        };
        out.push(format!(
            "{} of {} requests asked for more output than {} = {} allows (up to {} tokens) and were cut short: \
             TPOT, throughput and cost are for the shorter answers",
            m.output_clamped, m.arrived, limit.0, limit.1, m.max_output_tok_asked
        ));
    }
    if let Topology::Aggregated(a) = &s.cluster.topology {
        if s.cluster.backend == Backend::Trtllm && m.rejected > 0 && a.max_input_length > a.max_batch_tokens {
            out.push(format!(
                "prompts longer than aggregated.maxBatchTokens = {} are refused: TensorRT-LLM runs a prompt whole \
                 in one step (chunked context is off by default); {} of {} requests were rejected",
                a.max_batch_tokens, m.rejected, m.arrived
            ));
        }
    }
    if matches!(s.workload.arrival(), Some(Arrival::Offline)) && m.timed_out > 0 {
        out.push(format!(
            "{} of {} requests timed out: an offline run sends every request at t = 0, so each waits behind the others \
             already queued; raise frontend.requestTimeoutMs or send fewer requests to measure throughput",
            m.timed_out, m.arrived
        ));
    }
    out
}

impl Summary {
    pub fn new(s: &Scenario, m: &RunMetrics, sla: SlaTargets, wall_s: Option<f64>) -> Summary {
        let secs = m.makespan_ns as f64 / 1e9;
        let per_s = |x: f64| if secs > 0.0 { x / secs } else { 0.0 };
        let gpus = s.cluster.total_gpus();
        // GPUs are paid for while held (an autoscaled replica from its start to its drained stop)
        let tp = |gpus: u32, replicas: u32| gpus.checked_div(replicas).unwrap_or(0) as f64;
        let gpu_ns = m.prefill_replica_ns as f64 * tp(m.prefill_gpus, m.prefill_replicas)
            + m.decode_replica_ns as f64 * tp(m.decode_gpus, m.decode_replicas);
        let gpu_hours = gpu_ns / 1e9 / 3600.0;
        let usd = gpu_hours * s.usd_per_gpu_hour;
        let util = |busy: u64, replica_ns: u64| {
            if replica_ns == 0 {
                0.0
            } else {
                round(busy as f64 / replica_ns as f64, 4)
            }
        };
        let mean =
            |replica_ns: u64| if m.makespan_ns == 0 { 0.0 } else { round(replica_ns as f64 / m.makespan_ns as f64, 4) };
        Summary {
            scenario: s.name.clone(),
            model: s.model.name.clone(),
            mode: s.cluster.mode().name(),
            backend: s.cluster.backend.name(),
            kv_transfer_backend: s.cluster.topology.kv_transfer().map_or("none", |k| k.backend.name()),
            gpus,
            requests: RequestCounts {
                arrived: m.arrived,
                completed: m.completed,
                rejected: m.rejected,
                timed_out: m.timed_out,
            },
            ttft_ms: round_stats(m.ttft.stats_ms()),
            tpot_ms: round_stats(m.tpot.stats_ms()),
            itl_ms: round_stats(m.itl.stats_ms()),
            e2e_ms: round_stats(m.e2e.stats_ms()),
            kv_transfer_ms: round_stats(m.kv_transfer.stats_ms()),
            prefill_queue_ms: round_stats(m.prefill_queue.stats_ms()),
            decode_queue_ms: round_stats(m.decode_queue.stats_ms()),
            throughput: Throughput {
                output_tok_s: round(per_s(m.output_tok_completed as f64), 2),
                input_tok_s: round(per_s(m.input_tok_completed as f64), 2),
                requests_s: round(per_s(m.completed as f64), 4),
            },
            sla: Sla {
                ttft_ms: sla.ttft_ms,
                tpot_ms: sla.tpot_ms,
                attainment: if m.arrived > 0 { round(m.sla_met as f64 / m.arrived as f64, 4) } else { 0.0 },
                goodput_req_s: round(per_s(m.sla_met as f64), 4),
            },
            pools: Pools {
                prefill: (s.cluster.mode() == Mode::Disaggregated).then(|| PoolStats {
                    replicas_mean: mean(m.prefill_replica_ns),
                    replicas_max: m.prefill_replicas_max,
                    gpus: m.prefill_gpus,
                    tp: tp(m.prefill_gpus, m.prefill_replicas) as u32,
                    utilization: util(m.prefill_busy_ns, m.prefill_replica_ns),
                }),
                decode: PoolStats {
                    replicas_mean: mean(m.decode_replica_ns),
                    replicas_max: m.decode_replicas_max,
                    gpus: m.decode_gpus,
                    tp: tp(m.decode_gpus, m.decode_replicas) as u32,
                    utilization: util(m.decode_busy_ns, m.decode_replica_ns),
                },
            },
            kv_cache: KvCache {
                hit_ratio: if m.prefix_blocks_total > 0 {
                    round(m.prefix_blocks_hit as f64 / m.prefix_blocks_total as f64, 4)
                } else {
                    0.0
                },
                preemptions: m.preemptions,
                peak_usage: round(m.kv_peak_usage, 4),
                capacity_tok_per_worker: m.kv_capacity_tok_per_worker,
            },
            cost: Cost {
                gpu_hours: round(gpu_hours, 4),
                usd_per_gpu_hour: s.usd_per_gpu_hour,
                usd_per_1m_output_tok: if m.output_tok_completed > 0 {
                    round(usd / m.output_tok_completed as f64 * 1e6, 4)
                } else {
                    0.0
                },
            },
            alerts: Vec::new(),
            sim: SimInfo {
                events: m.events,
                wall_s,
                simulated_s: round(secs, 6),
                seed: s.seed,
                version: crate::VERSION,
            },
            workload: WorkloadStats::default(),
        }
    }

    /// GPU utilization over the whole deployment, weighted by GPUs per pool.
    pub fn gpu_utilization(&self) -> f64 {
        // weighted by GPU time held
        let held = |p: &PoolStats| p.replicas_mean * p.tp as f64;
        let mut busy = self.pools.decode.utilization * held(&self.pools.decode);
        let mut gpus = held(&self.pools.decode);
        if let Some(p) = &self.pools.prefill {
            busy += p.utilization * held(p);
            gpus += held(p);
        }
        if gpus > 0.0 {
            busy / gpus
        } else {
            0.0
        }
    }
}
