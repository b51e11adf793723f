//! Plain, validated description of the traffic a scenario offers. Built by `scenario`, consumed by
//! [`crate::workload::open_loop`]; no I/O here.

use std::path::PathBuf;

/// One request as the frontend sees it: when it arrives and how many tokens go in and come out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestSpec {
    pub arrival_ns: u64,
    pub input_tok: u32,
    pub output_tok: u32,
}

/// A token-length distribution.
#[derive(Debug, Clone, PartialEq)]
pub enum LengthDist {
    Fixed(u32),
    /// Inclusive on both ends.
    Uniform {
        min: u32,
        max: u32,
    },
    /// Log-normal with the given arithmetic mean and log-space sigma, clamped to `[min, max]`.
    LogNormal {
        mean: f64,
        sigma: f64,
        min: u32,
        max: u32,
    },
}

/// How requests arrive.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrival {
    /// Open loop, exponential inter-arrival gaps.
    Poisson { rate_per_s: f64 },
    /// Open loop, Gamma inter-arrival gaps with the given coefficient of variation (CV > 1 is bursty).
    Gamma { rate_per_s: f64, cv: f64 },
    /// Closed loop: `concurrency` clients, each sends its next request as soon as the previous one ends
    /// (how aiperf/genai-perf benchmark a deployment).
    ClosedLoop { concurrency: u32 },
    /// Every request arrives at t = 0.
    Offline,
}

/// The trace file formats pdsim replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    /// Azure LLM inference trace CSV: `TIMESTAMP,ContextTokens,GeneratedTokens`.
    AzureCsv,
    /// Mooncake JSONL: `timestamp` (ms), `input_length`, `output_length`, `hash_ids`.
    MooncakeJsonl,
}

/// Where requests come from.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkloadSpec {
    Synthetic {
        arrival: Arrival,
        isl: LengthDist,
        osl: LengthDist,
    },
    /// Replay of a trace file. `speedup` = 2 replays twice as fast.
    Trace {
        path: PathBuf,
        format: TraceFormat,
        speedup: f64,
    },
}
