//! The plan's outputs: `report.md`, `report.html`, the frontier plot, and the chosen deployment as
//! a scenario file `pdsim run` reads back.

use std::fmt::Write as _;
use std::path::Path;

use super::{rule_of_thumb_prefill_share, Candidate, PlanOptions, PlanResult, PATTERN_RATIOS};
use crate::input::Scenario;
use crate::report::{plot, write_atomic, ReportError};
use crate::spec::deployment::{Mode, Topology};

/// `--set` keys the written deployment itself fixes (they must not be repeated when running it).
fn is_deployment_key(k: &str) -> bool {
    ["prefill.", "decode.", "aggregated.", "kvTransfer."].iter().any(|p| k.starts_with(p))
        || ["mode", "backend", "router.policy", "requests", "duration"].contains(&k)
}

/// The `--set` arguments to repeat when running the written plan (the load's, not the deployment's).
pub fn rerun_sets(sets: &[String]) -> Vec<String> {
    sets.iter().filter(|s| !is_deployment_key(s.split('=').next().unwrap_or("").trim())).cloned().collect()
}

fn router_name(p: crate::spec::deployment::RouterPolicy) -> &'static str {
    use crate::spec::deployment::RouterPolicy::*;
    match p {
        RoundRobin => "round_robin",
        LeastLoaded => "least_loaded",
        KvAware => "kv_aware",
    }
}

/// The top-level key of a line (`mode` of `mode: x  # y`), or `None` for indented or blank lines.
fn top_key(line: &str) -> Option<&str> {
    if line.starts_with(' ') || line.starts_with('#') {
        return None;
    }
    line.split_once(':').map(|(k, _)| k.trim())
}

/// The chosen deployment as YAML: the base scenario's `kind: Scenario` document (its mode, backend,
/// inline pool and run length replaced by the plan's, relative paths made absolute) followed by a
/// `DynamoGraphDeploymentRequest` of the planned pools.
pub fn deployment_yaml(base: &Scenario, planned: &Scenario, sets: &[String]) -> String {
    let c = &planned.cluster;
    let mut o = String::new();
    let _ = writeln!(o, "# Written by `pdsim plan`: the cheapest deployment found that meets the SLA.");
    let args: String = rerun_sets(sets).iter().map(|s| format!(" --set {s}")).collect();
    let _ = writeln!(o, "#   pdsim run THIS_FILE{args}");
    let (doc, dir) = scenario_document(base).unwrap_or_else(|| ("kind: Scenario\n".to_string(), None));
    let mut skip_block = false;
    let mut has_model = false;
    for line in doc.lines() {
        if skip_block {
            if line.starts_with(' ') || line.trim().is_empty() {
                continue;
            }
            skip_block = false;
        }
        match top_key(line) {
            // written below from the plan
            Some("mode" | "backend" | "requests" | "duration") => continue,
            Some("aggregated") => {
                skip_block = true;
                continue;
            }
            Some("model") => has_model = true,
            _ => {}
        }
        let _ = writeln!(o, "{}", absolute_paths(line, dir.as_deref()));
    }
    if !has_model {
        if let Some(m) = deployment_model(base) {
            let _ = writeln!(o, "model: {m}");
        }
    }
    let _ = writeln!(o, "mode: {}", c.mode().name());
    let _ = writeln!(o, "backend: {}", c.backend.name());
    // a DGDR component has no key for it: the Scenario's inline pool carries it
    if c.topology.aggregated().is_some_and(|a| a.enable_chunked_context) {
        let _ = writeln!(o, "aggregated: {{enableChunkedContext: true}}");
    }
    let lim = |v: Option<u64>| v.map_or("none".to_string(), |x| x.to_string());
    let _ = writeln!(o, "requests: {}", lim(planned.limits.requests));
    let _ = writeln!(
        o,
        "duration: {}",
        planned.limits.duration_ns.map_or("none".to_string(), |ns| format!("{}ms", ns / 1_000_000))
    );
    let _ = writeln!(o, "---");
    let _ = writeln!(o, "apiVersion: nvidia.com/v1alpha1");
    let _ = writeln!(o, "kind: DynamoGraphDeploymentRequest");
    let _ = writeln!(o, "metadata:\n  name: {}-plan", base.name);
    let _ = writeln!(o, "spec:\n  backend: {}\n  components:", c.backend.name());
    let _ = writeln!(
        o,
        "    frontend:\n      replicas: 1\n      config:\n        maxConcurrentRequests: {}\n        requestTimeoutMs: {}\n        \
         routerPolicy: {}",
        c.frontend.max_concurrent_requests,
        c.frontend.request_timeout_ns / 1_000_000,
        router_name(c.router)
    );
    match &c.topology {
        Topology::Disaggregated { prefill: p, decode: d, kv_transfer: k } => {
            let _ = writeln!(
                o,
                "    prefill:\n      replicas: {}\n      resources: {{gpu: {}}}\n      config:\n        tensorParallelSize: {}\n        \
                 maxBatchSize: {}\n        maxBatchTokens: {}\n        maxInputLength: {}",
                p.replicas, p.parallelism.gpus(), p.parallelism.tp, p.max_batch_size, p.max_batch_tokens, p.max_input_length
            );
            let _ = writeln!(
                o,
                "    decode:\n      replicas: {}\n      resources: {{gpu: {}}}\n      config:\n        tensorParallelSize: {}\n        \
                 maxBatchSize: {}\n        maxOutputLength: {}\n        kvCacheMemoryFraction: {}",
                d.replicas, d.parallelism.gpus(), d.parallelism.tp, d.max_batch_size, d.max_output_length, d.kv_cache_memory_fraction
            );
            let _ = writeln!(
                o,
                "    kvTransfer:\n      backend: {}\n      compression: {}\n      maxInFlightTransfers: {}\n      blockSizeKB: {}",
                k.backend.name(),
                k.compression.name(),
                k.max_in_flight_transfers,
                c.kv_block_size_bytes / 1024
            );
        }
        Topology::Aggregated(a) => {
            let _ = writeln!(
                o,
                "    aggregated:\n      replicas: {}\n      resources: {{gpu: {}}}\n      config:\n        tensorParallelSize: {}\n        \
                 maxBatchSize: {}\n        maxBatchTokens: {}\n        maxInputLength: {}\n        maxOutputLength: {}\n        \
                 kvCacheMemoryFraction: {}",
                a.replicas,
                a.parallelism.gpus(),
                a.parallelism.tp,
                a.max_batch_size,
                a.max_batch_tokens,
                a.max_input_length,
                a.max_output_length,
                a.kv_cache_memory_fraction
            );
        }
    }
    o
}

