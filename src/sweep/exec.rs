//! Running a sweep: points in parallel (rayon), a journal appended as points finish, resume,
//! shards and their merge, and the final sorted outputs.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::frontier::pareto;
use super::spec::{Constraint, Point, SweepSpec};
use super::SweepError;
use crate::input::{self, Scenario};
use crate::report::plot;
use crate::report::{write_atomic, Summary};
use crate::runner::{run, RunOptions};
use crate::sim::SlaTargets;
use crate::spec::deployment::Mode;

#[derive(Debug, Clone, Default)]
pub struct SweepOptions {
    /// Worker threads (default: all cores).
    pub threads: Option<usize>,
    /// `(i, n)`: run only the points whose index is `i` modulo `n`.
    pub shard: Option<(usize, usize)>,
    /// Keep the journal of an earlier run in the output directory and run only what it lacks.
    pub resume: bool,
    /// Draw a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
}

/// Metric columns of `points.csv`, in order.
pub const METRIC_COLUMNS: &[&str] = &[
    "total_gpus",
    "ttft_p50_ms",
    "ttft_p90_ms",
    "ttft_p99_ms",
    "tpot_p50_ms",
    "tpot_p90_ms",
    "tpot_p99_ms",
    "e2e_p99_ms",
    "kv_transfer_p99_ms",
    "output_tok_s",
    "output_tok_s_per_gpu",
    "output_tok_s_per_user",
    "requests_s",
    "goodput_req_s",
    "sla_attainment",
    "completed",
    "rejected",
    "timed_out",
    "prefill_utilization",
    "decode_utilization",
    "gpu_hours",
    "usd_per_1m_output_tok",
];

fn metrics_of(s: &Summary) -> BTreeMap<String, f64> {
    let gpu_s = s.cost.gpu_hours * 3600.0;
    let gpus_held = if s.sim.simulated_s > 0.0 { gpu_s / s.sim.simulated_s } else { 0.0 };
    let v = [
        s.gpus as f64,
        s.ttft_ms.p50,
        s.ttft_ms.p90,
        s.ttft_ms.p99,
        s.tpot_ms.p50,
        s.tpot_ms.p90,
        s.tpot_ms.p99,
        s.e2e_ms.p99,
        s.kv_transfer_ms.p99,
        s.throughput.output_tok_s,
        if gpus_held > 0.0 { s.throughput.output_tok_s / gpus_held } else { 0.0 },
        // aiconfigurator's tokens/s/user: one stream's decode speed
        if s.tpot_ms.mean > 0.0 { 1000.0 / s.tpot_ms.mean } else { 0.0 },
        s.throughput.requests_s,
        s.sla.goodput_req_s,
        s.sla.attainment,
        s.requests.completed as f64,
        s.requests.rejected as f64,
        s.requests.timed_out as f64,
        s.pools.prefill.as_ref().map_or(0.0, |p| p.utilization),
        s.pools.decode.utilization,
        s.cost.gpu_hours,
        s.cost.usd_per_1m_output_tok,
    ];
    // a non-finite value (inf cost of a point that produced nothing) is left out: an empty cell
    METRIC_COLUMNS.iter().zip(v).filter(|(_, x)| x.is_finite()).map(|(k, x)| (k.to_string(), round6(x))).collect()
}

fn round6(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1e6).round() / 1e6
    } else {
        x
    }
}

/// One journal line: a finished point.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PointResult {
    pub id: usize,
    pub values: Vec<String>,
    /// `ok`, `skipped` (a constraint excludes it) or `failed`.
    pub status: String,
    pub error: Option<String>,
    pub metrics: BTreeMap<String, f64>,
}

/// What every shard and resumed run of one sweep must agree on; written as `sweep.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SweepMeta {
    pub name: String,
    pub fingerprint: String,
    pub points: usize,
    pub axes: Vec<String>,
    pub objectives: Vec<(String, bool)>,
    pub sla_ttft_p99_ms: Option<f64>,
    pub sla_tpot_p99_ms: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct SweepSummary {
    pub points: usize,
    pub ran: usize,
    pub resumed: usize,
    pub ok: usize,
    pub skipped: usize,
    pub failed: Vec<(usize, String)>,
    pub frontier: usize,
    /// Whether the output holds every point (false for one shard).
    pub complete: bool,
}

