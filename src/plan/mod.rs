//! `pdsim plan`: the cheapest deployment that meets an SLA at a scenario's load.
//!
//! The search is per shape (mode, TP of each pool, decode batch limit): replica counts are found by
//! exponential-then-binary search on simulated runs (the SLA is monotone in replicas), decode first
//! with a generous prefill pool, then prefill, then decode again at the prefill found. That costs
//! O(log replicas) runs per shape instead of the full grid's product, and shapes run in parallel.
//! The chosen point is checked once more, and each lever (one replica more or less per pool, the
//! batch limit, the KV backend) is simulated from it.

pub mod report;

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::input::Scenario;
use crate::report::Summary;
use crate::runner::{run, RunOptions};
use crate::sim::SlaTargets;
use crate::spec::deployment::{Backend, KvBackend, Mode, Topology};

/// What the plan must meet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanSla {
    pub ttft_p99_ms: f64,
    pub tpot_p99_ms: f64,
}

#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub sla: PlanSla,
    pub max_gpus: Option<u32>,
    /// Backends to consider (default: the scenario's).
    pub backends: Vec<Backend>,
    pub threads: Option<usize>,
    /// The `--set` arguments the scenario was loaded with (repeated in the written plan).
    pub sets: Vec<String>,
}

/// A deployment shape and its replica counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shape {
    pub backend: Backend,
    pub mode: Mode,
    pub prefill_tp: u32,
    pub decode_tp: u32,
    pub decode_batch: u32,
    /// Aggregated TensorRT-LLM: prompts split across steps (`enable_chunked_context`), which a
    /// workload with prompts longer than the step budget needs.
    pub chunked_context: bool,
}

#[derive(Debug, Clone)]
pub struct Candidate {
    pub shape: Shape,
    pub prefill_replicas: u32,
    pub decode_replicas: u32,
    pub gpus: u32,
    pub summary: Summary,
    pub meets: bool,
}

impl Candidate {
    pub fn label(&self) -> String {
        let s = &self.shape;
        match s.mode {
            Mode::Disaggregated => format!(
                "{} disagg: prefill {}x TP{}, decode {}x TP{} batch {}",
                s.backend.name(),
                self.prefill_replicas,
                s.prefill_tp,
                self.decode_replicas,
                s.decode_tp,
                s.decode_batch
            ),
            Mode::Aggregated => format!(
                "{} agg: {}x TP{} batch {}{}",
                s.backend.name(),
                self.decode_replicas,
                s.decode_tp,
                s.decode_batch,
                if s.chunked_context { " chunked context" } else { "" }
            ),
        }
    }
}

/// One lever tried from the chosen point.
#[derive(Debug, Clone)]
pub struct Lever {
    pub name: String,
    pub gpus: u32,
    pub summary: Summary,
    pub meets: bool,
}

#[derive(Debug, Clone)]
pub struct PlanResult {
    pub chosen: Option<Candidate>,
    /// The next-cheapest feasible candidates of other shapes.
    pub runners_up: Vec<Candidate>,
    /// Every shape's final candidate (feasible or not), for the frontier.
    pub evaluated: Vec<Candidate>,
    pub levers: Vec<Lever>,
    /// Simulated runs the search took, and shapes searched.
    pub runs: usize,
    pub shapes: usize,
    /// The pool whose extra replica helps the binding SLA metric most.
    pub bottleneck: Option<&'static str>,
}

fn meets(s: &Summary, sla: PlanSla) -> bool {
    s.requests.rejected == 0
        && s.requests.timed_out == 0
        && s.requests.completed > 0
        && s.ttft_ms.p99 <= sla.ttft_p99_ms
        && s.tpot_ms.p99 <= sla.tpot_p99_ms
}

