//! The serving pipeline as a discrete-event simulation.
//!
//! Disaggregated: frontend -> central FIFO prefill queue -> prefill worker batches -> decode worker
//! chosen by the router -> KV blocks reserved on it (admission waits while it is full) -> KV transfer
//! over the prefill worker's link (processor sharing among concurrent transfers, at most
//! `maxInFlightTransfers`, the rest FIFO) -> continuous batching; sequences that outgrow the KV cache
//! are preempted newest-first and recomputed later (vLLM's recompute policy).
//! Aggregated: the router sends each request to one worker that prefills it in chunks mixed into its
//! decode steps (`maxBatchTokens` per step).
//!
//! Per request the work is O(log n): a decode step costs O(1) plus the sequences that join, finish
//! or are preempted in it, never O(batch), so long outputs cost nothing extra.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::core::{EventQueue, Next, SimTime};
use crate::metrics::{HistBatch, Outcome, RequestRecord, RunMetrics, ScaleEvent, ScrapeRow, TimeseriesRow};
use crate::perf::kv_link::{kv_link_rate, KvLinkRate};
use crate::perf::memory::{
    decode_step_tok, memory_plan, FractionOf, PoolMemory, DECODE_RECOMPUTE_CHUNK_TOK, PREFILL_MEMORY_FRACTION,
};
use crate::perf::step::{StepShape, StepTimer, WorkerCost};
use crate::sim::prefix_cache::PrefixCache;
use crate::spec::autoscaler::{AutoscalerConfig, Pool};
use crate::spec::deployment::{Backend, ClusterConfig, PrefixCacheCapacity, RouterPolicy, Topology};
use crate::spec::hardware::HardwareProfile;
use crate::spec::model::{Dtype, ModelSpec};
use crate::spec::workload::{ClosedLoopSource, RequestSpec, PREFIX_BLOCK_TOK};
use rand::RngExt;

/// What to simulate (everything already validated).
pub struct SimInput<'a> {
    pub model: &'a ModelSpec,
    pub hardware: &'a HardwareProfile,
    pub weights_dtype: Dtype,
    pub kv_dtype: Dtype,
    pub cluster: &'a ClusterConfig,
    pub sla: SlaTargets,
    /// Simulated time between two rows of the time series; 0 = no time series.
    pub timeseries_interval_ns: u64,
    /// Keep one [`RequestRecord`] per request (for `requests.csv`).
    pub record_requests: bool,
    /// Seeds the router's random draws (KV-aware routing at a temperature above 0).
    pub seed: u64,
    /// Resizes the pools at scrape times; `None` keeps the deployment's replica counts.
    pub autoscaler: Option<&'a AutoscalerConfig>,
    /// Simulates runs of decode-only steps as one event each (see [`runs`]); `false` puts every step
    /// through the event queue, with the same results, slower (for tests that check just that).
    pub decode_runs: bool,
    /// Simulated time between two metric scrapes kept for alert rules ([`SimOutput::scrapes`]);
    /// 0 = none unless the autoscaler scrapes.
    pub scrape_interval_ns: u64,
}

/// Where requests come from.
pub enum Traffic {
    /// Open loop: requests in non-decreasing arrival order (already limited to the run's length).
    Open(Box<dyn Iterator<Item = RequestSpec> + Send>),
    /// Closed loop: `concurrency` clients; client `i` sends its first request at
    /// `i * ramp_up_ns / concurrency` and each next one when its previous one ends (after the think
    /// time `clients` gives), until `max_requests` have been sent or the clock passes `stop_at_ns`.
    /// `clients` gives each request's lengths and prompt blocks (its arrival time is the moment it
    /// is sent).
    Closed {
        concurrency: u32,
        ramp_up_ns: u64,
        max_requests: u64,
        stop_at_ns: SimTime,
        clients: Box<dyn ClosedLoopSource>,
    },
}