fn value_of(key: &str, point: &Point, spec: &SweepSpec, s: &Scenario) -> Result<f64, String> {
    if let Ok(x) = key.parse::<f64>() {
        return Ok(x);
    }
    if let Some(i) = spec.axes.iter().position(|a| a.key == key) {
        return point.values[i].parse::<f64>().map_err(|_| format!("{key} = {} is not a number", point.values[i]));
    }
    // a pool the point does not run still has the settings it was given (see `Scenario::other_topology`)
    let (gpus_p, gpus_d) = s.cluster.topology.pool_gpus();
    let disagg = s.topology(Mode::Disaggregated);
    let (p, d) = (disagg.prefill().expect("disaggregated"), disagg.decode().expect("disaggregated"));
    let a = s.topology(Mode::Aggregated).aggregated().expect("aggregated");
    Ok(match key {
        "total_gpus" => s.cluster.total_gpus() as f64,
        "prefill_gpus" => gpus_p as f64,
        "decode_gpus" => gpus_d as f64,
        "prefill.replicas" => p.replicas as f64,
        "prefill.tp" => p.parallelism.tp as f64,
        "prefill.maxBatchSize" => p.max_batch_size as f64,
        "prefill.maxBatchTokens" => p.max_batch_tokens as f64,
        "decode.replicas" => d.replicas as f64,
        "decode.tp" => d.parallelism.tp as f64,
        "decode.maxBatchSize" => d.max_batch_size as f64,
        "decode.kvCacheMemoryFraction" => d.kv_cache_memory_fraction,
        "aggregated.replicas" => a.replicas as f64,
        "aggregated.tp" => a.parallelism.tp as f64,
        "aggregated.maxBatchSize" => a.max_batch_size as f64,
        "aggregated.maxBatchTokens" => a.max_batch_tokens as f64,
        _ => return Err(format!("constraint key {key} is neither an axis nor a numeric deployment setting")),
    })
}

fn violated<'a>(cs: &'a [Constraint], p: &Point, spec: &SweepSpec, s: &Scenario) -> Result<Option<&'a str>, String> {
    for c in cs {
        let (a, b) = (value_of(&c.lhs, p, spec, s)?, value_of(&c.rhs, p, spec, s)?);
        if !c.op.holds(a, b) {
            return Ok(Some(&c.text));
        }
    }
    Ok(None)
}

/// Simulates one point. Bad values (a TP that does not fit, ...) make a `failed` result, not an error.
pub fn run_point(spec: &SweepSpec, p: &Point) -> PointResult {
    let mut sets = spec.base_sets.clone();
    sets.extend(p.sets(&spec.axes));
    let mut r =
        PointResult { id: p.id, values: p.values.clone(), status: "ok".into(), error: None, metrics: BTreeMap::new() };
    let s = match input::load(&spec.scenario, &sets) {
        Ok(s) => s,
        Err(e) => {
            r.status = "failed".into();
            r.error = Some(e.to_string());
            return r;
        }
    };
    match violated(&spec.constraints, p, spec, &s) {
        Ok(Some(c)) => {
            r.status = "skipped".into();
            r.error = Some(format!("constraint {c}"));
            return r;
        }
        Ok(None) => {}
        Err(e) => {
            r.status = "failed".into();
            r.error = Some(e);
            return r;
        }
    }
    let opts = RunOptions {
        record_requests: false,
        timeseries_interval_ns: 0,
        sla: SlaTargets { ttft_ms: spec.sla_ttft_p99_ms, tpot_ms: spec.sla_tpot_p99_ms },
        wall_time_in_summary: false,
        ..RunOptions::default()
    };
    match run(&s, &opts) {
        Ok(out) => r.metrics = metrics_of(&out.summary),
        Err(e) => {
            r.status = "failed".into();
            r.error = Some(e.to_string());
        }
    }
    r
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SweepError + '_ {
    move |source| SweepError::Io { path: path.to_path_buf(), source }
}

fn meta_of(spec: &SweepSpec, n: usize) -> Result<SweepMeta, SweepError> {
    Ok(SweepMeta {
        name: spec.name.clone(),
        fingerprint: spec.fingerprint()?,
        points: n,
        axes: spec.axes.iter().map(|a| a.key.clone()).collect(),
        objectives: spec.objectives.iter().map(|o| (o.metric.clone(), o.maximize)).collect(),
        sla_ttft_p99_ms: spec.sla_ttft_p99_ms,
        sla_tpot_p99_ms: spec.sla_tpot_p99_ms,
    })
}

/// Reads a journal; a torn last line (an interrupted write) is dropped.
fn read_journal(path: &Path) -> Result<Vec<PointResult>, SweepError> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(path)(e)),
    };
    let lines: Vec<String> = std::io::BufReader::new(f).lines().collect::<Result<_, _>>().map_err(io(path))?;
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        match serde_json::from_str::<PointResult>(l) {
            Ok(r) => out.push(r),
            Err(_) if i + 1 == lines.len() => {}
            Err(e) => return Err(SweepError::Journal { path: path.into(), msg: format!("line {}: {e}", i + 1) }),
        }
    }
    Ok(out)
}

