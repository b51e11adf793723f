//! One scenario run: turns a validated [`Scenario`] into traffic and a simulation, and its metrics
//! into a [`Summary`]. The only glue between the edges (scenario, workload readers) and the engine.

use std::sync::Arc;
use std::time::Instant;

use crate::core::{SimTime, NS_PER_S};
use crate::input::{Scenario, DEFAULT_REQUESTS};
use crate::metrics::export::series_from_scrapes;
use crate::promql::evaluate;
use crate::report::{Summary, WorkloadStats};
use crate::sim::{simulate, SimInput, SimOutput, SlaTargets, Traffic};
use crate::spec::workload::{Arrival, ClosedLoopSource, RequestSpec, WorkloadSpec};
use crate::workload::prefix::SessionClients;
use crate::workload::{open_loop, LengthSampler, TraceStatus, WorkloadError};

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Keep one record per request (for `requests.csv`).
    pub record_requests: bool,
    /// Simulated seconds between time-series rows; 0 = none.
    pub timeseries_interval_ns: u64,
    pub sla: SlaTargets,
    /// Put the wall-clock time in the summary (which then differs from run to run).
    pub wall_time_in_summary: bool,
    /// Simulate runs of decode-only steps as one event each (the default; same results, faster).
    pub decode_runs: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            record_requests: false,
            timeseries_interval_ns: NS_PER_S,
            sla: SlaTargets::default(),
            wall_time_in_summary: false,
            decode_runs: true,
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
    traffic_with_status(s).map(|(t, _)| t)
}

/// [`traffic`], plus the trace source's status (`None` for synthetic traffic): after the simulation it
/// holds the error that stopped the trace, if any, and the skipped-line counts.
pub fn traffic_with_status(s: &Scenario) -> Result<(Traffic, Option<Arc<TraceStatus>>), WorkloadError> {
    let limits = s.limits;
    let is_trace = matches!(s.workload, WorkloadSpec::Trace { .. });
    let max_requests = match (limits.requests, limits.duration_ns) {
        (Some(n), _) => n,
        (None, Some(_)) => u64::MAX,
        (None, None) if is_trace => u64::MAX,
        (None, None) => DEFAULT_REQUESTS,
    };
    let stop_at_ns = limits.duration_ns.map_or(SimTime::MAX, SimTime::from_ns);
    if let WorkloadSpec::Synthetic { arrival: Arrival::ClosedLoop { concurrency, ramp_up_ns }, isl, osl } = &s.workload
    {
        let mut sampler = LengthSampler::new(isl.clone(), osl.clone(), s.seed);
        let traffic = Traffic::Closed {
            concurrency: *concurrency,
            ramp_up_ns: *ramp_up_ns,
            max_requests,
            stop_at_ns,
            clients: Box::new(move || {
                let (input_tok, output_tok) = sampler.sample();
                RequestSpec { arrival_ns: 0, input_tok, output_tok, blocks: None }
            }),
        };
        return Ok((traffic, None));
    }
    if let WorkloadSpec::SyntheticPrefix {
        arrival: Arrival::ClosedLoop { concurrency, ramp_up_ns },
        isl,
        osl,
        prefix,
    } = &s.workload
    {
        // the prompts (system prompt + user text) come from the prefix generator
        let mut gen = crate::workload::prefix::PrefixGen::for_clients(isl, osl, prefix, s.seed)
            .map_err(WorkloadError::InvalidSpec)?;
        let clients: Box<dyn ClosedLoopSource> = if prefix.sessions.is_some() {
            // each client holds its conversation: a turn goes out a think time after the answer
            // to the one before
            Box::new(SessionClients::new(gen, *concurrency))
        } else {
            Box::new(move || gen.next().unwrap_or_default())
        };
        let traffic =
            Traffic::Closed { concurrency: *concurrency, ramp_up_ns: *ramp_up_ns, max_requests, stop_at_ns, clients };
        return Ok((traffic, None));
    }
    let source = open_loop(&s.workload, s.seed)?;
    let status = source.trace_status();
    let limited = source
        .take(usize::try_from(max_requests).unwrap_or(usize::MAX))
        .take_while(move |r| SimTime::from_ns(r.arrival_ns) < stop_at_ns);
    Ok((Traffic::Open(Box::new(limited)), status))
}

/// Rules are evaluated (and metrics scraped) at the rule groups' interval, else at the autoscaler's
/// scrape interval, else at Prometheus' default (1 m).
pub fn alert_interval_ns(s: &Scenario) -> u64 {
    s.alerts
        .interval_ns
        .or(s.autoscaler.as_ref().map(|a| a.scrape_interval_ns))
        .unwrap_or(crate::spec::autoscaler::PROMETHEUS_DEFAULT_SCRAPE_NS)
}

/// Simulates `s` once. A trace that stopped at a bad line (or any trace error met while streaming) fails
/// the run with that error, after the simulation of the requests before it.
pub fn run(s: &Scenario, opts: &RunOptions) -> Result<RunResult, WorkloadError> {
    let start = Instant::now();
    let (traffic, status) = traffic_with_status(s)?;
    let input = SimInput {
        model: &s.model,
        hardware: &s.hardware,
        weights_dtype: s.weights_dtype,
        kv_dtype: s.kv_dtype,
        cluster: &s.cluster,
        sla: opts.sla,
        timeseries_interval_ns: opts.timeseries_interval_ns,
        record_requests: opts.record_requests,
        seed: s.seed,
        autoscaler: s.autoscaler.as_ref(),
        scrape_interval_ns: if s.alerts.rules.is_empty() { 0 } else { alert_interval_ns(s) },
        decode_runs: opts.decode_runs,
    };
    let output = simulate(&input, traffic);
    let wall_s = start.elapsed().as_secs_f64();
    let mut summary = Summary::new(s, &output.metrics, opts.sla, opts.wall_time_in_summary.then_some(wall_s));
    if !s.alerts.rules.is_empty() {
        let store = series_from_scrapes(&output.scrapes, s.cluster.kv_block_size_bytes);
        let end_ns = output.scrapes.last().map_or(0, |r| r.t_ns);
        let reports = evaluate(&s.alerts.rules, &store, alert_interval_ns(s), end_ns)
            .map_err(|e| WorkloadError::InvalidSpec(format!("evaluating alert rules: {e}")))?;
        summary.set_alerts(&reports);
    }
    if let Some(status) = status {
        if let Some(e) = status.take_error() {
            return Err(e);
        }
        summary.workload = WorkloadStats {
            skipped_lines: status.skipped_lines(),
            skipped_failed_requests: status.skipped_failed_requests(),
        };
    }
    Ok(RunResult { summary, output, wall_s })
}
