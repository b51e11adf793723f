//! The command line (DESIGN.md §4): the only place that prints for humans or decides exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use pdsim::input as scenario;
use pdsim::perf::step::{StepShape, WorkerCost};
use pdsim::report::write_run_outputs;
use pdsim::runner::{run, RunOptions};
use pdsim::spec::deployment::{Backend, Parallelism};
use pdsim::spec::hardware::HardwareProfile;
use pdsim::spec::model::{Dtype, ModelSpec};

#[derive(Parser)]
#[command(name = "pdsim", version, about = "Simulate disaggregated prefill/decode LLM serving clusters")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate one scenario and print its summary.
    #[command(after_long_help = pdsim::input::settings_help())]
    Run(RunArgs),
    /// Time one prefill batch or decode step and show where the time goes.
    Cost(CostArgs),
    /// Fit the cost model to microbenchmark data and write a calibrated profile.
    Calibrate(CalibrateArgs),
    /// Simulate measured deployments (aiconfigurator silicon_sample.csv) and report the error.
    Validate(ValidateArgs),
    /// Run many variants of a scenario (a sweep file) in parallel and find their Pareto frontier.
    #[command(after_long_help = pdsim::input::settings_help())]
    Sweep(SweepArgs),
    /// Join the output directories of sweep shards into one result.
    Merge(MergeArgs),
    /// Run two scenarios on the same traffic and print the guide's "default vs tuned" table.
    Compare(CompareArgs),
    /// Find the cheapest deployment that meets an SLA at a scenario's load.
    Plan(PlanArgs),
    /// Re-run a baseline's scenarios and fail (exit 1) when a metric regressed beyond tolerance.
    Check(CheckArgs),
}

#[derive(Args)]
struct CheckArgs {
    /// Baseline directory holding baseline.json.
    #[arg(long)]
    baseline: PathBuf,
    /// Tolerance in % for every metric (default: the baseline's, else 2).
    #[arg(long)]
    tolerance: Option<f64>,
    /// Record the current metrics as the new baseline instead of checking.
    #[arg(long)]
    update: bool,
}