/// Writes `points.jsonl` whole (atomically), one line per point in point order.
fn write_journal(out: &Path, done: &BTreeMap<usize, PointResult>) -> Result<(), SweepError> {
    let mut text = String::new();
    for r in done.values() {
        text.push_str(&serde_json::to_string(r).expect("results serialize"));
        text.push('\n');
    }
    Ok(write_atomic(out, "points.jsonl", text.as_bytes())?)
}

/// A journal line must be a point of this sweep, with its values.
fn check_line(path: &Path, r: &PointResult, all: &[Point]) -> Result<(), SweepError> {
    match all.get(r.id) {
        Some(p) if p.values == r.values => Ok(()),
        _ => Err(SweepError::Journal {
            path: path.to_path_buf(),
            msg: format!("point {} {:?} is not a point of this sweep: start a fresh output directory", r.id, r.values),
        }),
    }
}

fn read_meta(dir: &Path) -> Result<SweepMeta, SweepError> {
    let p = dir.join("sweep.json");
    let text = std::fs::read_to_string(&p).map_err(io(&p))?;
    serde_json::from_str(&text).map_err(|e| SweepError::Journal { path: p, msg: e.to_string() })
}

/// Runs the sweep (or one shard of it) into `out`.
pub fn run_sweep(spec: &SweepSpec, out: &Path, opts: &SweepOptions) -> Result<SweepSummary, SweepError> {
    let all = spec.points();
    let meta = meta_of(spec, all.len())?;
    std::fs::create_dir_all(out).map_err(io(out))?;
    let journal_path = out.join("points.jsonl");
    let mut done: BTreeMap<usize, PointResult> = BTreeMap::new();
    if opts.resume {
        if !out.join("sweep.json").exists() && journal_path.exists() {
            return Err(SweepError::Usage(format!(
                "--resume: {} has a journal but no sweep.json: cannot tell which sweep it belongs to",
                out.display()
            )));
        }
        if out.join("sweep.json").exists() {
            let old = read_meta(out)?;
            if old.fingerprint != meta.fingerprint {
                return Err(SweepError::Usage(format!(
                    "--resume: {} holds a different sweep (fingerprint {} vs {}): the sweep file or its scenario changed",
                    out.display(),
                    old.fingerprint,
                    meta.fingerprint
                )));
            }
        }
        for r in read_journal(&journal_path)? {
            check_line(&journal_path, &r, &all)?;
            done.insert(r.id, r);
        }
    }
    write_atomic(out, "sweep.json", serde_json::to_string_pretty(&meta).expect("meta serializes").as_bytes())?;
    // rewrite the journal with its good lines only, then append
    // atomically: a kill here must not lose the points already done
    write_journal(out, &done)?;
    let mine: Vec<&Point> = all.iter().filter(|p| opts.shard.is_none_or(|(i, n)| p.id % n == i)).collect();
    let todo: Vec<&Point> = mine.iter().copied().filter(|p| !done.contains_key(&p.id)).collect();
    let resumed = mine.len() - todo.len();
    let journal = Mutex::new(std::fs::OpenOptions::new().append(true).open(&journal_path).map_err(io(&journal_path))?);
    let finished = AtomicUsize::new(0);
    let failed_n = AtomicUsize::new(0);
    let started = Instant::now();
    let show = opts.progress && std::io::stderr().is_terminal();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.unwrap_or(0))
        .build()
        .map_err(|e| SweepError::Usage(format!("--threads: {e}")))?;
    let write_err: Mutex<Option<SweepError>> = Mutex::new(None);
    let results: Vec<PointResult> = pool.install(|| {
        todo.par_iter()
            .map(|p| {
                let r = run_point(spec, p);
                let line = serde_json::to_string(&r).expect("results serialize");
                {
                    let mut f = journal.lock().expect("journal lock");
                    let mut failed = write_err.lock().expect("error lock");
                    // after a failed write nothing more is appended: no torn line mid-journal
                    if failed.is_none() {
                        if let Err(e) = writeln!(f, "{line}").and_then(|_| f.flush()) {
                            *failed = Some(io(&journal_path)(e));
                        }
                    }
                }
                if r.status == "failed" {
                    failed_n.fetch_add(1, Ordering::Relaxed);
                }
                let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
                if show {
                    progress(n, todo.len(), failed_n.load(Ordering::Relaxed), started);
                }
                r
            })
            .collect()
    });
    if show {
        eprintln!();
    }
    if let Some(e) = write_err.into_inner().expect("error lock") {
        return Err(e);
    }
    let ran = results.len();
    for r in results {
        done.insert(r.id, r);
    }
    let complete = mine.len() == all.len();
    let mut summary = finish(out, &meta, &done, complete)?;
    summary.ran = ran;
    summary.resumed = resumed;
    Ok(summary)
}