pub struct SimOutput {
    pub metrics: RunMetrics,
    pub requests: Vec<RequestRecord>,
    pub timeseries: Vec<TimeseriesRow>,
    /// What a Prometheus server would have scraped, one row per scrape.
    pub scrapes: Vec<ScrapeRow>,
    /// Every replica-count change the autoscaler made.
    pub scale_events: Vec<ScaleEvent>,
}

pub mod autoscaler;
mod batching;
mod decode;
mod frontend;
mod kv_link;
mod lifecycle;
mod observe;
mod prefill;
pub mod prefix_cache;
mod replicas;
mod router;
mod runs;
mod scale;
pub use crate::spec::scenario::SlaTargets;

const NONE: SimTime = SimTime::MAX;
const NO_WORKER: u32 = u32::MAX;
const NO_CLIENT: u32 = u32::MAX;

use batching::BatchingPolicy;
use decode::GenWorker;
use kv_link::Link;
use lifecycle::{Req, Stage};
use observe::{note_first_token, note_kv_usage, note_step_itl, SampleMark};
use prefill::PrefillWorker;
use prefix_cache::{cached_tokens, fit_cache_to_free, new_cache};
use replicas::{Life, Replica, WorkerTemplates};
use router::Router;

#[derive(Clone, Copy, Debug)]
enum Ev {
    Arrival,
    /// A closed-loop client sends its next request.
    ClientArrival(u32),
    PrefillDone(u32),
    XferSetup(u32, u32),
    LinkWake(u32, u64),
    /// The earliest deadline in `Sim::deadlines` has come.
    TimeoutCheck,
    Sample,
    /// The autoscaler's (and Prometheus') scrape.
    Scrape,
    /// A replica's cold start ends: `(pool, worker, start generation)`.
    ReplicaReady(Pool, u32, u32),
}

struct Sim<'a> {
    input: &'a SimInput<'a>,
    /// What scrapes, the autoscaler and the time series observe (see [`scale`]).
    obs: observe::Observations,
    scaler: scale::AutoscalerState,
    tpl: WorkerTemplates,
    /// Arrival events in the queue.
    arrivals_pending: u32,
    decode_runs: bool,
    runs: runs::RunState,
    q: EventQueue<Ev>,
    reqs: Vec<Req>,
    free_slots: Vec<u32>,
    /// One shared FIFO queue, or one per prefill worker when the KV-aware router picks workers.
    prefill_queues: Vec<VecDeque<(u32, u32)>>,
    prefill: Vec<PrefillWorker>,
    router: Router,
    /// `prefixCache.capacity: auto`: caches live in the KV memory that requests do not hold.
    auto_cache: bool,
    links: Vec<Link>,
    gen: Vec<GenWorker>,
    prefill_cost: Option<StepTimer>,
    gen_cost: StepTimer,
    kv_bytes_per_tok: u64,
    block_bytes: u64,
    admit_seq: u64,
    next_id: u64,
    in_system: u64,
    m: RunMetrics,
    records: Vec<RequestRecord>,
    series: Vec<TimeseriesRow>,
    traffic: Traffic,
    pending_open: Option<RequestSpec>,
    /// Closed loop: requests scheduled so far, and rejections in a row at one instant.
    closed_scheduled: u64,
    /// Closed loop: each client's think time before its next request.
    client_think_ns: Vec<u64>,
    /// Scratch for the transfers a link wake completes (kept to spare an allocation per wake).
    link_done: Vec<(u32, u32)>,
    zero_time_rejections: (SimTime, u64),
    last_sample: SampleMark,
    timeout_ns: u64,
    /// `(deadline, slot, gen)` of requests in arrival order. The timeout is the same for every
    /// request, so deadlines are sorted and one pending event covers them all (instead of one heap
    /// entry per request).
    deadlines: VecDeque<(SimTime, u32, u32)>,
    timeout_armed: bool,
    max_concurrent: u64,
    max_input: u32,
    max_output: u32,
}

/// Runs one simulation to completion: every offered request ends completed, rejected or timed out.
pub fn simulate(input: &SimInput, traffic: Traffic) -> SimOutput {
    let mut sim = Sim::new(input, traffic);
    sim.run();
    sim.finish()
}