/// The text of the base scenario's `kind: Scenario` document, read back from its file, and that
/// file's directory.
fn scenario_document(base: &Scenario) -> Option<(String, Option<std::path::PathBuf>)> {
    for f in &base.sources {
        let text = std::fs::read_to_string(f).ok()?;
        let dir =
            f.parent().map(|d| if d.as_os_str().is_empty() { Path::new(".").to_path_buf() } else { d.to_path_buf() });
        let mut doc = String::new();
        for line in text.lines().chain(std::iter::once("---")) {
            if line.trim_end() == "---" {
                if doc.lines().any(|l| l.split('#').next().unwrap_or("").trim() == "kind: Scenario") {
                    return Some((doc, dir));
                }
                doc.clear();
            } else {
                doc.push_str(line);
                doc.push('\n');
            }
        }
    }
    None
}

/// Whether two clusters run the same: the pools of their mode (the other mode's settings are unused).
fn same_deployment(a: &crate::spec::deployment::ClusterConfig, b: &crate::spec::deployment::ClusterConfig) -> bool {
    let common = a.backend == b.backend
        && a.frontend == b.frontend
        && a.router == b.router
        && a.kv_router == b.kv_router
        && a.prefix_cache == b.prefix_cache;
    // the block size only feeds the KV metrics when nothing moves between pools
    common
        && a.topology == b.topology
        && (a.mode() == Mode::Aggregated || a.kv_block_size_bytes == b.kv_block_size_bytes)
}

/// A relative path value of `trace:`, `model:` or `hardware:` made absolute against `dir` (the base
/// scenario file's directory), so the plan runs from wherever it is written.
fn absolute_paths(line: &str, dir: Option<&Path>) -> String {
    let Some(dir) = dir else { return line.to_string() };
    let t = line.trim_start();
    for key in ["trace:", "model:", "hardware:"] {
        if let Some(v) = t.strip_prefix(key) {
            let v = v.split(" #").next().unwrap_or("").trim().trim_matches(|c| c == '"' || c == '\'');
            let p = dir.join(v);
            if !v.is_empty() && !Path::new(v).is_absolute() && p.exists() {
                let abs = p.canonicalize().unwrap_or(p);
                let indent = &line[..line.len() - t.len()];
                return format!("{indent}{key} {}", abs.display());
            }
        }
    }
    line.to_string()
}

/// The deployment document's `spec.model`, read back from the base scenario's files.
fn deployment_model(base: &Scenario) -> Option<String> {
    for f in &base.sources {
        let text = std::fs::read_to_string(f).ok()?;
        for doc in text.split("\n---") {
            if doc.lines().any(|l| l.split('#').next().unwrap_or("").trim() == "kind: DynamoGraphDeploymentRequest") {
                if let Some(m) = doc.lines().find_map(|l| l.strip_prefix("  model:")) {
                    return Some(m.split(" #").next().unwrap_or("").trim().to_string());
                }
            }
        }
    }
    None
}