fn progress(n: usize, total: usize, failed: usize, started: Instant) {
    let width = 30;
    let filled = (n * width).checked_div(total).unwrap_or(width);
    let el = started.elapsed().as_secs_f64();
    let eta = if n > 0 { el / n as f64 * (total - n) as f64 } else { 0.0 };
    eprint!(
        "\r[{}{}] {n}/{total} points, {failed} failed, {el:.0} s elapsed, ETA {eta:.0} s ",
        "#".repeat(filled),
        " ".repeat(width - filled)
    );
}

/// Joins shard directories into `out`: the same `points.csv` and `frontier.csv` one run would write.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<SweepSummary, SweepError> {
    let Some(first) = dirs.first() else {
        return Err(SweepError::Usage("merge: expected at least one directory".into()));
    };
    let meta = read_meta(first)?;
    let mut done: BTreeMap<usize, PointResult> = BTreeMap::new();
    for d in dirs {
        let m = read_meta(d)?;
        if m != meta {
            return Err(SweepError::Usage(format!(
                "merge: {} holds a different sweep than {} (fingerprint {} vs {})",
                d.display(),
                first.display(),
                m.fingerprint,
                meta.fingerprint
            )));
        }
        for r in read_journal(&d.join("points.jsonl"))? {
            if r.id >= meta.points || r.values.len() != meta.axes.len() {
                return Err(SweepError::Journal {
                    path: d.join("points.jsonl"),
                    msg: format!(
                        "point {} does not belong to this sweep ({} points, {} axes)",
                        r.id,
                        meta.points,
                        meta.axes.len()
                    ),
                });
            }
            done.insert(r.id, r);
        }
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    write_atomic(out, "sweep.json", serde_json::to_string_pretty(&meta).expect("meta serializes").as_bytes())?;
    write_journal(out, &done)?;
    let complete = done.len() == meta.points;
    let mut s = finish(out, &meta, &done, complete)?;
    s.ran = 0;
    s.resumed = done.len();
    if !complete {
        let missing: Vec<usize> = (0..meta.points).filter(|i| !done.contains_key(i)).take(10).collect();
        return Err(SweepError::Usage(format!(
            "merge: {} of {} points are missing (first: {missing:?}); points.csv holds the {} present",
            meta.points - done.len(),
            meta.points,
            done.len()
        )));
    }
    Ok(s)
}

fn csv_value(x: f64) -> String {
    if x.is_nan() {
        String::new()
    } else {
        format!("{x}")
    }
}

fn rows_csv(meta: &SweepMeta, rows: &[&PointResult]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["id".to_string()];
    header.extend(meta.axes.iter().cloned());
    header.extend(["status".to_string(), "error".to_string()]);
    header.extend(METRIC_COLUMNS.iter().map(|s| s.to_string()));
    w.write_record(&header).expect("writing to memory");
    for r in rows {
        let mut rec = vec![r.id.to_string()];
        rec.extend(r.values.iter().cloned());
        rec.push(r.status.clone());
        rec.push(r.error.clone().unwrap_or_default());
        rec.extend(METRIC_COLUMNS.iter().map(|k| r.metrics.get(*k).map_or(String::new(), |x| csv_value(*x))));
        w.write_record(&rec).expect("writing to memory");
    }
    w.into_inner().expect("flushing to memory")
}

/// The frontier's points among `rows`: ok, meeting the sweep's SLA, not dominated.
pub fn frontier_ids(meta: &SweepMeta, rows: &BTreeMap<usize, PointResult>) -> Vec<usize> {
    let ok: Vec<&PointResult> = rows
        .values()
        .filter(|r| r.status == "ok")
        // a point that served nothing has zero latencies and cost: it is no candidate
        .filter(|r| r.metrics.get("completed").is_some_and(|c| *c > 0.0))
        .filter(|r| {
            let sla = meta.sla_ttft_p99_ms.is_some() || meta.sla_tpot_p99_ms.is_some();
            let lost = |k: &str| r.metrics.get(k).copied().unwrap_or(0.0);
            !sla || lost("rejected") + lost("timed_out") == 0.0
        })
        .filter(|r| meta.sla_ttft_p99_ms.is_none_or(|l| r.metrics.get("ttft_p99_ms").is_some_and(|v| *v <= l)))
        .filter(|r| meta.sla_tpot_p99_ms.is_none_or(|l| r.metrics.get("tpot_p99_ms").is_some_and(|v| *v <= l)))
        .collect();
    let objs: Vec<Vec<f64>> = ok
        .iter()
        .map(|r| {
            meta.objectives
                .iter()
                .map(|(m, max)| {
                    let v = r.metrics.get(m).copied().unwrap_or(f64::NAN);
                    if *max {
                        -v
                    } else {
                        v
                    }
                })
                .collect()
        })
        .collect();
    pareto(&objs).into_iter().map(|i| ok[i].id).collect()
}

