//! Simulator speed on the shipped scenarios: requests and events simulated per second of wall time,
//! on one core (the simulation is single-threaded).
//!
//!     cargo bench --bench simulate            # all shipped scenarios
//!     cargo bench --bench simulate -- quick   # fewer repetitions
//!
//! Prints one line per scenario with the best of several runs (least disturbed by other load).

use std::path::PathBuf;
use std::time::Instant;

use pdsim::input as scenario;
use pdsim::runner::{run, RunOptions};

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let reps = if quick { 2 } else { 5 };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("scenarios"))
        .expect("scenarios/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    println!("{:<28} {:>10} {:>12} {:>14} {:>14}", "scenario", "requests", "best wall s", "requests/s", "events/s");
    for f in files {
        let sc = match scenario::load(std::slice::from_ref(&f), &["requests=200000".to_string()]) {
            Ok(s) => s,
            Err(e) => {
                println!("{}: skipped: {e}", f.display());
                continue;
            }
        };
        let opts = RunOptions { timeseries_interval_ns: 0, ..RunOptions::default() };
        let mut best = f64::INFINITY;
        let mut events = 0;
        let mut arrived = 0;
        for _ in 0..reps {
            let t = Instant::now();
            let r = run(&sc, &opts).expect("shipped scenario runs");
            best = best.min(t.elapsed().as_secs_f64());
            events = r.summary.sim.events;
            arrived = r.summary.requests.arrived;
        }
        println!(
            "{:<28} {:>10} {:>12.3} {:>14.0} {:>14.0}",
            sc.name,
            arrived,
            best,
            arrived as f64 / best,
            events as f64 / best
        );
    }
}
