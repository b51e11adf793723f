//! Turning metrics into what people and tools read: the summary object (`summary.json`, `--json`),
//! the human table, `requests.csv` and `timeseries.csv`. Files are written whole or not at all.

pub mod compare;
pub mod plot;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use crate::cluster::config::Mode;
use crate::cluster::sim::SlaTargets;
use crate::metrics::{LatencyStats, RequestRecord, RunMetrics, ScaleEvent, TimeseriesRow};
use crate::scenario::Scenario;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("{path}: cannot write: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: cannot encode: {msg}")]
    Encode { path: PathBuf, msg: String },
}

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
        let disagg = s.cluster.mode == Mode::Disaggregated;
        Summary {
            scenario: s.name.clone(),
            model: s.model.name.clone(),
            mode: if disagg { "disaggregated" } else { "aggregated" },
            backend: s.cluster.backend.name(),
            kv_transfer_backend: if disagg { s.cluster.kv_transfer.backend.name() } else { "none" },
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
                prefill: disagg.then(|| PoolStats {
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
    /// Puts each alert rule's outcome in `alerts[]`: name, expression, `for`, whether it fired and
    /// its firing intervals (simulated seconds).
    pub fn set_alerts(&mut self, reports: &[crate::metrics::alerts::AlertReport]) {
        self.alerts = reports.iter().map(|r| serde_json::to_value(r).expect("an alert report serializes")).collect();
    }

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

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("summary serializes: plain numbers and strings") + "\n"
    }

    /// The human table `pdsim run` prints.
    pub fn to_table(&self) -> String {
        let mut o = String::new();
        let r = &self.requests;
        let _ = writeln!(
            o,
            "scenario  {}  ({}, {} GPUs, {}, {}, kv {})",
            self.scenario, self.model, self.gpus, self.mode, self.backend, self.kv_transfer_backend
        );
        let _ = writeln!(
            o,
            "requests  {} arrived, {} completed, {} rejected, {} timed out",
            r.arrived, r.completed, r.rejected, r.timed_out
        );
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{:<18} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "latency (ms)", "mean", "p50", "p90", "p99", "max"
        );
        for (name, s) in [
            ("TTFT", &self.ttft_ms),
            ("TPOT", &self.tpot_ms),
            ("ITL", &self.itl_ms),
            ("E2E", &self.e2e_ms),
            ("KV transfer", &self.kv_transfer_ms),
            ("prefill queue", &self.prefill_queue_ms),
            ("decode queue", &self.decode_queue_ms),
        ] {
            let _ = writeln!(
                o,
                "{:<18} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
                name, s.mean, s.p50, s.p90, s.p99, s.max
            );
        }
        let _ = writeln!(o);
        let t = &self.throughput;
        let _ = writeln!(
            o,
            "throughput  {:.0} output tok/s, {:.0} input tok/s, {:.2} req/s",
            t.output_tok_s, t.input_tok_s, t.requests_s
        );
        let mut pools = String::new();
        let size = |p: &PoolStats| {
            if p.replicas_max as f64 * p.tp as f64 == p.gpus as f64 && p.replicas_max as f64 == p.replicas_mean {
                format!("{} GPUs", p.gpus)
            } else {
                format!("{:.2} x{} replicas mean, {} max", p.replicas_mean, p.tp, p.replicas_max)
            }
        };
        if let Some(p) = &self.pools.prefill {
            let _ = write!(pools, "prefill {} {:.0}%, ", size(p), p.utilization * 100.0);
        }
        let d = &self.pools.decode;
        let _ = write!(
            pools,
            "{} {} {:.0}%",
            if self.pools.prefill.is_some() { "decode" } else { "workers" },
            size(d),
            d.utilization * 100.0
        );
        let _ = writeln!(o, "GPU busy    {:.0}% ({pools})", self.gpu_utilization() * 100.0);
        let k = &self.kv_cache;
        let _ = writeln!(
            o,
            "KV cache    peak {:.0}% of {} tokens per worker, {} preemptions",
            k.peak_usage * 100.0,
            k.capacity_tok_per_worker,
            k.preemptions
        );
        let c = &self.cost;
        let _ = writeln!(
            o,
            "cost        ${:.2} per 1M output tokens ({:.2} GPU-hours at ${:.2})",
            c.usd_per_1m_output_tok, c.gpu_hours, c.usd_per_gpu_hour
        );
        if self.sla.ttft_ms.is_some() || self.sla.tpot_ms.is_some() {
            let _ = writeln!(
                o,
                "SLA         {:.1}% attainment, goodput {:.2} req/s",
                self.sla.attainment * 100.0,
                self.sla.goodput_req_s
            );
        }
        for a in &self.alerts {
            let name = a["name"].as_str().unwrap_or("?");
            let firing = a["firing"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            if firing.is_empty() {
                let _ = writeln!(o, "alert       {name}: did not fire");
            } else {
                let spans: Vec<String> = firing
                    .iter()
                    .map(|f| format!("{:.0}-{:.0} s", f[0].as_f64().unwrap_or(0.0), f[1].as_f64().unwrap_or(0.0)))
                    .collect();
                let _ = writeln!(o, "alert       {name}: FIRED {}x ({})", firing.len(), spans.join(", "));
            }
        }
        let _ = writeln!(o, "simulated   {:.1} s, {} events", self.sim.simulated_s, self.sim.events);
        o
    }
}

fn ms(ns: Option<u64>, from: u64) -> String {
    ns.map(|t| format!("{:.3}", (t - from) as f64 / 1e6)).unwrap_or_default()
}

fn opt<T: ToString>(x: Option<T>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

/// `requests.csv`: one row per request, raw ns timestamps plus the derived latencies in ms.
pub fn requests_csv(records: &[RequestRecord]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "id",
        "outcome",
        "arrival_ns",
        "input_tok",
        "output_tok",
        "prefill_start_ns",
        "prefill_end_ns",
        "kv_transfer_start_ns",
        "kv_transfer_end_ns",
        "first_token_ns",
        "end_ns",
        "prefill_worker",
        "decode_worker",
        "preemptions",
        "ttft_ms",
        "tpot_ms",
        "e2e_ms",
        "kv_transfer_ms",
    ]);
    let mut sorted: Vec<&RequestRecord> = records.iter().collect();
    sorted.sort_by_key(|r| r.id);
    for r in sorted {
        let tpot = match (r.first_token_ns, r.outcome) {
            (Some(f), crate::metrics::Outcome::Completed) if r.output_tok > 1 => {
                format!("{:.3}", (r.end_ns - f) as f64 / (r.output_tok - 1) as f64 / 1e6)
            }
            _ => String::new(),
        };
        let xfer = match (r.kv_transfer_start_ns, r.kv_transfer_end_ns) {
            (Some(a), Some(b)) => format!("{:.3}", (b - a) as f64 / 1e6),
            _ => String::new(),
        };
        let _ = w.write_record([
            r.id.to_string(),
            r.outcome.name().to_string(),
            r.arrival_ns.to_string(),
            r.input_tok.to_string(),
            r.output_tok.to_string(),
            opt(r.prefill_start_ns),
            opt(r.prefill_end_ns),
            opt(r.kv_transfer_start_ns),
            opt(r.kv_transfer_end_ns),
            opt(r.first_token_ns),
            r.end_ns.to_string(),
            opt(r.prefill_worker),
            opt(r.decode_worker),
            r.preemptions.to_string(),
            ms(r.first_token_ns, r.arrival_ns),
            tpot,
            format!("{:.3}", (r.end_ns - r.arrival_ns) as f64 / 1e6),
            xfer,
        ]);
    }
    w.into_inner().unwrap_or_default()
}

