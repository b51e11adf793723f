//! Plain, validated description of the traffic a scenario offers. Built by `scenario`, consumed by
//! [`crate::workload::open_loop`]; no I/O here.

use std::path::PathBuf;

/// Tokens per prefix block: Mooncake traces hash prompts in 512-token blocks, and pdsim's prefix
/// caches and synthetic prefixes use the same granularity so traces replay exactly.
pub const PREFIX_BLOCK_TOK: u32 = 512;

/// One request as the frontend sees it: when it arrives, how many tokens go in and come out, and
/// (when known) the hashes of its prompt's 512-token blocks, equal hashes meaning equal prefixes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestSpec {
    pub arrival_ns: u64,
    pub input_tok: u32,
    pub output_tok: u32,
    /// Hash of each full or partial [`PREFIX_BLOCK_TOK`]-token block of the prompt, in order; `None`
    /// when the workload says nothing about prefixes (no prefix-cache hits are possible then).
    pub blocks: Option<std::sync::Arc<[u64]>>,
}

/// Closed-loop clients: what each sends next. Any `FnMut() -> RequestSpec` is one whose clients
/// send requests from one shared stream, each the moment its previous one ends.
pub trait ClosedLoopSource: Send {
    /// The request `client` sends now (its arrival time is set by the caller), and how long after
    /// its answer the client sends its next.
    fn next_request(&mut self, client: u32) -> (RequestSpec, u64);
    /// `client`'s last request failed (rejected or timed out).
    fn failed(&mut self, _client: u32) {}
}

impl<F: FnMut() -> RequestSpec + Send> ClosedLoopSource for F {
    fn next_request(&mut self, _client: u32) -> (RequestSpec, u64) {
        (self(), 0)
    }
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
    /// Empirical: the quantile function through `knots` `(cumulative probability, tokens)`, linear between
    /// knots (probabilities strictly increasing from 0 to 1, tokens non-decreasing, at least two knots).
    /// Knots placed at measured quantiles of a trace reproduce those quantiles exactly (the presets in
    /// [`crate::workload::presets`]).
    Empirical {
        knots: std::sync::Arc<[(f64, f64)]>,
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
    /// (how aiperf/genai-perf benchmark a deployment). Client `i` sends its first request at
    /// `i * ramp_up_ns / concurrency`: 0 starts them all at t = 0, as aiperf and genai-perf in
    /// concurrency mode and vLLM's `benchmark_serving --max-concurrency` (at its default request rate
    /// `inf`) do; a ramp is what a load generator that brings clients up one by one does.
    ClosedLoop { concurrency: u32, ramp_up_ns: u64 },
    /// Every request arrives at t = 0.
    Offline,
    /// Open loop, non-homogeneous Poisson with a sinusoidal rate
    /// `rate(t) = rate_per_s * (1 + amplitude * sin(2 pi t / period_s + phase_rad))` (a day compressed
    /// into `period_s`); `0 <= amplitude <= 1`.
    Diurnal { rate_per_s: f64, amplitude: f64, period_s: f64, phase_rad: f64 },
    /// Open loop, non-homogeneous Poisson whose rate is piecewise constant: `(time s, requests/s)` points,
    /// the first at t = 0, times increasing; each rate holds until the next point, the last one forever
    /// (a last rate of 0 ends the source).
    Step { points: Vec<(f64, f64)> },
    /// Like [`Arrival::Step`] but the rate is linear between points (a ramp), constant after the last.
    Ramp { points: Vec<(f64, f64)> },
}

/// Prefix structure of synthetic prompts: which prompts share their leading 512-token blocks
/// ([`RequestSpec::blocks`]). See [`crate::workload::prefix`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrefixSpec {
    /// Number of distinct shared system prompts (0 = none).
    pub system_prompts: u32,
    /// Tokens of each system prompt, put in front of the sampled input length.
    pub system_prompt_tok: u32,
    /// Zipf exponent of the choice among system prompts (0 = uniform).
    pub system_prompt_zipf: f64,
    /// Multi-turn sessions, when set.
    pub sessions: Option<SessionSpec>,
}

/// Multi-turn sessions: turn k+1's prompt is turn k's prompt + its answer + a new user message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionSpec {
    /// Mean turns per session (>= 1; geometric on 1, 2, ...).
    pub mean_turns: f64,
    /// Mean think time before the next turn (s; exponential): after the previous turn's answer with
    /// closed-loop clients, after its arrival in open loop (which cannot know when answers come).
    pub think_time_s: f64,
}

/// The trace file formats pdsim replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    /// Azure LLM inference trace CSV: `TIMESTAMP,ContextTokens,GeneratedTokens`.
    AzureCsv,
    /// Mooncake JSONL: `timestamp` (ms), `input_length`, `output_length`, `hash_ids`.
    MooncakeJsonl,
    /// BurstGPT CSV: `Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type` (seconds).
    BurstGptCsv,
}

/// How a trace is replayed (see [`crate::workload::stream`]). All times are trace time, before scaling.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceOptions {
    /// Replay speed: arrival times are divided by it (2 = twice as fast).
    pub speedup: f64,
    /// Rescale time so the replayed mean arrival rate is this many requests/s (replaces `speedup`;
    /// costs one extra pass over the file).
    pub rate: Option<f64>,
    /// Window start, ns after the trace's first request: earlier requests are skipped and times shift so
    /// the window starts at 0.
    pub start_ns: u64,
    /// Window length in ns of trace time; `None` = to the end of the trace.
    pub duration_ns: Option<u64>,
    /// Keep this fraction of the requests (0 < sample <= 1), chosen deterministically from the seed.
    pub sample: f64,
    /// Skip (and count) malformed or too-far-out-of-order lines instead of stopping at the first one.
    pub skip_bad_lines: bool,
    /// BurstGPT: keep only rows whose `Model` equals this (case-insensitive); `None` = all.
    pub model: Option<String>,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            speedup: 1.0,
            rate: None,
            start_ns: 0,
            duration_ns: None,
            sample: 1.0,
            skip_bad_lines: false,
            model: None,
        }
    }
}

/// Where requests come from.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkloadSpec {
    Synthetic {
        arrival: Arrival,
        isl: LengthDist,
        osl: LengthDist,
    },
    /// Synthetic traffic with prefix structure: requests carry `blocks` (shared system prompts, multi-turn
    /// sessions). A variant of its own so the many `Synthetic { arrival, isl, osl }` sites stay as they are;
    /// `isl` is the new user text of each turn (system prompt and history come on top).
    SyntheticPrefix {
        arrival: Arrival,
        isl: LengthDist,
        osl: LengthDist,
        prefix: PrefixSpec,
    },
    /// Replay of a trace file, streamed (memory bounded by the requests in flight).
    Trace {
        path: PathBuf,
        format: TraceFormat,
        options: TraceOptions,
    },
}

impl WorkloadSpec {
    /// How synthetic traffic arrives (with or without prefixes); `None` for a trace replay.
    pub fn arrival(&self) -> Option<&Arrival> {
        match self {
            WorkloadSpec::Synthetic { arrival, .. } | WorkloadSpec::SyntheticPrefix { arrival, .. } => Some(arrival),
            WorkloadSpec::Trace { .. } => None,
        }
    }

    pub fn arrival_mut(&mut self) -> Option<&mut Arrival> {
        match self {
            WorkloadSpec::Synthetic { arrival, .. } | WorkloadSpec::SyntheticPrefix { arrival, .. } => Some(arrival),
            WorkloadSpec::Trace { .. } => None,
        }
    }
}