#[derive(Args)]
struct PlanArgs {
    /// Scenario files (joined into one scenario, as for `run`).
    #[arg(required = true)]
    scenario: Vec<PathBuf>,
    /// The SLA, e.g. `ttft_p99_ms=500,tpot_p99_ms=30`.
    #[arg(long)]
    sla: String,
    /// Most GPUs the deployment may use.
    #[arg(long)]
    max_gpus: Option<u32>,
    /// Backends to consider: the scenario's (default), or a comma list, or `all`.
    #[arg(long)]
    backends: Option<String>,
    /// Override a setting (DESIGN.md §4 keys) before planning.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Write report.md, report.html, frontier.png/svg and plan.yaml here.
    #[arg(long, default_value = "out/plan")]
    out: PathBuf,
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
struct CompareArgs {
    /// Scenario A (the baseline): one file, or several joined with commas.
    a: String,
    /// Scenario B.
    b: String,
    /// Override a setting in both runs (DESIGN.md §4 keys).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Write compare.md, compare.json and both runs' summary JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the comparison as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SweepArgs {
    /// The sweep file (`kind: Sweep`).
    sweep: PathBuf,
    /// Output directory: sweep.json, points.jsonl (journal), points.csv, frontier.csv, plots.
    #[arg(long, default_value = "out/sweep")]
    out: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Run only shard I of N (points whose index is I modulo N), e.g. `--shard 0/4`.
    #[arg(long)]
    shard: Option<String>,
    /// Keep the points already in OUT's journal and run only the rest.
    #[arg(long)]
    resume: bool,
}

#[derive(Args)]
struct MergeArgs {
    /// Shard output directories.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct ValidateArgs {
    /// aiconfigurator-style silicon_sample.csv with measured TTFT and TPOT.
    #[arg(long)]
    silicon: PathBuf,
    /// Hardware profile: h100-sxm, h200-sxm or b200-sxm (committed calibrations), <gpu>-spec
    /// (datasheet roofline), or a profile .toml. Rows measured on another GPU (the `system` column)
    /// are listed as not simulated.
    #[arg(long, default_value = "h100-sxm")]
    hardware: String,
    /// Write validation.csv, report.md and measured-vs-simulated plots here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Refit each backend's per-step overhead on this file's fit rows (even id hash) before
    /// scoring, as `calibrate --silicon` does; the report names the values fitted.
    #[arg(long)]
    fit_overhead: bool,
    /// Hugging Face config.json files of the rows' models that are not presets, named
    /// `<org>--<name>.json` (a row of `Qwen/Qwen3-30B-A3B` reads `Qwen--Qwen3-30B-A3B.json`).
    #[arg(long, default_value = "../shared/models")]
    models: PathBuf,
}

#[derive(Args)]
struct CalibrateArgs {
    /// Directory of measurements: aiconfigurator-style CSVs, vidur profiles, nccl-tests logs,
    /// KV-transfer tables (searched recursively).
    #[arg(long)]
    data: PathBuf,
    /// Write the profile here (TOML).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write report.md, fit_points.csv and measured-vs-fitted plots here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Profile name (default: the --out file's stem, else the GPU's name).
    #[arg(long)]
    name: Option<String>,
    /// The GPU the data was measured on: its datasheet profile (peaks, SM count, memory, links) is
    /// what the fits are relative to and what the written profile builds on.
    #[arg(long, default_value = "h100-sxm")]
    gpu: String,
    /// Also fit each backend's per-step overhead end to end on half of these measured deployments.
    #[arg(long)]
    silicon: Option<PathBuf>,
    /// Read only these engine releases' aiconfigurator tables (`<family>.<release>.csv[.gz]`), e.g.
    /// `trtllm-1.3.0rc20,vllm-0.19.0,nccl-2.29.2` (default: every release). Tables measured on
    /// another GPU than --gpu are always skipped.
    #[arg(long, value_delimiter = ',')]
    releases: Option<Vec<String>>,
    /// Take the per-step overheads of the backends --silicon does not fit from this profile
    /// (host-side work, for a GPU whose measured deployments cannot fit them); each says where
    /// it came from.
    #[arg(long)]
    overhead_from: Option<PathBuf>,
}

#[derive(Args)]
struct RunArgs {
    /// Scenario YAML files, merged as one multi-document scenario.
    #[arg(required = true)]
    scenario: Vec<PathBuf>,
    /// Override one setting after merging, e.g. `--set decode.maxBatchSize=256` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// RNG seed (same as `--set seed=N`).
    #[arg(long)]
    seed: Option<u64>,
    /// Requests to offer (same as `--set requests=N`).
    #[arg(long)]
    requests: Option<u64>,
    /// Simulated time to offer traffic for, e.g. `600s`, `10m` (same as `--set duration=DUR`).
    #[arg(long)]
    duration: Option<String>,
    /// Write summary.json, requests.csv, timeseries.csv and time-series plots (PNG, SVG) here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print exactly one JSON object (the summary) on stdout.
    #[arg(long)]
    json: bool,
    /// Put the wall-clock time into the summary (it then differs between identical runs).
    #[arg(long)]
    timing: bool,
    /// Trace replay: skip malformed lines (counted in the summary) instead of stopping at the first
    /// (same as `--set workload.skip_bad_lines=true`).
    #[arg(long)]
    skip_bad_lines: bool,
    /// Closed loop: run again with the clients started one by one over one request's time and
    /// print the mean TTFT of both starts (stderr), the range a benchmark's unrecorded start
    /// pattern spans.
    #[arg(long)]
    ttft_range: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Phase {
    Prefill,
    Decode,
}

#[derive(Args)]
struct CostArgs {
    /// Model preset or path to a Hugging Face config.json.
    #[arg(long)]
    model: String,
    #[arg(long, default_value = "h100-sxm")]
    hardware: String,
    #[arg(long, default_value = "trtllm")]
    backend: String,
    #[arg(long, default_value_t = 1)]
    tp: u32,
    /// MoE models: expert-parallel ranks (divides --tp; the experts' columns split the rest).
    #[arg(long, default_value_t = 1)]
    moe_ep: u32,
    /// MoE models: how routed tokens spread over the experts (balanced, power_law_1.01, power_law_1.2).
    #[arg(long, default_value = "power_law_1.01")]
    expert_load: String,
    #[arg(long, value_enum)]
    phase: Phase,
    /// Sequences in the batch.
    #[arg(long, default_value_t = 1)]
    batch: u64,
    /// Prompt tokens per sequence (prefill), or context per sequence when --ctx is not given (decode).
    #[arg(long, default_value_t = 1024)]
    isl: u64,
    /// Decode: tokens already in each sequence's KV cache.
    #[arg(long)]
    ctx: Option<u64>,
    #[arg(long, default_value = "bf16")]
    weights_dtype: String,
    #[arg(long, default_value = "bf16")]
    kv_dtype: String,
    #[arg(long)]
    json: bool,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => cmd_run(a),
        Command::Cost(a) => cmd_cost(a),
        Command::Calibrate(a) => cmd_calibrate(a),
        Command::Validate(a) => cmd_validate(a),
        Command::Sweep(a) => cmd_sweep(a),
        Command::Merge(a) => cmd_merge(a),
        Command::Compare(a) => cmd_compare(a),
        Command::Plan(a) => cmd_plan(a),
        Command::Check(a) => cmd_check(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn cmd_run(a: RunArgs) -> Result<ExitCode> {
    let mut sets = a.set.clone();
    if let Some(s) = a.seed {
        sets.push(format!("seed={s}"));
    }
    if let Some(n) = a.requests {
        // the flags pick the run length outright, whatever the files say
        sets.push(format!("requests={n}"));
        sets.push("duration=none".into());
    }
    if let Some(d) = &a.duration {
        sets.push(format!("duration={d}"));
        sets.push("requests=none".into());
    }
    if a.skip_bad_lines {
        sets.push("workload.skip_bad_lines=true".into());
    }
    let sc = scenario::load(&a.scenario, &sets)?;
    let opts = RunOptions { record_requests: a.out.is_some(), wall_time_in_summary: a.timing, ..RunOptions::default() };
    let result = run(&sc, &opts).context("reading the workload")?;
    for w in pdsim::analysis::warnings(&sc, &result.output.metrics) {
        eprintln!("warning: {w}");
    }
    if a.ttft_range {
        use pdsim::spec::workload::Arrival;
        if !matches!(sc.workload.arrival(), Some(Arrival::ClosedLoop { .. })) {
            bail!("--ttft-range: expected a closed-loop workload (workload.kind=closed_loop)");
        }
        let spread = pdsim::validate::spread_ttft(&sc, result.summary.e2e_ms.mean).map_err(anyhow::Error::msg)?;
        eprintln!(
            "TTFT mean over the client start: {:.1} ms as started, {:.1} ms with the clients spread over {:.1} s",
            result.summary.ttft_ms.mean,
            spread,
            result.summary.e2e_ms.mean / 1e3
        );
    }
    if let Some(dir) = &a.out {
        let o = &result.output;
        write_run_outputs(dir, &result.summary, &o.requests, &o.timeseries, &o.scale_events)?;
    }
    if a.json {
        print!("{}", result.summary.to_json());
    } else {
        print!("{}", result.summary.to_table());
        eprintln!(
            "simulated {} requests in {:.2} s wall ({:.0} requests/s)",
            result.summary.requests.arrived,
            result.wall_s,
            result.summary.requests.arrived as f64 / result.wall_s.max(1e-9)
        );
        if let Some(dir) = &a.out {
            println!("wrote {}/summary.json, requests.csv, timeseries.csv and timeseries_*.png/svg", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_calibrate(a: CalibrateArgs) -> Result<ExitCode> {
    use pdsim::calibrate::{fit, readers, report};
    let name = a
        .name
        .clone()
        .or_else(|| a.out.as_ref().and_then(|p| p.file_stem()).map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| a.gpu.clone());
    let base = HardwareProfile::base_gpu(&a.gpu)
        .with_context(|| format!("--gpu {}: expected one of {}", a.gpu, HardwareProfile::gpu_names()))?;
    let started = std::time::Instant::now();
    let gpu = pdsim::spec::hardware::Gpu::find(&a.gpu).context("--gpu names a GPU of the table")?;
    let filter = readers::Filter { releases: a.releases.clone(), ..readers::Filter::for_gpu(gpu) };
    let data = readers::load_dir_filtered(&a.data, &filter)?;
    // a release named but matched by no table read is a typo, not an empty fit
    for r in a.releases.iter().flatten() {
        let seen = data.files.iter().any(|f| readers::release_of(&f.path).is_some_and(|x| x.eq_ignore_ascii_case(r)));
        if !seen {
            bail!(
                "--releases {r}: no GEMM, attention or collective table of that release for {} under {}",
                gpu.name,
                a.data.display()
            );
        }
    }
    eprintln!(
        "read {} files: {} GEMM, {} MoE, {} prefill and {} decode attention, {} collective, {} KV transfer rows ({:.1} s)",
        data.files.len(),
        data.gemm.len(),
        data.moe.len(),
        data.context_attention.len(),
        data.generation_attention.len(),
        data.collectives.len(),
        data.kv_transfer.len(),
        started.elapsed().as_secs_f64()
    );
    let mut out = fit::fit_all(&data, &a.data, &name, &base);
    if let Some(silicon) = &a.silicon {
        let rows = pdsim::validate::read_silicon(silicon)?;
        let hw = HardwareProfile { calibration: Some(std::sync::Arc::new(out.calibration.clone())), ..base };
        let file = silicon.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let hw = pdsim::validate::fit_overheads(&rows, &hw, &file);
        out.calibration.overhead = hw.calibration.as_deref().map(|c| c.overhead.clone()).unwrap_or_default();
    }
    if let Some(from) = &a.overhead_from {
        let shown = from.display().to_string();
        let text = std::fs::read_to_string(from).with_context(|| format!("reading {shown}"))?;
        let donor = pdsim::spec::fitted::Calibration::from_toml(&text, &shown)?;
        let name = from.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or(shown);
        for o in donor.overhead {
            if !out.calibration.overhead.iter().any(|x| x.backend == o.backend) {
                let source = format!("{} (taken from {name}: host-side work)", o.source);
                out.calibration.overhead.push(pdsim::spec::fitted::OverheadFit { source, ..o });
            }
        }
        out.calibration.overhead.sort_by(|x, y| x.backend.cmp(&y.backend));
    }
    if let Some(path) = &a.out {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let file = path.file_name().context("--out needs a file name")?.to_string_lossy().into_owned();
        pdsim::report::write_atomic(dir, &file, out.calibration.to_toml().as_bytes())?;
    }
    if let Some(dir) = &a.report {
        report::write(dir, &out.calibration, &out.points)?;
    }
    print!("{}", report::markdown(&out.calibration));
    eprintln!("fitted in {:.1} s", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

fn cmd_validate(a: ValidateArgs) -> Result<ExitCode> {
    use pdsim::validate::{error_summary, read_silicon_with_models, simulate_rows};
    let hw = HardwareProfile::by_name(&a.hardware)?;
    let models = a.models.is_dir().then_some(a.models.as_path());
    let rows = read_silicon_with_models(&a.silicon, models)?;
    let started = std::time::Instant::now();
    let hw = if a.fit_overhead {
        if hw.calibration.is_none() {
            bail!("--fit-overhead needs a calibrated profile (the overhead is a calibration coefficient)");
        }
        let file = a.silicon.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        pdsim::validate::fit_overheads(&rows, &hw, &file)
    } else {
        hw
    };
    let results = simulate_rows(&rows, &hw, true);
    let report = pdsim::validate::report_markdown(&results, &a.silicon.display().to_string(), &hw);
    print!("{report}");
    let (n, _) = error_summary(results.iter());
    eprintln!("simulated {n} of {} rows in {:.1} s", rows.len(), started.elapsed().as_secs_f64());
    if let Some(dir) = &a.out {
        pdsim::validate::write_outputs(dir, &results, &report)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_cost(a: CostArgs) -> Result<ExitCode> {
    let model = ModelSpec::resolve(&a.model, None)?;
    let hw = HardwareProfile::by_name(&a.hardware)?;
    let backend = match a.backend.as_str() {
        "trtllm" => Backend::Trtllm,
        "vllm" => Backend::Vllm,
        "sglang" => Backend::Sglang,
        other => bail!("--backend: expected trtllm, vllm or sglang, got '{other}'"),
    };
    let dtype = |flag: &str, v: &str, expected: &str| {
        Dtype::parse(v).with_context(|| format!("{flag}: expected {expected}, got '{v}'"))
    };
    let wd = dtype("--weights-dtype", &a.weights_dtype, "bf16, fp8 or fp8_block")?;
    let kd = dtype("--kv-dtype", &a.kv_dtype, "bf16 or fp8")?;
    if kd == Dtype::Fp8Block {
        bail!("--kv-dtype: expected bf16 or fp8, got '{}'", a.kv_dtype);
    }
    let load = pdsim::spec::model::ExpertLoad::parse(&a.expert_load).with_context(|| {
        format!("--expert-load: expected balanced, power_law_1.01 or power_law_1.2, got '{}'", a.expert_load)
    })?;
    if !(1..=8).contains(&a.tp) || !a.tp.is_power_of_two() {
        bail!("--tp: expected 1, 2, 4 or 8 (one NVLink node), got {}", a.tp);
    }
    if a.batch == 0 || a.isl == 0 {
        bail!("--batch and --isl: expected positive integers");
    }
    let parallelism = Parallelism::expert_parallel(a.tp, a.moe_ep)
        .with_context(|| format!("--moe-ep: expected a divisor of --tp ({}), got {}", a.tp, a.moe_ep))?;
    let cost = WorkerCost::new(&model, &hw, wd, kd, parallelism, backend, load);
    let mut shape = StepShape::default();
    match a.phase {
        Phase::Prefill => {
            for _ in 0..a.batch {
                shape.add_prefill(a.isl, 0);
            }
        }
        Phase::Decode => {
            shape.decode_seqs = a.batch;
            shape.decode_ctx_tok = a.batch * a.ctx.unwrap_or(a.isl);
        }
    }
    let b = cost.step(&shape);
    let total_ms = b.total_ns() / 1e6;
    let tokens = match a.phase {
        Phase::Prefill => a.batch * a.isl,
        Phase::Decode => a.batch,
    };
    if a.json {
        let v = serde_json::json!({
            "model": model.name, "hardware": hw.name, "calibrated": cost.is_calibrated(), "backend": backend.name(), "tp": a.tp,
            "phase": match a.phase { Phase::Prefill => "prefill", Phase::Decode => "decode" },
            "batch": a.batch, "isl": a.isl, "ctx": a.ctx,
            "time_ms": total_ms,
            "breakdown_ms": {
                "gemm": b.gemm_ns / 1e6, "attention": b.attention_ns / 1e6, "allreduce": b.allreduce_ns / 1e6,
                "elementwise": b.elementwise_ns / 1e6, "overhead": b.overhead_ns / 1e6,
            },
            "tokens_per_s": tokens as f64 / (total_ms / 1e3),
        });
        let mut v = v;
        if model.moe.is_some() {
            v["moe_ep"] = a.moe_ep.into();
            v["expert_load"] = load.name().into();
            v["moe_fitted"] = cost.moe_is_fitted().into();
        }
        println!("{v}");
    } else {
        let ep = if model.moe.is_some() { format!(" EP{} {}", a.moe_ep, load.name()) } else { String::new() };
        println!(
            "{} on {} x{}{ep} ({}), {} step: {:.3} ms, {:.0} tok/s",
            model.name,
            hw.name,
            a.tp,
            backend.name(),
            match a.phase {
                Phase::Prefill => "prefill",
                Phase::Decode => "decode",
            },
            total_ms,
            tokens as f64 / (total_ms / 1e3)
        );
        for (name, ns) in [
            ("GEMMs", b.gemm_ns),
            ("attention", b.attention_ns),
            ("all-reduce", b.allreduce_ns),
            ("elementwise", b.elementwise_ns),
            ("overhead", b.overhead_ns),
        ] {
            println!("  {:<12} {:>10.3} ms  {:>5.1}%", name, ns / 1e6, 100.0 * ns / b.total_ns().max(1e-9));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let bad = || anyhow::anyhow!("--shard {s}: expected I/N with 0 <= I < N, e.g. 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

fn print_sweep(s: &pdsim::sweep::SweepSummary, out: &std::path::Path) {
    println!(
        "{} points: {} ok, {} skipped by constraints, {} failed; {} on the frontier ({} run now, {} from the journal)",
        s.points,
        s.ok,
        s.skipped,
        s.failed.len(),
        s.frontier,
        s.ran,
        s.resumed
    );
    for (id, e) in s.failed.iter().take(10) {
        println!("  point {id} failed: {e}");
    }
    if s.failed.len() > 10 {
        println!("  ... and {} more (points.csv has them all)", s.failed.len() - 10);
    }
    if !s.complete {
        println!("this output holds one shard: join the shards with `pdsim merge DIR... --out DIR`");
    }
    println!("wrote {}/points.csv, frontier.csv, frontier.png/svg, throughput.png/svg", out.display());
}

fn cmd_sweep(a: SweepArgs) -> Result<ExitCode> {
    let shard = a.shard.as_deref().map(parse_shard).transpose()?;
    let spec = pdsim::sweep::SweepSpec::read(&a.sweep)?;
    let opts = pdsim::sweep::SweepOptions { threads: a.threads, shard, resume: a.resume, progress: true };
    let s = pdsim::sweep::run_sweep(&spec, &a.out, &opts)?;
    print_sweep(&s, &a.out);
    Ok(ExitCode::SUCCESS)
}

fn cmd_merge(a: MergeArgs) -> Result<ExitCode> {
    let s = pdsim::sweep::merge(&a.dirs, &a.out)?;
    print_sweep(&s, &a.out);
    Ok(ExitCode::SUCCESS)
}

fn cmd_compare(a: CompareArgs) -> Result<ExitCode> {
    use pdsim::report::compare::{compare_rows, markdown};
    let files = |s: &str| -> Vec<PathBuf> { s.split(',').map(PathBuf::from).collect() };
    let (fa, fb) = (files(&a.a), files(&a.b));
    let sa = scenario::load(&fa, &a.sets)?;
    let sb = scenario::load(&fb, &a.sets)?;
    let opts = RunOptions::default();
    let ra = run(&sa, &opts).with_context(|| format!("running {}", a.a))?;
    let rb = run(&sb, &opts).with_context(|| format!("running {}", a.b))?;
    let rows = compare_rows(&ra.summary, &rb.summary);
    let table = markdown(&sa.name, &sb.name, &rows);
    let json = serde_json::json!({"a": sa.name, "b": sb.name, "rows": rows.iter().map(|r| serde_json::json!({
        "metric": r.metric, "unit": r.unit, "a": r.a, "b": r.b, "lower_is_better": r.lower_is_better, "gain": r.gain()
    })).collect::<Vec<_>>()});
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        pdsim::report::write_atomic(dir, "compare.md", table.as_bytes())?;
        pdsim::report::write_atomic(dir, "compare.json", format!("{json:#}\n").as_bytes())?;
        pdsim::report::write_atomic(dir, "a.summary.json", ra.summary.to_json().as_bytes())?;
        pdsim::report::write_atomic(dir, "b.summary.json", rb.summary.to_json().as_bytes())?;
    }
    if a.json {
        println!("{json}");
    } else {
        print!("{table}");
        if sa.workload != sb.workload || sa.seed != sb.seed || sa.limits != sb.limits {
            println!("\nnote: the two scenarios offer different traffic (workload, seed or run length differ)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_sla(s: &str) -> Result<pdsim::plan::PlanSla> {
    let (mut ttft, mut tpot) = (None, None);
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = part.split_once('=').with_context(|| format!("--sla {s}: expected KEY=VALUE pairs"))?;
        let x: f64 = v
            .trim()
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite() && *x > 0.0)
            .with_context(|| format!("--sla {s}: {k}: expected a number > 0, got {v}"))?;
        match k.trim() {
            "ttft_p99_ms" => ttft = Some(x),
            "tpot_p99_ms" => tpot = Some(x),
            other => bail!("--sla {s}: unknown key {other}: expected ttft_p99_ms and tpot_p99_ms"),
        }
    }
    match (ttft, tpot) {
        (Some(ttft_p99_ms), Some(tpot_p99_ms)) => Ok(pdsim::plan::PlanSla { ttft_p99_ms, tpot_p99_ms }),
        _ => bail!("--sla {s}: expected both ttft_p99_ms and tpot_p99_ms, e.g. ttft_p99_ms=500,tpot_p99_ms=30"),
    }
}

fn cmd_plan(a: PlanArgs) -> Result<ExitCode> {
    let sla = parse_sla(&a.sla)?;
    let sc = scenario::load(&a.scenario, &a.sets)?;
    let backends = match a.backends.as_deref() {
        None => vec![sc.cluster.backend],
        Some("all") => vec![Backend::Trtllm, Backend::Vllm, Backend::Sglang],
        Some(list) => list
            .split(',')
            .map(|b| match b.trim() {
                "trtllm" => Ok(Backend::Trtllm),
                "vllm" => Ok(Backend::Vllm),
                "sglang" => Ok(Backend::Sglang),
                other => bail!("--backends: expected trtllm, vllm, sglang or all, got {other}"),
            })
            .collect::<Result<_>>()?,
    };
    let opts =
        pdsim::plan::PlanOptions { sla, max_gpus: a.max_gpus, backends, threads: a.threads, sets: a.sets.clone() };
    let started = std::time::Instant::now();
    let r = pdsim::plan::plan(&sc, &opts);
    pdsim::plan::report::write(&a.out, &sc, &opts, &r)?;
    print!("{}", pdsim::plan::report::markdown(&sc, &opts, &r));
    eprintln!(
        "planned in {:.1} s; wrote {}/report.md, report.html, frontier.png/svg{}",
        started.elapsed().as_secs_f64(),
        a.out.display(),
        if r.chosen.is_some() { " and plan.yaml" } else { "" }
    );
    Ok(if r.chosen.is_some() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn cmd_check(a: CheckArgs) -> Result<ExitCode> {
    use pdsim::check::{check, table, update, Verdict};
    if let Some(t) = a.tolerance {
        if !(t.is_finite() && t >= 0.0) {
            bail!("--tolerance {t}: expected a percentage >= 0");
        }
    }
    if a.update {
        let b = update(&a.baseline)?;
        println!("recorded {} scenarios in {}/baseline.json", b.scenarios.len(), a.baseline.display());
        return Ok(ExitCode::SUCCESS);
    }
    let diffs = check(&a.baseline, a.tolerance)?;
    if diffs.is_empty() {
        bail!("{}: no scenarios to check", a.baseline.join("baseline.json").display());
    }
    print!("{}", table(&diffs));
    let bad = diffs.iter().filter(|d| d.verdict() == Verdict::Regressed).count();
    let better = diffs.iter().filter(|d| d.verdict() == Verdict::Improved).count();
    if bad > 0 {
        println!("\n{bad} of {} metrics regressed beyond tolerance", diffs.len());
        return Ok(ExitCode::from(1));
    }
    println!(
        "\nall {} metrics within tolerance{}",
        diffs.len(),
        if better > 0 { format!(" ({better} improved: record them with --update)") } else { String::new() }
    );
    Ok(ExitCode::SUCCESS)
}
