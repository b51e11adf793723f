//! Regression tests for pipeline bugs found in review: each one failed before its fix.
mod common;
use common::*;

use pdsim::input::{self as scenario, Scenario};
use pdsim::metrics::Outcome;
use pdsim::runner::{run, RunOptions};
use pdsim::sim::{simulate, SimInput, SimOutput, SlaTargets, Traffic};
use pdsim::spec::deployment::Mode;
use pdsim::spec::workload::RequestSpec;
use std::path::Path;

fn base() -> Scenario {
    scenario::load_from_strs(&[("small.yaml", SMALL)], Path::new("."), &[]).expect("SMALL loads")
}

fn sim(s: &Scenario, reqs: Vec<RequestSpec>, ts_ns: u64) -> SimOutput {
    let input = SimInput {
        model: &s.model,
        hardware: &s.hardware,
        weights_dtype: s.weights_dtype,
        kv_dtype: s.kv_dtype,
        cluster: &s.cluster,
        sla: SlaTargets::default(),
        timeseries_interval_ns: ts_ns,
        record_requests: true,
        seed: 1,
        autoscaler: None,
        scrape_interval_ns: 0,
        decode_runs: true,
    };
    simulate(&input, Traffic::Open(Box::new(reqs.into_iter())))
}

fn req(t: u64, i: u32, o: u32) -> RequestSpec {
    RequestSpec { arrival_ns: t, input_tok: i, output_tok: o, blocks: None }
}

const MS: u64 = 1_000_000;

/// sim.rs on_prefill_done: releasing a cancelled request's hold calls dispatch_prefill, which starts a
/// new batch on the same (now idle) worker; the end of on_prefill_done then overwrites that new batch
/// with the finished one. The new batch's requests never get their PrefillDone (stuck, held_tok
/// leaked) and the old batch's live requests are routed to decode a second time.
#[test]
fn prefill_batch_overwritten_when_cancelled_member_releases_hold() {
    let mut s = base();
    s.cluster.frontend.request_timeout_ns = 210 * MS;
    // P prefills alone over [0, ~190ms]; R0, R1 are batched next over [~190, ~232];
    // R0 (deadline 211ms) times out inside that batch, R1 (deadline 310ms) does not;
    // R2 arrives while that batch runs.
    let out = sim(&s, vec![req(0, 8000, 2), req(MS, 1000, 2), req(100 * MS, 1000, 2), req(200 * MS, 1000, 2)], 0);
    for r in &out.requests {
        eprintln!("{r:?}");
    }
    let m = &out.metrics;
    assert!(m.accounted());
    let mut ids: Vec<u64> = out.requests.iter().map(|r| r.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), out.requests.len(), "a request ended twice");
    let r2 = out.requests.iter().find(|r| r.id == 3).unwrap();
    assert_eq!(r2.outcome, Outcome::Completed, "R2 lost in an overwritten prefill batch: {r2:?}");
}

fn aggregated() -> Scenario {
    let mut s = base();
    s.switch_mode(Mode::Aggregated);
    let a = s.cluster.topology.aggregated_mut().unwrap();
    a.replicas = 1;
    a.parallelism.tp = 1;
    a.max_batch_size = 64;
    a.max_batch_tokens = 8192;
    a.kv_cache_memory_fraction = 0.9;
    s
}

/// sim.rs on_step_done: a local (chunked / recompute) prefill whose request timed out during the step
/// that finishes its prefill is pushed to `finished_now` without checking `cancelled`, so `complete`
/// ends it a second time as Completed (here in_system underflows in debug builds).
#[test]
fn timed_out_local_prefill_also_completes() {
    let mut s = aggregated();
    s.cluster.frontend.request_timeout_ns = 100 * MS; // the one prefill step takes ~190 ms
    let out = sim(&s, vec![req(0, 8000, 1)], 0);
    let m = &out.metrics;
    assert_eq!((m.completed, m.timed_out), (0, 1));
    assert_eq!(out.requests.len(), 1);
}

/// A closed loop of 4 clients. `max_concurrent` below 4 is refused by the scenario loader, so it is
/// set on the loaded scenario: the simulator must still cope.
fn closed_loop(extra: &str, max_concurrent: u32) -> Scenario {
    let y = SMALL
        .replace("  kind: poisson\n  rate: 20\n", "  kind: closed_loop\n  concurrency: 4\n")
        .replace("requests: 300\n", extra);
    let mut s = scenario::load_from_strs(&[("cl.yaml", &y)], Path::new("."), &[]).expect("closed-loop scenario loads");
    s.cluster.frontend.max_concurrent_requests = max_concurrent;
    s
}

/// sim.rs client_next/on_arrival: `closed_issued` is only incremented when the Arrival is processed,
/// so clients whose requests end at the same instant all see `closed_issued < max_requests` and all
/// re-issue: more than `requests` are sent.
#[test]
fn closed_loop_sends_more_than_max_requests() {
    // 4 clients, at most 2 admitted: two are rejected at t=0 while other Arrivals are pending
    let s = closed_loop("requests: 6\n", 2);
    let r = run(&s, &RunOptions { record_requests: true, ..Default::default() }).unwrap();
    assert_eq!(r.output.metrics.arrived, 6, "closed loop overshoots `requests`");
}

/// sim.rs on_arrival/client_next: a closed-loop request rejected at the frontend re-issues at the same
/// instant; with only `duration` as the stop condition (`now < stop_at_ns` never changes) and more
/// clients than maxConcurrentRequests this spins forever at t = 0 (a hang).
#[test]
fn closed_loop_rejections_spin_forever_with_duration_limit() {
    let s = closed_loop("duration: 10s\n", 2);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r =
            run(&s, &RunOptions { record_requests: false, timeseries_interval_ns: 0, ..Default::default() }).unwrap();
        let _ = tx.send(r.output.metrics.arrived);
    });
    let got = rx.recv_timeout(std::time::Duration::from_secs(20));
    assert!(got.is_ok(), "closed-loop run with rejections did not finish in 20 s (spins at t=0)");
}

/// sim.rs maybe_start_step: zombies (timed-out running sequences) are purged *after* try_admit has
/// already given up on the waiting queue; if the purge empties the worker, it goes idle with a
/// waiting request that now fits and nothing ever calls try_admit again: the request sits until its
/// own timeout.
#[test]
fn waiting_request_starves_after_zombie_purge() {
    let mut s = base();
    s.cluster.topology.decode_mut().unwrap().max_batch_size = 1;
    s.cluster.frontend.request_timeout_ns = 2000 * MS;
    // A decodes for ~12 s and times out at 2 s (mid-step); B waits for A's batch slot from ~1.01 s.
    let out = sim(&s, vec![req(0, 512, 2000), req(1000 * MS, 512, 2)], 0);
    for r in &out.requests {
        eprintln!("{r:?}");
    }
    let b = out.requests.iter().find(|r| r.id == 1).unwrap();
    assert_eq!(b.outcome, Outcome::Completed, "B waited on an idle worker until its timeout: {b:?}");
}

/// sim.rs on_sample: busy time is credited only when a step ends, so a step longer than the sample
/// interval puts all of its busy time into one row: utilization > 1 (and 0 in the rows before).
#[test]
fn timeseries_utilization_exceeds_one() {
    let s = base();
    let out = sim(&s, vec![req(0, 8000, 2)], 50 * MS);
    let worst = out.timeseries.iter().map(|r| r.prefill_utilization).fold(0.0, f64::max);
    assert!(worst <= 1.0 + 1e-9, "prefill utilization {worst} in one row: {:?}", out.timeseries);
}