/// The scenario with `shape` and the replica counts applied, or `None` when it cannot run
/// (weights do not fit, ...).
pub fn configure(base: &Scenario, shape: Shape, prefill: u32, decode: u32) -> Option<Scenario> {
    let mut s = base.clone();
    s.autoscaler = None;
    s.switch_mode(shape.mode);
    let c = &mut s.cluster;
    c.backend = shape.backend;
    match &mut c.topology {
        Topology::Disaggregated { prefill: p, decode: d, .. } => {
            p.replicas = prefill;
            p.parallelism = p.parallelism.with_tp(shape.prefill_tp);
            d.replicas = decode;
            d.parallelism = d.parallelism.with_tp(shape.decode_tp);
            d.max_batch_size = shape.decode_batch;
        }
        Topology::Aggregated(a) => {
            a.replicas = decode;
            a.parallelism = a.parallelism.with_tp(shape.decode_tp);
            a.max_batch_size = shape.decode_batch;
            a.enable_chunked_context |= shape.chunked_context;
        }
    }
    crate::input::deployment::validate_deployment(&s).ok()?;
    Some(s)
}

struct Search<'a> {
    base: &'a Scenario,
    opts: &'a PlanOptions,
    runs: usize,
}

impl Search<'_> {
    fn eval(&mut self, shape: Shape, p: u32, d: u32) -> Option<Candidate> {
        let s = configure(self.base, shape, p, d)?;
        self.runs += 1;
        let ro = RunOptions {
            record_requests: false,
            timeseries_interval_ns: 0,
            sla: SlaTargets { ttft_ms: Some(self.opts.sla.ttft_p99_ms), tpot_ms: Some(self.opts.sla.tpot_p99_ms) },
            wall_time_in_summary: false,
            ..RunOptions::default()
        };
        let summary = run(&s, &ro).ok()?.summary;
        Some(Candidate {
            shape,
            prefill_replicas: p,
            decode_replicas: d,
            gpus: s.cluster.total_gpus(),
            meets: meets(&summary, self.opts.sla),
            summary,
        })
    }

    /// The least `n` in 1..=max with `ok(n)`, assuming monotonicity: doubling, then bisection.
    fn least(&mut self, max: u32, mut ok: impl FnMut(&mut Self, u32) -> bool) -> Option<u32> {
        let mut hi = 1;
        let mut lo = 0; // known bad (0 = none)
        loop {
            if ok(self, hi) {
                break;
            }
            lo = hi;
            if hi >= max {
                return None;
            }
            hi = (hi * 2).min(max);
        }
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if ok(self, mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(hi)
    }

    fn shape(&mut self, shape: Shape) -> Option<Candidate> {
        let budget = self.opts.max_gpus.unwrap_or(256);
        match shape.mode {
            Mode::Aggregated => {
                if budget < shape.decode_tp {
                    return None;
                }
                let max = budget / shape.decode_tp;
                let Some(r) = self.least(max, |s, r| s.eval(shape, 0, r).is_some_and(|c| c.meets)) else {
                    // the largest tried, to show how far it is
                    return self.eval(shape, 0, max);
                };
                self.eval(shape, 0, r)
            }
            Mode::Disaggregated => {
                let (pt, dt) = (shape.prefill_tp, shape.decode_tp);
                if budget < pt + dt {
                    return None;
                }
                let max_d = (budget.saturating_sub(pt) / dt).max(1);
                let max_p = (budget.saturating_sub(dt) / pt).max(1);
                // decode alone first: a prefill pool as large as the budget allows, TPOT only
                let sla = self.opts.sla;
                let Some(d0) = self.least(max_d, |s, d| {
                    s.eval(shape, max_p, d).is_some_and(|c| {
                        c.summary.tpot_ms.p99 <= sla.tpot_p99_ms
                            && c.summary.requests.timed_out == 0
                            && c.summary.requests.rejected == 0
                    })
                }) else {
                    // infeasible: the largest decode pool within the budget shows how far off it is
                    return self.eval(shape, 1, max_d).filter(|c| c.gpus <= budget);
                };
                let Some(p) = self.least(max_p, |s, p| s.eval(shape, p, d0).is_some_and(|c| c.meets)) else {
                    let p = (budget.saturating_sub(dt * d0) / pt).max(1);
                    return self.eval(shape, p, d0).filter(|c| c.gpus <= budget);
                };
                // the prefill found may let fewer decode replicas do
                let d = self.least(d0, |s, d| s.eval(shape, p, d).is_some_and(|c| c.meets)).unwrap_or(d0);
                let c = self.eval(shape, p, d)?;
                (c.gpus <= budget).then_some(c)
            }
        }
    }
}