/// `timeseries.csv`: one row per sample of the simulated clock.
pub fn timeseries_csv(rows: &[TimeseriesRow]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        let _ = w.serialize(r);
    }
    if rows.is_empty() {
        let _ = w.write_record(["time_s"]);
    }
    w.into_inner().unwrap_or_default()
}

/// Writes `name` under `dir` atomically: to a temporary file first, renamed into place, so a reader
/// never sees half a file.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), ReportError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let io = |source| ReportError::Io { path: path.clone(), source };
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(())
}

/// Writes `summary.json`, `requests.csv` and `timeseries.csv` under `dir` (created if needed).
pub fn write_run_outputs(
    dir: &Path,
    summary: &Summary,
    records: &[RequestRecord],
    series: &[TimeseriesRow],
    scale_events: &[ScaleEvent],
) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })?;
    // encode everything before writing anything
    let mut files = vec![
        ("summary.json".to_string(), summary.to_json().into_bytes()),
        ("requests.csv".to_string(), requests_csv(records)),
        ("timeseries.csv".to_string(), timeseries_csv(series)),
        ("scale_events.csv".to_string(), scale_events_csv(scale_events)),
    ];
    for (name, chart) in timeseries_charts(&summary.scenario, series) {
        let encode = |e: plot::PlotError| ReportError::Encode { path: dir.join(name), msg: e.to_string() };
        files.push((format!("{name}.png"), plot::render_png(&chart, 1000, 600).map_err(encode)?));
        files.push((format!("{name}.svg"), plot::render_svg(&chart, 1000, 600).map_err(encode)?.into_bytes()));
    }
    for (name, bytes) in &files {
        write_atomic(dir, name, bytes)?;
    }
    Ok(())
}

