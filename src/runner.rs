//! One scenario run: turns a validated [`Scenario`] into traffic and a simulation, and its metrics
//! into a [`Summary`]. The only glue between the edges (scenario, workload readers) and the engine.

use std::time::Instant;

use crate::cluster::sim::{simulate, SimInput, SimOutput, SlaTargets, Traffic};
use crate::engine::NS_PER_S;
use crate::report::Summary;
use crate::scenario::{Scenario, DEFAULT_REQUESTS};
use crate::workload::spec::{Arrival, WorkloadSpec};
use crate::workload::{open_loop, LengthSampler, WorkloadError};

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Keep one record per request (for `requests.csv`).
    pub record_requests: bool,
    /// Simulated seconds between time-series rows; 0 = none.
    pub timeseries_interval_ns: u64,
    pub sla: SlaTargets,
    /// Put the wall-clock time in the summary (which then differs from run to run).
    pub wall_time_in_summary: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            record_requests: false,
            timeseries_interval_ns: NS_PER_S,
            sla: SlaTargets::default(),
            wall_time_in_summary: false,
        }
    }
}

pub struct RunResult {
    pub summary: Summary,
    pub output: SimOutput,
    pub wall_s: f64,
}

/// The traffic a scenario offers, limited to its run length. With neither `requests` nor `duration`
/// set, a synthetic workload offers [`DEFAULT_REQUESTS`] requests and a trace all of its requests.
pub fn traffic(s: &Scenario) -> Result<Traffic, WorkloadError> {
    let limits = s.limits;
    let is_trace = matches!(s.workload, WorkloadSpec::Trace { .. });
    let max_requests = match (limits.requests, limits.duration_ns) {
        (Some(n), _) => n,
        (None, Some(_)) => u64::MAX,
        (None, None) if is_trace => u64::MAX,
        (None, None) => DEFAULT_REQUESTS,
    };
    let stop_at_ns = limits.duration_ns.unwrap_or(u64::MAX);
    if let WorkloadSpec::Synthetic { arrival: Arrival::ClosedLoop { concurrency }, isl, osl } = &s.workload {
        let mut sampler = LengthSampler::new(isl.clone(), osl.clone(), s.seed);
        return Ok(Traffic::Closed {
            concurrency: *concurrency,
            max_requests,
            stop_at_ns,
            next_lengths: Box::new(move || sampler.sample()),
        });
    }
    let source = open_loop(&s.workload, s.seed)?;
    let limited =
        source.take(usize::try_from(max_requests).unwrap_or(usize::MAX)).take_while(move |r| r.arrival_ns < stop_at_ns);
    Ok(Traffic::Open(Box::new(limited)))
}

/// Simulates `s` once.
pub fn run(s: &Scenario, opts: &RunOptions) -> Result<RunResult, WorkloadError> {
    let start = Instant::now();
    let traffic = traffic(s)?;
    let input = SimInput {
        model: &s.model,
        hardware: &s.hardware,
        weights_dtype: s.weights_dtype,
        kv_dtype: s.kv_dtype,
        cluster: &s.cluster,
        sla: opts.sla,
        timeseries_interval_ns: opts.timeseries_interval_ns,
        record_requests: opts.record_requests,
    };
    let output = simulate(&input, traffic);
    let wall_s = start.elapsed().as_secs_f64();
    let summary = Summary::new(s, &output.metrics, opts.sla, opts.wall_time_in_summary.then_some(wall_s));
    Ok(RunResult { summary, output, wall_s })
}
