//! Turning metrics into what people and tools read: the summary object (`summary.json`, `--json`),
//! the human table, `requests.csv` and `timeseries.csv`. Files are written whole or not at all.

pub mod compare;
pub mod plot;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use crate::analysis::{PoolStats, Summary, WorkloadStats};
use crate::metrics::{RequestRecord, ScaleEvent, TimeseriesRow};

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("{path}: cannot write: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: cannot encode: {msg}")]
    Encode { path: PathBuf, msg: String },
}

impl Summary {
    /// Puts each alert rule's outcome in `alerts[]`: name, expression, `for`, whether it fired and
    /// its firing intervals (simulated seconds).
    pub fn set_alerts(&mut self, reports: &[crate::promql::AlertReport]) {
        self.alerts = reports.iter().map(|r| serde_json::to_value(r).expect("an alert report serializes")).collect();
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