impl<'a> Sim<'a> {
    fn new(input: &'a SimInput<'a>, traffic: Traffic) -> Sim<'a> {
        let c: &ClusterConfig = input.cluster;
        let (model, hw) = (input.model, input.hardware);
        let (wd, kd) = (input.weights_dtype, input.kv_dtype);
        let mut m = RunMetrics::default();
        let mut tpl = WorkerTemplates::default();
        let mut prefill = Vec::new();
        let mut links = Vec::new();
        let mut gen = Vec::new();
        let (prefill_cost, gen_cost, max_input, max_output);
        match &c.topology {
            Topology::Disaggregated { prefill: p, decode: d, kv_transfer } => {
                let pplan = memory_plan(
                    model,
                    hw,
                    wd,
                    kd,
                    PoolMemory {
                        fraction_of: FractionOf::of(c.backend),
                        parallelism: p.parallelism,
                        fraction: PREFILL_MEMORY_FRACTION,
                        max_step_tok: p.max_batch_tokens as u64,
                        max_seqs: p.max_batch_size as u64,
                    },
                );
                let dplan = memory_plan(
                    model,
                    hw,
                    wd,
                    kd,
                    PoolMemory {
                        fraction_of: FractionOf::of(c.backend),
                        parallelism: d.parallelism,
                        fraction: d.kv_cache_memory_fraction,
                        max_step_tok: decode_step_tok(d.max_batch_size),
                        max_seqs: d.max_batch_size as u64,
                    },
                );
                tpl.prefill_cap_tok = pplan.kv_capacity_tok;
                tpl.link = kv_link_rate(hw, kv_transfer.backend, p.parallelism, d.parallelism);
                tpl.max_in_flight_transfers = kv_transfer.max_in_flight_transfers.max(1);
                tpl.prefill_max_batch = p.max_batch_size;
                tpl.prefill_max_batch_tok = p.max_batch_tokens as u64;
                tpl.gen_cap_tok = dplan.kv_capacity_tok;
                tpl.gen_max_batch = d.max_batch_size;
                tpl.gen_chunk_tok = DECODE_RECOMPUTE_CHUNK_TOK;
                for _ in 0..p.replicas {
                    prefill.push(tpl.new_prefill_worker(c));
                    links.push(tpl.new_link());
                }
                for _ in 0..d.replicas {
                    gen.push(tpl.new_gen_worker(c));
                }
                prefill_cost =
                    Some(StepTimer::new(WorkerCost::new(model, hw, wd, kd, p.parallelism, c.backend, c.expert_load)));
                gen_cost = StepTimer::new(WorkerCost::new(model, hw, wd, kd, d.parallelism, c.backend, c.expert_load));
                max_input = p.max_input_length;
                max_output = d.max_output_length;
                m.prefill_replicas = p.replicas;
                m.decode_replicas = d.replicas;
                m.prefill_gpus = p.replicas * p.parallelism.gpus();
                m.decode_gpus = d.replicas * d.parallelism.gpus();
                m.kv_capacity_tok_per_worker = dplan.kv_capacity_tok;
            }
            Topology::Aggregated(a) => {
                let plan = memory_plan(
                    model,
                    hw,
                    wd,
                    kd,
                    PoolMemory {
                        fraction_of: FractionOf::of(c.backend),
                        parallelism: a.parallelism,
                        fraction: a.kv_cache_memory_fraction,
                        max_step_tok: a.max_batch_tokens.max(a.max_batch_size) as u64,
                        max_seqs: a.max_batch_size as u64,
                    },
                );
                tpl.gen_cap_tok = plan.kv_capacity_tok;
                tpl.gen_max_batch = a.max_batch_size;
                tpl.gen_chunk_tok = a.max_batch_tokens as u64;
                for _ in 0..a.replicas {
                    gen.push(tpl.new_gen_worker(c));
                }
                prefill_cost = None;
                gen_cost = StepTimer::new(WorkerCost::new(model, hw, wd, kd, a.parallelism, c.backend, c.expert_load));
                // without chunked context a prompt must fit one step's token budget: TensorRT-LLM
                // refuses a longer one ("The number of context tokens exceeds the limit value",
                // `MicroBatchScheduler`)
                max_input = if BatchingPolicy::for_deployment(c).chunks_prefill() {
                    a.max_input_length
                } else {
                    a.max_input_length.min(a.max_batch_tokens)
                };
                max_output = a.max_output_length;
                m.decode_replicas = a.replicas;
                m.decode_gpus = a.replicas * a.parallelism.gpus();
                m.kv_capacity_tok_per_worker = plan.kv_capacity_tok;
            }
        }
        m.prefill_replicas_max = prefill.len() as u32;
        m.decode_replicas_max = gen.len() as u32;
        Sim {
            input,
            obs: observe::Observations::new(input),
            scaler: scale::AutoscalerState::new(input),
            tpl,
            arrivals_pending: 0,
            q: EventQueue::new(),
            reqs: Vec::new(),
            free_slots: Vec::new(),
            prefill_queues: (0..if c.router == RouterPolicy::KvAware { prefill.len().max(1) } else { 1 })
                .map(|_| VecDeque::new())
                .collect(),
            prefill,
            decode_runs: input.decode_runs,
            runs: runs::RunState::new(),
            router: Router::new(c, input.seed),
            auto_cache: c.prefix_cache == PrefixCacheCapacity::Auto,
            links,
            gen,
            prefill_cost,
            gen_cost,
            kv_bytes_per_tok: model.kv_bytes_per_token(kd),
            block_bytes: c.kv_block_size_bytes.max(1),
            admit_seq: 0,
            next_id: 0,
            in_system: 0,
            m,
            records: Vec::new(),
            series: Vec::new(),
            traffic,
            pending_open: None,
            closed_scheduled: 0,
            client_think_ns: Vec::new(),
            link_done: Vec::new(),
            zero_time_rejections: (SimTime::ZERO, 0),
            last_sample: SampleMark::default(),
            timeout_ns: c.frontend.request_timeout_ns,
            deadlines: VecDeque::new(),
            timeout_armed: false,
            max_concurrent: c.frontend.max_concurrent_requests as u64,
            max_input,
            max_output,
        }
    }

    fn run(&mut self) {
        match &mut self.traffic {
            Traffic::Open(it) => {
                self.pending_open = it.next();
                if let Some(r) = &self.pending_open {
                    self.q.schedule(SimTime::from_ns(r.arrival_ns), Ev::Arrival);
                    self.arrivals_pending += 1;
                }
            }
            Traffic::Closed { concurrency, ramp_up_ns, max_requests, .. } => {
                let n = (*concurrency as u64).min(*max_requests);
                for c in 0..n {
                    let start = (*ramp_up_ns as u128 * c as u128 / *concurrency as u128) as u64;
                    self.q.schedule(SimTime::from_ns(start), Ev::ClientArrival(c as u32));
                    self.arrivals_pending += 1;
                }
                self.client_think_ns = vec![0; n as usize];
                self.closed_scheduled = n;
            }
        }
        if self.input.timeseries_interval_ns > 0 {
            self.q.schedule(SimTime::from_ns(self.input.timeseries_interval_ns), Ev::Sample);
        }
        if self.obs.scrape_ns > 0 {
            self.q.schedule(SimTime::from_ns(self.obs.scrape_ns), Ev::Scrape);
        }
        while let Some((now, next)) = self.q.pop() {
            self.sync_runs(now);
            let ev = match next {
                // a decode-side worker's step (or run of steps, see [`runs`]) ends
                Next::Timer(d) => {
                    self.on_step_done(now, d);
                    continue;
                }
                Next::Event(ev) => ev,
            };
            match ev {
                Ev::Arrival => {
                    self.arrivals_pending -= 1;
                    self.on_arrival(now, NO_CLIENT)
                }
                Ev::ClientArrival(c) => {
                    self.arrivals_pending -= 1;
                    self.on_arrival(now, c)
                }
                Ev::PrefillDone(w) => self.on_prefill_done(now, w),
                Ev::XferSetup(slot, g) => self.on_xfer_setup(now, slot, g),
                Ev::LinkWake(l, g) => self.on_link_wake(now, l, g),
                Ev::TimeoutCheck => self.on_timeout_check(now),
                Ev::Sample => self.on_sample(now),
                Ev::Scrape => self.on_scrape(now),
                Ev::ReplicaReady(pool, w, g) => self.on_replica_ready(now, pool, w, g),
            }
        }
    }

    fn finish(mut self) -> SimOutput {
        // the events step-by-step simulation would have processed
        self.m.events = self.q.events_processed() + self.runs.virtual_steps;
        for w in &mut self.gen {
            self.m.itl.flush(&mut w.itl_batch);
        }
        self.m.prefill_busy_ns = self.prefill.iter().map(|w| w.busy_ns).sum();
        self.m.decode_busy_ns = self.gen.iter().map(|w| w.busy_ns).sum();
        // replicas are paid for until the run ends
        let end = SimTime::from_ns(self.m.makespan_ns);
        self.m.prefill_replica_ns = self.prefill.iter().map(|w| w.rep.held_until(end)).sum();
        self.m.decode_replica_ns = self.gen.iter().map(|w| w.rep.held_until(end)).sum();
        debug_assert!(self.m.accounted());
        debug_assert_eq!(self.in_system, 0);
        SimOutput {
            metrics: self.m,
            requests: self.records,
            timeseries: self.series,
            scrapes: self.obs.scrapes,
            scale_events: self.scaler.events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::NS_PER_S;
    use crate::spec::deployment::*;

    /// The deployment guide's production deployment (TP 4, 1 prefill + 3 decode workers, or 4 aggregated)
    /// over Dynamo's defaults, with a frontend that never rejects and `kv` for the KV link.
    pub(crate) fn cluster(mode: Mode, kv: KvBackend) -> ClusterConfig {
        let d = ClusterConfig::dynamo_defaults(mode);
        let topology = match d.topology {
            Topology::Disaggregated { prefill, decode, kv_transfer } => Topology::Disaggregated {
                prefill: PrefillPoolConfig { parallelism: Parallelism::tp(4), max_batch_size: 32, ..prefill },
                decode: DecodePoolConfig {
                    replicas: 3,
                    parallelism: Parallelism::tp(4),
                    max_batch_size: 256,
                    kv_cache_memory_fraction: 0.92,
                    ..decode
                },
                kv_transfer: KvTransferConfig { backend: kv, max_in_flight_transfers: 64, ..kv_transfer },
            },
            Topology::Aggregated(a) => Topology::Aggregated(AggregatedPoolConfig {
                replicas: 4,
                parallelism: Parallelism::tp(4),
                max_batch_size: 256,
                kv_cache_memory_fraction: 0.92,
                ..a
            }),
        };
        ClusterConfig { frontend: FrontendConfig { max_concurrent_requests: 100_000, ..d.frontend }, topology, ..d }
    }

    pub(crate) fn poisson(n: usize, rate: f64, isl: u32, osl: u32) -> Traffic {
        let gap = (1e9 / rate) as u64;
        Traffic::Open(Box::new((0..n as u64).map(move |i| RequestSpec {
            arrival_ns: i * gap,
            input_tok: isl,
            output_tok: osl,
            blocks: None,
        })))
    }

    fn sim(c: &ClusterConfig, t: Traffic) -> SimOutput {
        let m = ModelSpec::preset("llama-3.1-70b").unwrap();
        let hw = HardwareProfile::h100_sxm();
        let input = SimInput {
            model: &m,
            hardware: &hw,
            weights_dtype: Dtype::Bf16,
            kv_dtype: Dtype::Bf16,
            cluster: c,
            sla: SlaTargets::default(),
            timeseries_interval_ns: NS_PER_S,
            record_requests: true,
            seed: 1,
            autoscaler: None,
            scrape_interval_ns: 0,
            decode_runs: true,
        };
        simulate(&input, t)
    }

    #[test]
    fn every_request_completes_under_light_load() {
        for mode in [Mode::Disaggregated, Mode::Aggregated] {
            let out = sim(&cluster(mode, KvBackend::Nccl), poisson(500, 5.0, 1000, 100));
            let m = &out.metrics;
            assert_eq!(m.arrived, 500);
            assert_eq!(m.completed, 500, "{mode:?}");
            assert!(m.accounted());
            assert_eq!(out.requests.len(), 500);
            assert!(m.ttft.quantile_ms(0.5) > 0.0);
        }
    }

    /// A prompt as long as the whole step budget, arriving while another sequence decodes: vLLM
    /// chunks it into what the decode leaves and the next step, TensorRT-LLM (chunked context off)
    /// runs it only whole, so it waits until the decoding sequence has finished.
    #[test]
    fn trtllm_runs_a_prompt_whole_and_vllm_chunks_it_after_the_decodes() {
        let ttft_of_second = |backend: Backend| {
            let mut c = cluster(Mode::Aggregated, KvBackend::Nixl);
            c.backend = backend;
            c.topology.aggregated_mut().unwrap().replicas = 1;
            let budget = c.topology.aggregated().unwrap().max_batch_tokens;
            let reqs = vec![
                RequestSpec { arrival_ns: 0, input_tok: 100, output_tok: 300, blocks: None },
                RequestSpec { arrival_ns: NS_PER_S / 2, input_tok: budget, output_tok: 2, blocks: None },
            ];
            let out = sim(&c, Traffic::Open(Box::new(reqs.into_iter())));
            let r: Vec<_> = out.requests.iter().filter(|r| r.id == 1).collect();
            let first = out.requests.iter().find(|r| r.id == 0).unwrap();
            (r[0].first_token_ns.unwrap() - r[0].arrival_ns, first.end_ns)
        };
        let (vllm, _) = ttft_of_second(Backend::Vllm);
        let (trt, first_end) = ttft_of_second(Backend::Trtllm);
        assert!(trt > 3 * vllm, "TensorRT-LLM {trt} ns vs vLLM {vllm} ns");
        assert!(NS_PER_S / 2 + trt > first_end, "it ran only after the decoding sequence ended");
    }

    /// One aggregated TensorRT-LLM worker of release `version` with or without the overlap
    /// scheduler: a 300-token answer from t = 0, and with `second` a short one arriving mid-step at
    /// 0.5 s.
    fn one_trtllm_worker(version: Option<&str>, overlap: bool, second: bool) -> SimOutput {
        let mut c = cluster(Mode::Aggregated, KvBackend::Nixl);
        c.backend_version = version.map(|v| EngineVersion::parse(v).unwrap());
        let a = c.topology.aggregated_mut().unwrap();
        a.replicas = 1;
        a.disable_overlap_scheduler = !overlap;
        let mut reqs = vec![RequestSpec { arrival_ns: 0, input_tok: 100, output_tok: 300, blocks: None }];
        if second {
            reqs.push(RequestSpec { arrival_ns: NS_PER_S / 2, input_tok: 100, output_tok: 2, blocks: None });
        }
        sim(&c, Traffic::Open(Box::new(reqs.into_iter())))
    }

    /// TensorRT-LLM's overlap scheduler fixes step n+1's batch when step n starts: a prompt arriving
    /// mid-step waits one step more than without it, and a sequence that has produced its last
    /// token stays in the batch one step more, though its answer is not delayed.
    #[test]
    fn trtllm_overlap_scheduler_holds_an_arrival_a_step_and_keeps_a_finished_sequence_one_more() {
        let run = |overlap: bool, second: bool| one_trtllm_worker(None, overlap, second);
        let ttft = |out: &SimOutput, id: u64| {
            let r = out.requests.iter().find(|r| r.id == id).unwrap();
            r.first_token_ns.unwrap() - r.arrival_ns
        };
        let (with, without) = (run(true, true), run(false, true));
        // the first sequence decodes alone at about its TPOT per step
        let step_ns = without.metrics.tpot.quantile_ms(0.5) * 1e6;
        let extra = (ttft(&with, 1) - ttft(&without, 1)) as f64;
        assert!((extra - step_ns).abs() < 0.05 * step_ns, "waited {extra} ns more, a step is {step_ns} ns");
        let (with, without) = (run(true, false), run(false, false));
        let end = |out: &SimOutput| out.requests[0].end_ns;
        assert_eq!(end(&with), end(&without), "the answer goes out when its last token is made");
        let busy_more = (with.metrics.decode_busy_ns - without.metrics.decode_busy_ns) as f64;
        assert!((busy_more - step_ns).abs() < 0.05 * step_ns, "one more step: {busy_more} ns, a step is {step_ns} ns");
        assert_eq!(
            (with.metrics.completed, with.metrics.itl.count()),
            (without.metrics.completed, without.metrics.itl.count())
        );
        // the extra step is paid for: a lone worker is busy no longer than it is held
        assert!(with.metrics.decode_busy_ns <= with.metrics.decode_replica_ns, "busy past the time held");
        assert!(with.metrics.decode_replica_ns > without.metrics.decode_replica_ns);
    }

    /// A prompt that arrives during a step and must wait for room joins no earlier than one that
    /// found room: the step after the next, whose batch was fixed after it came.
    #[test]
    fn trtllm_overlap_holds_a_prompt_that_waited_for_room_as_one_that_did_not() {
        let run = |max_batch: u32, b_at: Option<u64>| {
            let mut c = cluster(Mode::Aggregated, KvBackend::Nixl);
            let a = c.topology.aggregated_mut().unwrap();
            a.replicas = 1;
            a.max_batch_size = max_batch;
            // A ends first; C keeps the batch busy throughout
            let mut reqs = vec![
                RequestSpec { arrival_ns: 0, input_tok: 100, output_tok: 20, blocks: None },
                RequestSpec { arrival_ns: 1, input_tok: 100, output_tok: 400, blocks: None },
            ];
            if let Some(t) = b_at {
                reqs.push(RequestSpec { arrival_ns: t, input_tok: 100, output_tok: 2, blocks: None });
            }
            sim(&c, Traffic::Open(Box::new(reqs.into_iter())))
        };
        let base = run(8, None);
        let a_end = base.requests.iter().find(|r| r.id == 0).unwrap().end_ns;
        let step_ns = (base.metrics.tpot.quantile_ms(0.5) * 1e6) as u64;
        // B arrives halfway through A's extra step: with two slots it waits for A's
        let b_at = a_end + step_ns / 2;
        let first = |out: SimOutput| out.requests.iter().find(|r| r.id == 2).unwrap().first_token_ns.unwrap();
        let (room, waited) = (first(run(8, Some(b_at))), first(run(2, Some(b_at))));
        assert_eq!(waited, room, "waiting for room must not let it into a batch fixed before it came");
        assert!(room > a_end + 2 * step_ns, "it joins the step after the next: {room} vs {a_end}");
    }

    /// TensorRT-LLM 1.2's early exit: the overlap scheduler still holds an arrival a step, but a
    /// sequence that reaches its length leaves with its last token.
    #[test]
    fn trtllm_1_2_drops_the_extra_step_and_keeps_the_hold() {
        let run = one_trtllm_worker;
        let busy = |out: SimOutput| out.metrics.decode_busy_ns;
        assert_eq!(busy(run(Some("1.2.0rc6"), true, false)), busy(run(None, false, false)), "no extra step");
        assert!(busy(run(Some("1.0.0rc3"), true, false)) > busy(run(None, false, false)));
        let ttft = |out: SimOutput| {
            let r = out.requests.iter().find(|r| r.id == 1).unwrap();
            r.first_token_ns.unwrap() - r.arrival_ns
        };
        assert!(ttft(run(Some("1.2.0rc6"), true, true)) > ttft(run(Some("1.2.0rc6"), false, true)), "the hold stays");
    }
}