fn row(c: &Candidate) -> String {
    let s = &c.summary;
    format!(
        "| {} | {} | {:.0} | {:.1} | {:.0} | {:.2} | {} |",
        c.label(),
        c.gpus,
        s.ttft_ms.p99,
        s.tpot_ms.p99,
        s.throughput.output_tok_s,
        s.cost.usd_per_1m_output_tok,
        if c.meets { "yes" } else { "no" }
    )
}

const HEADER: &str = "| deployment | GPUs | TTFT P99 ms | TPOT P99 ms | output tok/s | $/1M tok | meets SLA |\n|---|---|---|---|---|---|---|";

/// `report.md`.
pub fn markdown(base: &Scenario, opts: &PlanOptions, r: &PlanResult) -> String {
    let mut o = String::new();
    let sla = opts.sla;
    let _ = writeln!(o, "# Capacity plan: {}\n", base.name);
    let _ = writeln!(
        o,
        "SLA: TTFT P99 <= {} ms, TPOT P99 <= {} ms, every request completed{}. Load: the scenario's workload \
         ({}). {} shapes searched, {} simulated runs.\n",
        sla.ttft_p99_ms,
        sla.tpot_p99_ms,
        opts.max_gpus.map_or(String::new(), |g| format!(", at most {g} GPUs")),
        base.model.name,
        r.shapes,
        r.runs
    );
    let Some(c) = &r.chosen else {
        let _ = writeln!(o, "**No deployment meets the SLA** within the search space. The closest:\n\n{HEADER}");
        for c in r.evaluated.iter().take(5) {
            let _ = writeln!(o, "{}", row(c));
        }
        return o;
    };
    let _ = writeln!(o, "## Chosen\n\n{HEADER}\n{}\n", row(c));
    if !r.runners_up.is_empty() {
        let _ = writeln!(o, "## Runners-up\n\n{HEADER}");
        for x in &r.runners_up {
            let _ = writeln!(o, "{}", row(x));
        }
        let _ = writeln!(o);
    }
    if let Some(b) = r.bottleneck {
        let _ = writeln!(
            o,
            "Bottleneck: the **{b}** pool (one more replica there improves the binding SLA metric most).\n"
        );
    }
    let _ = writeln!(o, "## Levers (each simulated from the chosen deployment)\n");
    let _ =
        writeln!(o, "| lever | GPUs | TTFT P99 ms | TPOT P99 ms | $/1M tok | meets SLA |\n|---|---|---|---|---|---|");
    for l in &r.levers {
        let _ = writeln!(
            o,
            "| {} | {} | {:.0} | {:.1} | {:.2} | {} |",
            l.name,
            l.gpus,
            l.summary.ttft_ms.p99,
            l.summary.tpot_ms.p99,
            l.summary.cost.usd_per_1m_output_tok,
            if l.meets { "yes" } else { "no" }
        );
    }
    if c.shape.mode == Mode::Disaggregated {
        let pg = c.prefill_replicas * c.shape.prefill_tp;
        let dg = c.decode_replicas * c.shape.decode_tp;
        let share = rule_of_thumb_prefill_share(&c.summary);
        let _ = writeln!(
            o,
            "\n## Against the guide's rules of thumb\n\nPlanned: {pg} prefill : {dg} decode GPUs ({:.0}% prefill). \
             The rule of thumb `prefill GPUs = total x input / (input + output)` gives {:.0}% prefill for this \
             traffic ({:.0} input and {:.0} output tokens/s), i.e. {:.1} of {} GPUs. The pattern table's ratios:",
            100.0 * pg as f64 / (pg + dg) as f64,
            100.0 * share,
            c.summary.throughput.input_tok_s,
            c.summary.throughput.output_tok_s,
            share * (pg + dg) as f64,
            pg + dg
        );
        for (name, p, d) in PATTERN_RATIOS {
            let _ = writeln!(o, "- {name} {p}:{d} ({:.0}% prefill)", 100.0 * *p as f64 / (*p + *d) as f64);
        }
        let _ = writeln!(
            o,
            "\nThe rules count tokens; the pools' costs per token differ (prefill is compute-bound, decode \
             memory-bound), so the simulated optimum can sit far from them."
        );
    }
    o
}