/// Time-series plots of a run: queues and batches (requests), and utilisation, KV use and prefix
/// hits (shares of 1).
pub fn timeseries_charts(scenario: &str, rows: &[TimeseriesRow]) -> Vec<(&'static str, plot::Chart)> {
    // long runs are drawn as means over at most ~1000 bins of consecutive samples: a day of 1 s
    // samples is noise at plot resolution
    let bin = rows.len().div_ceil(1000).max(1);
    let line = |label: &str, f: &dyn Fn(&TimeseriesRow) -> f64| {
        let points = rows
            .chunks(bin)
            .map(|c| {
                let t = c.last().map_or(0.0, |r| r.time_s);
                (t, c.iter().map(f).sum::<f64>() / c.len() as f64)
            })
            .collect();
        plot::Series::new(label, points, plot::SeriesStyle::Line)
    };
    let queues = plot::Chart {
        title: format!("{scenario}: requests in the system"),
        x_label: "simulated time (s)".into(),
        y_label: "requests".into(),
        series: vec![
            line("in flight", &|r| r.in_flight_requests as f64),
            line("prefill queue", &|r| r.prefill_queue_depth as f64),
            line("waiting for decode", &|r| r.decode_waiting as f64),
            line("decode batch", &|r| r.decode_batch_size as f64),
        ],
        ..plot::Chart::default()
    };
    let shares = plot::Chart {
        title: format!("{scenario}: utilisation, KV cache and prefix hits"),
        x_label: "simulated time (s)".into(),
        y_label: "share".into(),
        series: vec![
            line("prefill busy", &|r| r.prefill_utilization),
            line("decode busy", &|r| r.decode_utilization),
            line("KV cache used", &|r| {
                if r.kv_cache_capacity_bytes > 0 {
                    r.kv_cache_usage_bytes as f64 / r.kv_cache_capacity_bytes as f64
                } else {
                    0.0
                }
            }),
            line("prefix hit ratio", &|r| r.prefix_hit_ratio),
        ],
        ..plot::Chart::default()
    };
    let replicas = plot::Chart {
        title: format!("{scenario}: replicas (autoscaler target, starting, serving) and arrivals"),
        x_label: "simulated time (s)".into(),
        y_label: "replicas / arrivals per s".into(),
        series: vec![
            line("prefill target", &|r| r.prefill_replicas_desired as f64),
            line("prefill starting", &|r| r.prefill_replicas_starting as f64),
            line("prefill serving", &|r| r.prefill_replicas_serving as f64),
            line("decode target", &|r| r.decode_replicas_desired as f64),
            line("decode starting", &|r| r.decode_replicas_starting as f64),
            line("decode serving", &|r| r.decode_replicas_serving as f64),
            line("arrivals/s", &|r| r.arrival_rate_s),
        ],
        ..plot::Chart::default()
    };
    let latency = plot::Chart {
        title: format!("{scenario}: P99 TTFT and TPOT per interval, mean KV transfer"),
        x_label: "simulated time (s)".into(),
        y_label: "ms".into(),
        series: vec![
            line("TTFT P99", &|r| r.ttft_p99_ms),
            line("TPOT P99", &|r| r.tpot_p99_ms),
            line("KV transfer mean", &|r| r.kv_transfer_ms),
        ],
        ..plot::Chart::default()
    };
    vec![
        ("timeseries_requests", queues),
        ("timeseries_shares", shares),
        ("timeseries_replicas", replicas),
        ("timeseries_latency", latency),
    ]
}

/// `scale_events.csv`: every replica-count change the autoscaler made.
pub fn scale_events_csv(events: &[ScaleEvent]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for e in events {
        w.serialize(e).expect("serializing plain rows to memory cannot fail");
    }
    if events.is_empty() {
        w.write_record(["time_s", "pool", "from", "to", "reason"]).expect("writing to memory cannot fail");
    }
    w.into_inner().expect("flushing to memory cannot fail")
}