fn finish(
    out: &Path,
    meta: &SweepMeta,
    done: &BTreeMap<usize, PointResult>,
    complete: bool,
) -> Result<SweepSummary, SweepError> {
    let rows: Vec<&PointResult> = done.values().collect();
    let front = frontier_ids(meta, done);
    let mut front_rows: Vec<&PointResult> = front.iter().map(|i| &done[i]).collect();
    if let Some((m, max)) = meta.objectives.first() {
        let key = |r: &&PointResult| r.metrics.get(m).copied().unwrap_or(f64::NAN);
        front_rows.sort_by(|a, b| {
            let o = key(a).total_cmp(&key(b));
            (if *max { o.reverse() } else { o }).then(a.id.cmp(&b.id))
        });
    }
    let mut files: Vec<(String, Vec<u8>)> =
        vec![("points.csv".into(), rows_csv(meta, &rows)), ("frontier.csv".into(), rows_csv(meta, &front_rows))];
    for (name, chart) in charts(meta, &rows, &front) {
        let enc = |e: plot::PlotError| crate::report::ReportError::Encode { path: out.join(name), msg: e.to_string() };
        files.push((format!("{name}.png"), plot::render_png(&chart, 1000, 700).map_err(enc)?));
        files.push((format!("{name}.svg"), plot::render_svg(&chart, 1000, 700).map_err(enc)?.into_bytes()));
    }
    for (name, bytes) in &files {
        write_atomic(out, name, bytes)?;
    }
    Ok(SweepSummary {
        points: meta.points,
        ran: 0,
        resumed: 0,
        ok: rows.iter().filter(|r| r.status == "ok").count(),
        skipped: rows.iter().filter(|r| r.status == "skipped").count(),
        failed: rows
            .iter()
            .filter(|r| r.status == "failed")
            .map(|r| (r.id, r.error.clone().unwrap_or_default()))
            .collect(),
        frontier: front.len(),
        complete,
    })
}

/// The frontier over the first two objectives, and aiconfigurator's tokens/s/GPU vs tokens/s/user.
fn charts(meta: &SweepMeta, rows: &[&PointResult], front: &[usize]) -> Vec<(&'static str, plot::Chart)> {
    let ok: Vec<&&PointResult> = rows.iter().filter(|r| r.status == "ok").collect();
    let get = |r: &PointResult, m: &str| r.metrics.get(m).copied().unwrap_or(f64::NAN);
    let scatter = |xm: &str, ym: &str, title: String| {
        let all: Vec<(f64, f64)> =
            ok.iter().map(|r| (get(r, xm), get(r, ym))).filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        let mut fr: Vec<(f64, f64)> = ok
            .iter()
            .filter(|r| front.contains(&r.id))
            .map(|r| (get(r, xm), get(r, ym)))
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        fr.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        plot::Chart {
            title,
            x_label: xm.to_string(),
            y_label: ym.to_string(),
            series: vec![
                plot::Series::new("points", all, plot::SeriesStyle::Points),
                plot::Series::new("frontier", fr, plot::SeriesStyle::Line),
            ],
            ..plot::Chart::default()
        }
    };
    let mut out = Vec::new();
    if meta.objectives.len() >= 2 {
        let (x, y) = (&meta.objectives[0].0, &meta.objectives[1].0);
        out.push(("frontier", scatter(x, y, format!("{}: Pareto frontier ({})", meta.name, objective_names(meta)))));
    }
    out.push((
        "throughput",
        scatter(
            "output_tok_s_per_user",
            "output_tok_s_per_gpu",
            format!("{}: tokens/s/GPU vs tokens/s/user", meta.name),
        ),
    ));
    out
}

fn objective_names(meta: &SweepMeta) -> String {
    meta.objectives
        .iter()
        .map(|(m, max)| if *max { format!("max {m}") } else { format!("min {m}") })
        .collect::<Vec<_>>()
        .join(", ")
}