/// The shapes worth searching: every TP that fits, the scenario's decode batch limit and 256 (or its
/// half and double), both modes, the given backends.
pub fn shapes(base: &Scenario, opts: &PlanOptions) -> Vec<Shape> {
    let tps: Vec<u32> = [1u32, 2, 4, 8].into_iter().filter(|&t| t <= base.hardware.gpus_per_node).collect();
    let b0 = match &base.cluster.topology {
        Topology::Disaggregated { decode, .. } => decode.max_batch_size,
        Topology::Aggregated(a) => a.max_batch_size,
    };
    let mut batches = vec![b0, (b0 / 2).max(8), (b0 * 2).min(1024)];
    batches.sort();
    batches.dedup();
    let mut out = Vec::new();
    let chunked_already = base.topology(Mode::Aggregated).aggregated().is_some_and(|a| a.enable_chunked_context);
    for &backend in &opts.backends {
        for &dt in &tps {
            for &b in &batches {
                let agg = Shape {
                    backend,
                    mode: Mode::Aggregated,
                    prefill_tp: dt,
                    decode_tp: dt,
                    decode_batch: b,
                    chunked_context: false,
                };
                // TensorRT-LLM runs prompts whole unless told otherwise: try it both ways
                let chunked = Shape { chunked_context: true, ..agg };
                for s in [agg, chunked] {
                    if (!s.chunked_context || (backend == Backend::Trtllm && !chunked_already))
                        && configure(base, s, 0, 1).is_some()
                    {
                        out.push(s);
                    }
                }
                for &pt in &tps {
                    let s = Shape {
                        backend,
                        mode: Mode::Disaggregated,
                        prefill_tp: pt,
                        decode_tp: dt,
                        decode_batch: b,
                        chunked_context: false,
                    };
                    if configure(base, s, 1, 1).is_some() {
                        out.push(s);
                    }
                }
            }
        }
    }
    out
}

/// Cheapest first: fewest GPUs, then lowest cost per token, then lowest TTFT P99.
fn cheaper(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    a.gpus
        .cmp(&b.gpus)
        .then(a.summary.cost.usd_per_1m_output_tok.total_cmp(&b.summary.cost.usd_per_1m_output_tok))
        .then(a.summary.ttft_ms.p99.total_cmp(&b.summary.ttft_ms.p99))
        .then(a.shape.cmp(&b.shape))
}

pub fn plan(base: &Scenario, opts: &PlanOptions) -> PlanResult {
    let shapes = shapes(base, opts);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(opts.threads.unwrap_or(0)).build().expect("thread pool");
    let results: Vec<(Option<Candidate>, usize)> = pool.install(|| {
        shapes
            .par_iter()
            .map(|&shape| {
                let mut s = Search { base, opts, runs: 0 };
                let c = s.shape(shape);
                (c, s.runs)
            })
            .collect()
    });
    let mut runs: usize = results.iter().map(|r| r.1).sum();
    let mut evaluated: Vec<Candidate> = results.into_iter().filter_map(|r| r.0).collect();
    evaluated.sort_by(cheaper);
    let feasible: Vec<&Candidate> = evaluated.iter().filter(|c| c.meets).collect();
    let chosen = feasible.first().map(|c| (*c).clone());
    // runners-up of other layouts (a batch limit that changes nothing is not another option)
    let layout = |c: &Candidate| {
        (c.shape.backend, c.shape.mode, c.shape.prefill_tp, c.prefill_replicas, c.shape.decode_tp, c.decode_replicas)
    };
    let mut seen = std::collections::BTreeSet::new();
    let runners_up = feasible.iter().filter(|c| seen.insert(layout(c))).skip(1).take(3).map(|c| (*c).clone()).collect();
    let (mut levers, mut bottleneck) = (Vec::new(), None);
    if let Some(c) = &chosen {
        let mut s = Search { base, opts, runs: 0 };
        (levers, bottleneck) = try_levers(&mut s, c);
        runs += s.runs;
    }
    PlanResult { chosen, runners_up, evaluated, levers, runs, bottleneck, shapes: shapes.len() }
}

