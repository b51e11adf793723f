//! Sweep speed: `sweeps/production-1000.yaml` (1,000 points of 10,000 requests of the production
//! scenario) on 1 thread and on every core, and a check that both give byte-identical results.
//!
//!     cargo bench --bench sweep
//!     cargo bench --bench sweep -- quick     # the first 100 points only (random sampling)

use std::path::PathBuf;
use std::time::Instant;

use pdsim::sweep::spec::Sampling;
use pdsim::sweep::{run_sweep, SweepOptions, SweepSpec};

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut spec = SweepSpec::read(&root.join("sweeps/production-1000.yaml")).expect("the sweep file reads");
    if quick {
        spec.sampling = Sampling::Random(100);
    }
    let n = spec.points().len();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let mut outputs = Vec::new();
    println!("{:<10} {:>8} {:>10} {:>12} {:>16}", "threads", "points", "wall s", "points/s", "requests/s");
    for threads in [1, cores] {
        let out = std::env::temp_dir().join(format!("pdsim-sweep-bench-{}-{threads}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let t = Instant::now();
        let s = run_sweep(&spec, &out, &SweepOptions { threads: Some(threads), ..SweepOptions::default() })
            .expect("the sweep runs");
        let wall = t.elapsed().as_secs_f64();
        assert_eq!(s.points, n);
        println!("{threads:<10} {n:>8} {wall:>10.2} {:>12.1} {:>16.0}", n as f64 / wall, (s.ok * 10_000) as f64 / wall);
        outputs.push(std::fs::read(out.join("points.csv")).expect("points.csv exists"));
        let _ = std::fs::remove_dir_all(&out);
    }
    assert!(outputs.windows(2).all(|w| w[0] == w[1]), "points.csv differs between thread counts");
    println!("points.csv identical on 1 and {cores} threads");
}