/// `report.html`: the Markdown tables as HTML, with the frontier plot inline.
pub fn html(md: &str, svg: &str) -> String {
    let mut o = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pdsim plan</title>\n<style>body{font-family:sans-serif;\
         max-width:1100px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}\
         </style></head><body>\n",
    );
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut in_table = false;
    for line in md.lines() {
        if line.starts_with('|') {
            if line.starts_with("|---") {
                continue;
            }
            let cells: Vec<String> =
                line.trim_matches('|').split('|').map(|c| format!("<td>{}</td>", esc(c.trim()))).collect();
            if !in_table {
                o.push_str("<table>\n");
                in_table = true;
            }
            let _ = writeln!(o, "<tr>{}</tr>", cells.join(""));
            continue;
        }
        if in_table {
            o.push_str("</table>\n");
            in_table = false;
        }
        if let Some(h) = line.strip_prefix("## ") {
            let _ = writeln!(o, "<h2>{}</h2>", esc(h));
        } else if let Some(h) = line.strip_prefix("# ") {
            let _ = writeln!(o, "<h1>{}</h1>", esc(h));
        } else if let Some(item) = line.strip_prefix("- ") {
            let _ = writeln!(o, "<p>&bull; {}</p>", esc(item));
        } else if !line.trim().is_empty() {
            let _ = writeln!(o, "<p>{}</p>", esc(line).replace("**", ""));
        }
    }
    if in_table {
        o.push_str("</table>\n");
    }
    let _ = writeln!(o, "<h2>Frontier</h2>\n{svg}\n</body></html>");
    o
}

/// GPUs against TTFT P99 of every shape's final candidate; the feasible ones and the chosen one marked.
pub fn frontier_chart(name: &str, r: &PlanResult) -> plot::Chart {
    let pts = |f: &dyn Fn(&Candidate) -> bool| -> Vec<(f64, f64)> {
        r.evaluated.iter().filter(|c| f(c)).map(|c| (c.gpus as f64, c.summary.ttft_ms.p99)).collect()
    };
    let mut series = vec![
        plot::Series::new("meets the SLA", pts(&|c| c.meets), plot::SeriesStyle::Points),
        plot::Series::new("misses it", pts(&|c| !c.meets), plot::SeriesStyle::Points),
    ];
    if let Some(c) = &r.chosen {
        series.push(plot::Series::new(
            "chosen",
            vec![(c.gpus as f64, c.summary.ttft_ms.p99)],
            plot::SeriesStyle::Points,
        ));
    }
    plot::Chart {
        title: format!("{name}: plan candidates (one per shape)"),
        x_label: "GPUs".into(),
        y_label: "TTFT P99 (ms)".into(),
        series,
        ..plot::Chart::default()
    }
}

/// Writes report.md, report.html, frontier.png/svg and plan.yaml (when a plan was found).
pub fn write(dir: &Path, base: &Scenario, opts: &PlanOptions, r: &PlanResult) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })?;
    let md = markdown(base, opts, r);
    let chart = frontier_chart(&base.name, r);
    let enc = |e: plot::PlotError| ReportError::Encode { path: dir.join("frontier"), msg: e.to_string() };
    let svg = plot::render_svg(&chart, 900, 600).map_err(enc)?;
    let png = plot::render_png(&chart, 900, 600).map_err(enc)?;
    let mut files = vec![
        ("report.md", md.clone().into_bytes()),
        ("report.html", html(&md, &svg).into_bytes()),
        ("frontier.svg", svg.into_bytes()),
        ("frontier.png", png),
    ];
    if let Some(c) = &r.chosen {
        if let Some(planned) = super::configure(base, c.shape, c.prefill_replicas, c.decode_replicas) {
            let yaml = deployment_yaml(base, &planned, &opts.sets);
            // the file must give back the very deployment and load planned, or it is not written
            let tmp = dir.join(".plan.check.yaml");
            std::fs::write(&tmp, &yaml).map_err(|source| ReportError::Io { path: tmp.clone(), source })?;
            let back = crate::input::load(std::slice::from_ref(&tmp), &rerun_sets(&opts.sets));
            let _ = std::fs::remove_file(&tmp);
            match back {
                Ok(b)
                    if same_deployment(&b.cluster, &planned.cluster)
                        && b.workload == planned.workload
                        && b.limits == planned.limits =>
                {
                    files.push(("plan.yaml", yaml.into_bytes()));
                }
                Ok(b) => {
                    let what = if !same_deployment(&b.cluster, &planned.cluster) {
                        format!("cluster {:?} vs planned {:?}", b.cluster, planned.cluster)
                    } else if b.workload != planned.workload {
                        "workload".to_string()
                    } else {
                        format!("run length {:?} vs planned {:?}", b.limits, planned.limits)
                    };
                    return Err(ReportError::Encode {
                        path: dir.join("plan.yaml"),
                        msg: format!("the written deployment does not reproduce the planned one: {what}"),
                    });
                }
                Err(e) => {
                    return Err(ReportError::Encode {
                        path: dir.join("plan.yaml"),
                        msg: format!("reading it back: {e}"),
                    })
                }
            }
        }
    }
    for (name, bytes) in files {
        write_atomic(dir, name, &bytes)?;
    }
    Ok(())
}