fn try_levers(s: &mut Search, c: &Candidate) -> (Vec<Lever>, Option<&'static str>) {
    let sh = c.shape;
    let (p, d) = (c.prefill_replicas, c.decode_replicas);
    let mut tries: Vec<(String, Shape, u32, u32, Option<KvBackend>)> = Vec::new();
    let disagg = sh.mode == Mode::Disaggregated;
    if disagg {
        tries.push(("prefill +1 replica".into(), sh, p + 1, d, None));
        if p > 1 {
            tries.push(("prefill -1 replica".into(), sh, p - 1, d, None));
        }
    }
    let pool = if disagg { "decode" } else { "workers" };
    tries.push((format!("{pool} +1 replica"), sh, p, d + 1, None));
    if d > 1 {
        tries.push((format!("{pool} -1 replica"), sh, p, d - 1, None));
    }
    for b in [sh.decode_batch / 2, sh.decode_batch * 2] {
        if (8..=1024).contains(&b) {
            tries.push((format!("{pool} maxBatchSize {b}"), Shape { decode_batch: b, ..sh }, p, d, None));
        }
    }
    if disagg {
        let kv = s.base.topology(Mode::Disaggregated).kv_transfer().expect("a disaggregated layout").backend;
        for alt in [KvBackend::Nccl, KvBackend::Tcp] {
            if alt != kv {
                tries.push((format!("kvTransfer.backend {}", alt.name()), sh, p, d, Some(alt)));
            }
        }
    }
    let mut out = Vec::new();
    for (name, shape, pp, dd, kv) in tries {
        let mut base = s.base.clone();
        if let Some(k) = kv {
            base.topology_mut(Mode::Disaggregated).kv_transfer_mut().expect("a disaggregated layout").backend = k;
        }
        let mut sub = Search { base: &base, opts: s.opts, runs: 0 };
        if let Some(r) = sub.eval(shape, pp, dd) {
            out.push(Lever { name, gpus: r.gpus, meets: r.meets, summary: r.summary });
        }
        s.runs += sub.runs;
    }
    // the binding metric: the one closest to (or furthest over) its target
    let sla = s.opts.sla;
    let ttft_tight = c.summary.ttft_ms.p99 / sla.ttft_p99_ms >= c.summary.tpot_ms.p99 / sla.tpot_p99_ms;
    let gain = |l: &Lever| {
        if ttft_tight {
            c.summary.ttft_ms.p99 - l.summary.ttft_ms.p99
        } else {
            c.summary.tpot_ms.p99 - l.summary.tpot_ms.p99
        }
    };
    let best = out.iter().filter(|l| l.name.ends_with("+1 replica")).max_by(|a, b| gain(a).total_cmp(&gain(b)));
    let bottleneck = best.map(|l| {
        if l.name.starts_with("prefill") {
            "prefill"
        } else if disagg {
            "decode"
        } else {
            "workers"
        }
    });
    (out, bottleneck)
}

/// Prefill share of GPUs by the guide's rule of thumb: `input / (input + output)` tokens.
pub fn rule_of_thumb_prefill_share(s: &Summary) -> f64 {
    let (i, o) = (s.throughput.input_tok_s, s.throughput.output_tok_s);
    if i + o > 0.0 {
        i / (i + o)
    } else {
        0.0
    }
}

/// The guide's pattern table: prefill : decode GPU ratios.
pub const PATTERN_RATIOS: &[(&str, u32, u32)] =
    &[("chatbot", 1, 4), ("rag", 1, 2), ("code_generation", 1, 3), ("summarization", 2, 3), ("batch", 1, 1)];

/// Shapes grouped for reports: label -> candidate.
pub fn by_label(c: &[Candidate]) -> BTreeMap<String, &Candidate> {
    c.iter().map(|x| (x.label(), x)).collect()
}
