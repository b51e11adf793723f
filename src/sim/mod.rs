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
use crate::perf::memory::{
    decode_step_tok, memory_plan, PoolMemory, DECODE_RECOMPUTE_CHUNK_TOK, PREFILL_MEMORY_FRACTION,
};
use crate::perf::step::{kv_link_lanes, StepShape, StepTimer, WorkerCost};
use crate::sim::prefix_cache::PrefixCache;
use crate::spec::autoscaler::{AutoscalerConfig, Pool};
use crate::spec::deployment::{Backend, ClusterConfig, Mode, PrefixCacheCapacity, RouterPolicy};
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
    /// Closed loop: `concurrency` clients; each sends its next request when its previous one ends
    /// (after the think time `clients` gives), until `max_requests` have been sent or the clock
    /// passes `stop_at_ns`. `clients` gives each request's lengths and prompt blocks (its arrival
    /// time is the moment it is sent).
    Closed { concurrency: u32, max_requests: u64, stop_at_ns: SimTime, clients: Box<dyn ClosedLoopSource> },
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
mod lifecycle;
pub mod prefix_cache;
mod runs;
pub use crate::spec::scenario::SlaTargets;
mod scale;

const NONE: u64 = u64::MAX;
const NO_WORKER: u32 = u32::MAX;
const NO_CLIENT: u32 = u32::MAX;

use lifecycle::{Req, Stage};

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

/// Where a worker is in its life: only `Serving` workers get new work; `Draining` ones finish what
/// they hold; `Starting` and `Draining` ones hold their GPUs (and are paid for).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Life {
    Off,
    Starting,
    Serving,
    Draining,
}

#[derive(Clone, Copy, Debug)]
struct Replica {
    life: Life,
    /// When it last left `Off`.
    held_since: u64,
    /// When it last became `Serving`.
    serve_since: u64,
    /// GPU-group time held (starting, serving or draining) and time serving or draining, closed
    /// intervals only.
    held_ns: u64,
    serve_ns: u64,
    /// Bumped at every start so a cancelled start's ready event is ignored.
    start_gen: u32,
    /// When it last became `Off`.
    off_since: u64,
}

impl Replica {
    fn serving() -> Replica {
        Replica {
            life: Life::Serving,
            held_since: 0,
            serve_since: 0,
            held_ns: 0,
            serve_ns: 0,
            start_gen: 0,
            off_since: 0,
        }
    }
    fn off() -> Replica {
        Replica { life: Life::Off, ..Replica::serving() }
    }
    fn up(&self) -> bool {
        matches!(self.life, Life::Serving | Life::Draining)
    }
    /// GPU time held up to `t`. A replica that stopped after `t` (draining work of timed-out
    /// requests) is not paid for past `t`.
    fn held_until(&self, t: u64) -> u64 {
        if self.life != Life::Off {
            self.held_ns + t.saturating_sub(self.held_since)
        } else if self.off_since > t {
            self.held_ns.saturating_sub(self.off_since - t.max(self.held_since))
        } else {
            self.held_ns
        }
    }
    fn served_until(&self, t: u64) -> u64 {
        self.serve_ns + if self.up() { t.saturating_sub(self.serve_since) } else { 0 }
    }
    fn set(&mut self, life: Life, now: u64) {
        if self.up() && !matches!(life, Life::Serving | Life::Draining) {
            self.serve_ns += now.saturating_sub(self.serve_since);
        }
        if life == Life::Serving && !self.up() {
            self.serve_since = now;
        }
        if self.life != Life::Off && life == Life::Off {
            self.held_ns += now.saturating_sub(self.held_since);
            self.off_since = now;
        }
        if self.life == Life::Off && life != Life::Off {
            self.held_since = now;
        }
        self.life = life;
    }
}

/// A processor-sharing link: `n` active transfers each progress at `capacity / n`.
/// Tracked in virtual bytes `v` (bytes each active transfer has received), so arrivals and
/// departures cost O(log n).
struct Link {
    bytes_per_ns: f64,
    setup_ns: u64,
    max_in_flight: u32,
    in_flight: u32,
    queue: VecDeque<(u32, u32)>,
    v: f64,
    last_ns: u64,
    active: BinaryHeap<Reverse<(u64, u64, u32, u32)>>,
    wake_gen: u64,
    seq: u64,
}

impl Link {
    fn advance(&mut self, now: u64) {
        let n = self.active.len();
        if n > 0 {
            self.v += (now - self.last_ns) as f64 * self.bytes_per_ns / n as f64;
        }
        self.last_ns = now;
    }
}

struct PrefillWorker {
    busy: bool,
    step_start: u64,
    batch: Vec<(u32, u32)>,
    held_tok: u64,
    cap_tok: u64,
    busy_ns: u64,
    cache: Option<PrefixCache>,
    /// Prompt tokens routed to this worker's own queue and not yet batched (KV-aware routing).
    queued_tok: u64,
    rep: Replica,
}

struct GenWorker {
    busy: bool,
    step_start: u64,
    step: u64,
    cap_tok: u64,
    used_tok: u64,
    running: Vec<u32>,
    running_ctx: u64,
    waiting: VecDeque<(u32, u32)>,
    ready: Vec<u32>,
    prefilling: VecDeque<u32>,
    incoming: u32,
    finish: BinaryHeap<Reverse<(u64, u32, u32, u64)>>,
    busy_ns: u64,
    max_batch: u32,
    chunk_budget_tok: u64,
    step_b: u64,
    /// SGLang's default scheduling: a step either prefills (waiting prompts first) or decodes, never
    /// both (its `enable_mixed_chunk` is off by default).
    prefill_first: bool,
    /// Whether the step in progress advances the running sequences.
    step_decodes: bool,
    step_joiners: Vec<u32>,
    step_locals: Vec<(u32, u32)>,
    zombies: bool,
    cache: Option<PrefixCache>,
    /// Prompt tokens of live requests in `waiting`.
    queued_tok: u64,
    rep: Replica,
    /// End times of the steps of the run in progress (see [`runs`]); empty or one step when the
    /// step in progress is simulated on its own.
    run_ends: Vec<u64>,
    /// The step in progress within `run_ends`.
    run_pos: usize,
    /// End of the step in progress when another step of the run follows it, else `u64::MAX`.
    run_next_ns: u64,
    /// This worker's inter-token latencies not yet in the histogram (its steps take nearly equal
    /// times, the pool's several workers do not).
    itl_batch: HistBatch,
    /// Highest KV use so far (see `note_kv_usage`).
    peak_used_tok: u64,
}

impl GenWorker {
    fn occupied(&self) -> u64 {
        (self.running.len() + self.ready.len() + self.prefilling.len()) as u64 + self.incoming as u64
    }
    fn load(&self) -> u64 {
        self.occupied() + self.waiting.len() as u64
    }
    /// Whether a request needing `need_tok` of KV can join: a batch slot is free and, besides it,
    /// the next token of every sequence in the batch, this one included, still fits (so an admitted
    /// sequence is not preempted by the very step it joins).
    fn admits(&self, need_tok: u64) -> bool {
        let occupied = self.occupied();
        // `+ occupied + 1 <= cap`: the batch with this sequence adds `occupied + 1` tokens next step
        occupied < self.max_batch as u64 && self.used_tok + need_tok + occupied < self.cap_tok
    }
    fn next_virtual_end(&self) -> u64 {
        if self.run_pos + 1 < self.run_ends.len() {
            self.run_ends[self.run_pos]
        } else {
            u64::MAX
        }
    }
}

struct Sim<'a> {
    input: &'a SimInput<'a>,
    /// Autoscaler, scrapes and replica life cycles (see [`scale`]).
    sc: scale::ScaleState,
    decode_runs: bool,
    runs: runs::RunState,
    q: EventQueue<Ev>,
    reqs: Vec<Req>,
    free_slots: Vec<u32>,
    /// One shared FIFO queue, or one per prefill worker when the KV-aware router picks workers.
    prefill_queues: Vec<VecDeque<(u32, u32)>>,
    prefill: Vec<PrefillWorker>,
    rng: rand_pcg::Pcg64,
    /// `prefixCache.capacity: auto`: caches live in the KV memory that requests do not hold.
    auto_cache: bool,
    links: Vec<Link>,
    gen: Vec<GenWorker>,
    prefill_cost: Option<StepTimer>,
    gen_cost: StepTimer,
    kv_bytes_per_tok: u64,
    block_bytes: u64,
    rr_next: usize,
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
    zero_time_rejections: (u64, u64),
    last_sample: SampleMark,
    timeout_ns: u64,
    /// `(deadline, slot, gen)` of requests in arrival order. The timeout is the same for every
    /// request, so deadlines are sorted and one pending event covers them all (instead of one heap
    /// entry per request).
    deadlines: VecDeque<(u64, u32, u32)>,
    timeout_armed: bool,
    max_concurrent: u64,
    max_input: u32,
    max_output: u32,
}

#[derive(Default, Clone, Copy)]
struct SampleMark {
    t: u64,
    arrived: u64,
    completed: u64,
    rejected: u64,
    timed_out: u64,
    out_tok: u64,
    prefill_busy: u64,
    decode_busy: u64,
    prefix_total: u64,
    prefix_hit: u64,
    prefill_serve: u64,
    decode_serve: u64,
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
        let mut sc = scale::ScaleState::new(input);
        let mut prefill = Vec::new();
        let mut links = Vec::new();
        let mut gen = Vec::new();
        let (prefill_cost, gen_cost, max_input, max_output);
        match c.mode {
            Mode::Disaggregated => {
                let p = &c.prefill;
                let d = &c.decode;
                let pplan = memory_plan(
                    model,
                    hw,
                    wd,
                    kd,
                    PoolMemory {
                        tp: p.tp,
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
                        tp: d.tp,
                        fraction: d.kv_cache_memory_fraction,
                        max_step_tok: decode_step_tok(d.max_batch_size),
                        max_seqs: d.max_batch_size as u64,
                    },
                );
                let link_spec = hw.kv_link(c.kv_transfer.backend);
                let lanes = kv_link_lanes(p.tp, d.tp);
                sc.prefill_cap_tok = pplan.kv_capacity_tok;
                sc.link_bytes_per_ns = lanes as f64 * link_spec.bytes_per_s_per_gpu / 1e9;
                sc.link_setup_ns = link_spec.setup_ns;
                sc.gen_cap_tok = dplan.kv_capacity_tok;
                sc.gen_max_batch = d.max_batch_size;
                sc.gen_chunk_tok = DECODE_RECOMPUTE_CHUNK_TOK;
                for _ in 0..p.replicas {
                    prefill.push(sc.new_prefill_worker(c));
                    links.push(sc.new_link(c));
                }
                for _ in 0..d.replicas {
                    gen.push(sc.new_gen_worker(c));
                }
                prefill_cost = Some(StepTimer::new(WorkerCost::new(model, hw, wd, kd, p.tp, c.backend)));
                gen_cost = StepTimer::new(WorkerCost::new(model, hw, wd, kd, d.tp, c.backend));
                max_input = p.max_input_length;
                max_output = d.max_output_length;
                m.prefill_replicas = p.replicas;
                m.decode_replicas = d.replicas;
                m.prefill_gpus = p.replicas * p.tp;
                m.decode_gpus = d.replicas * d.tp;
                m.kv_capacity_tok_per_worker = dplan.kv_capacity_tok;
            }
            Mode::Aggregated => {
                let a = &c.aggregated;
                let plan = memory_plan(
                    model,
                    hw,
                    wd,
                    kd,
                    PoolMemory {
                        tp: a.tp,
                        fraction: a.kv_cache_memory_fraction,
                        max_step_tok: a.max_batch_tokens.max(a.max_batch_size) as u64,
                        max_seqs: a.max_batch_size as u64,
                    },
                );
                sc.gen_cap_tok = plan.kv_capacity_tok;
                sc.gen_max_batch = a.max_batch_size;
                sc.gen_chunk_tok = a.max_batch_tokens as u64;
                for _ in 0..a.replicas {
                    gen.push(sc.new_gen_worker(c));
                }
                prefill_cost = None;
                gen_cost = StepTimer::new(WorkerCost::new(model, hw, wd, kd, a.tp, c.backend));
                max_input = a.max_input_length;
                max_output = a.max_output_length;
                m.decode_replicas = a.replicas;
                m.decode_gpus = a.replicas * a.tp;
                m.kv_capacity_tok_per_worker = plan.kv_capacity_tok;
            }
        }
        m.prefill_replicas_max = prefill.len() as u32;
        m.decode_replicas_max = gen.len() as u32;
        Sim {
            input,
            sc,
            q: EventQueue::new(),
            reqs: Vec::new(),
            free_slots: Vec::new(),
            prefill_queues: (0..if c.router == RouterPolicy::KvAware { prefill.len().max(1) } else { 1 })
                .map(|_| VecDeque::new())
                .collect(),
            prefill,
            decode_runs: input.decode_runs,
            runs: runs::RunState::new(),
            rng: crate::core::rng::rng_stream(input.seed, 0x524f_5554_4552),
            auto_cache: c.prefix_cache == PrefixCacheCapacity::Auto,
            links,
            gen,
            prefill_cost,
            gen_cost,
            kv_bytes_per_tok: model.kv_bytes_per_token(kd),
            block_bytes: c.kv_transfer.block_size_bytes.max(1),
            rr_next: 0,
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
            zero_time_rejections: (0, 0),
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
                    self.q.schedule(r.arrival_ns, Ev::Arrival);
                    self.sc.arrivals_pending += 1;
                }
            }
            Traffic::Closed { concurrency, max_requests, .. } => {
                let n = (*concurrency as u64).min(*max_requests);
                for c in 0..n {
                    self.q.schedule(0, Ev::ClientArrival(c as u32));
                    self.sc.arrivals_pending += 1;
                }
                self.client_think_ns = vec![0; n as usize];
                self.closed_scheduled = n;
            }
        }
        if self.input.timeseries_interval_ns > 0 {
            self.q.schedule(self.input.timeseries_interval_ns, Ev::Sample);
        }
        if self.sc.scrape_ns > 0 {
            self.q.schedule(self.sc.scrape_ns, Ev::Scrape);
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
                    self.sc.arrivals_pending -= 1;
                    self.on_arrival(now, NO_CLIENT)
                }
                Ev::ClientArrival(c) => {
                    self.sc.arrivals_pending -= 1;
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
        let end = self.m.makespan_ns;
        self.m.prefill_replica_ns = self.prefill.iter().map(|w| w.rep.held_until(end)).sum();
        self.m.decode_replica_ns = self.gen.iter().map(|w| w.rep.held_until(end)).sum();
        debug_assert!(self.m.accounted());
        debug_assert_eq!(self.in_system, 0);
        SimOutput {
            metrics: self.m,
            requests: self.records,
            timeseries: self.series,
            scrapes: self.sc.scrapes,
            scale_events: self.sc.events,
        }
    }

    // ---- frontend ----------------------------------------------------------------------------

    fn on_arrival(&mut self, now: u64, client: u32) {
        let spec = match &mut self.traffic {
            Traffic::Open(it) => {
                let Some(spec) = self.pending_open.take() else { return };
                self.pending_open = it.next();
                if let Some(next) = &self.pending_open {
                    self.q.schedule(next.arrival_ns.max(now), Ev::Arrival);
                    self.sc.arrivals_pending += 1;
                }
                spec
            }
            Traffic::Closed { clients, .. } => {
                let (spec, think_ns) = clients.next_request(client);
                self.client_think_ns[client as usize] = think_ns;
                RequestSpec { arrival_ns: now, ..spec }
            }
        };
        self.m.arrived += 1;
        self.sc.arr_in_tok += spec.input_tok as u64;
        self.sc.arr_out_tok += spec.output_tok as u64;
        let id = self.next_id;
        self.next_id += 1;
        let blocks = spec.blocks.clone();
        let output_tok = spec.output_tok.clamp(1, self.max_output.max(1));
        let input_tok = spec.input_tok.max(1);
        let too_long_for_kv = match self.input.cluster.mode {
            Mode::Disaggregated => {
                input_tok as u64 > self.prefill[0].cap_tok
                    || input_tok as u64 + output_tok as u64 + 1 > self.gen[0].cap_tok
            }
            Mode::Aggregated => input_tok as u64 + output_tok as u64 + 1 > self.gen[0].cap_tok,
        };
        if self.in_system >= self.max_concurrent || input_tok > self.max_input || too_long_for_kv {
            self.m.rejected += 1;
            if self.input.record_requests {
                self.records.push(RequestRecord {
                    id,
                    outcome: Outcome::Rejected,
                    arrival_ns: now,
                    input_tok,
                    output_tok,
                    prefill_start_ns: None,
                    prefill_end_ns: None,
                    kv_transfer_start_ns: None,
                    kv_transfer_end_ns: None,
                    first_token_ns: None,
                    end_ns: now,
                    prefill_worker: None,
                    decode_worker: None,
                    preemptions: 0,
                });
            }
            self.m.makespan_ns = self.m.makespan_ns.max(now);
            self.note_rejection(now);
            self.client_next(now, client, false);
            return;
        }
        let slot = self.alloc();
        let r = &mut self.reqs[slot as usize];
        r.id = id;
        r.arrival_ns = now;
        r.input_tok = input_tok;
        r.output_tok = output_tok;
        r.blocks = blocks;
        r.client = client;
        let g = r.gen;
        self.in_system += 1;
        self.deadlines.push_back((now.saturating_add(self.timeout_ns), slot, g));
        match self.input.cluster.mode {
            Mode::Disaggregated => {
                let max_local = self.input.cluster.kv_router.max_local_prefill_tok;
                if max_local > 0 {
                    // conditional disaggregation: the decode worker is chosen first, and prefills
                    // locally when little of the prompt misses its prefix cache
                    // a remote prefill is routed to a decode worker again when it ends, on the loads
                    // of that moment
                    let d = self.route_gen(slot);
                    let uncached = input_tok - self.cached_on_gen(d, slot);
                    if uncached <= max_local {
                        self.enqueue_local(now, d, slot, g);
                        self.arm_timeout();
                        return;
                    }
                }
                let w = self.route_prefill(slot);
                let q = self.queue_of(w);
                self.prefill[w].queued_tok += input_tok as u64;
                self.reqs[slot as usize].enter(Stage::PrefillQueue);
                self.reqs[slot as usize].routed_prefill = w as u32;
                self.prefill_queues[q].push_back((slot, g));
                self.dispatch_prefill(now);
            }
            Mode::Aggregated => {
                let w = self.route_gen(slot);
                self.enqueue_local(now, w, slot, g);
            }
        }
        self.arm_timeout();
    }

    /// Closed loop: the client whose request just ended (`ok`: completed) sends its next one, after
    /// its think time.
    fn client_next(&mut self, now: u64, client: u32, ok: bool) {
        let Traffic::Closed { concurrency, .. } = &self.traffic else { return };
        let gave_up = self.clients_gave_up(*concurrency);
        if let Traffic::Closed { max_requests, stop_at_ns, clients, .. } = &mut self.traffic {
            let think_ns = if ok {
                self.client_think_ns[client as usize]
            } else {
                clients.failed(client);
                0
            };
            let at = now.saturating_add(think_ns);
            if self.closed_scheduled < *max_requests && at < *stop_at_ns && !gave_up {
                self.q.schedule(at, Ev::ClientArrival(client));
                self.sc.arrivals_pending += 1;
                self.closed_scheduled += 1;
            }
        }
    }

    /// A closed loop whose every request is refused (e.g. prompts longer than `maxInputLength`)
    /// would re-send at the same instant forever: after this many refusals in a row without the
    /// clock moving, its clients stop.
    fn clients_gave_up(&self, concurrency: u32) -> bool {
        self.zero_time_rejections.1 > 64 * concurrency.max(1) as u64
    }

    fn note_rejection(&mut self, now: u64) {
        let (t, n) = self.zero_time_rejections;
        self.zero_time_rejections = if t == now { (t, n + 1) } else { (now, 1) };
    }

    /// Queues a request for prefill on decode-side worker `d` (aggregated mode, or conditional
    /// disaggregation).
    fn enqueue_local(&mut self, now: u64, d: usize, slot: u32, g: u32) {
        let r = &mut self.reqs[slot as usize];
        r.enter(Stage::DecodeWaiting);
        r.local_prefill = true;
        r.decode_worker = d as u32;
        self.gen[d].queued_tok += r.input_tok as u64;
        self.gen[d].waiting.push_back((slot, g));
        self.try_admit(now, d);
    }

    /// Tokens of `slot`'s prompt in decode-side worker `d`'s prefix cache.
    fn cached_on_gen(&self, d: usize, slot: u32) -> u32 {
        let r = &self.reqs[slot as usize];
        match (&self.gen[d].cache, &r.blocks) {
            (Some(c), Some(b)) => cached_tokens(c.matched(b), r.input_tok),
            _ => 0,
        }
    }

    /// Picks the decode-side worker (decode pool, or the single aggregated pool) for `slot`.
    fn route_gen(&mut self, slot: u32) -> usize {
        match self.input.cluster.router {
            RouterPolicy::RoundRobin => {
                let n = self.gen.len();
                for _ in 0..n {
                    let w = self.rr_next % n;
                    self.rr_next = self.rr_next.wrapping_add(1);
                    if self.gen[w].rep.life == Life::Serving {
                        return w;
                    }
                }
                unreachable!("at least one decode-side replica serves")
            }
            RouterPolicy::LeastLoaded => {
                let mut best = usize::MAX;
                for (i, w) in self.gen.iter().enumerate() {
                    if w.rep.life == Life::Serving && (best == usize::MAX || w.load() < self.gen[best].load()) {
                        best = i;
                    }
                }
                best
            }
            RouterPolicy::KvAware => {
                let costs: Vec<f64> = (0..self.gen.len())
                    .map(|d| {
                        let w = &self.gen[d];
                        if w.rep.life != Life::Serving {
                            return f64::INFINITY;
                        }
                        let uncached = self.reqs[slot as usize].input_tok - self.cached_on_gen(d, slot);
                        let load = (w.used_tok + w.queued_tok) as f64 / PREFIX_BLOCK_TOK as f64;
                        self.kv_cost(uncached, load)
                    })
                    .collect();
                self.pick(&costs)
            }
        }
    }

    /// Picks the prefill worker for `slot` (KV-aware routing; otherwise the shared queue decides).
    fn route_prefill(&mut self, slot: u32) -> usize {
        if self.input.cluster.router != RouterPolicy::KvAware {
            return 0;
        }
        let r = &self.reqs[slot as usize];
        let costs: Vec<f64> = self
            .prefill
            .iter()
            .map(|w| {
                if w.rep.life != Life::Serving {
                    return f64::INFINITY;
                }
                let cached = match (&w.cache, &r.blocks) {
                    (Some(c), Some(b)) => cached_tokens(c.matched(b), r.input_tok),
                    _ => 0,
                };
                let load = (w.queued_tok + w.held_tok) as f64 / PREFIX_BLOCK_TOK as f64;
                self.kv_cost(r.input_tok - cached, load)
            })
            .collect();
        self.pick(&costs)
    }

    /// Dynamo's KV router cost: `overlap_weight x blocks to prefill + load in blocks`.
    fn kv_cost(&self, uncached_tok: u32, load_blocks: f64) -> f64 {
        let w = self.input.cluster.kv_router.overlap_weight;
        w * uncached_tok.div_ceil(PREFIX_BLOCK_TOK) as f64 + load_blocks
    }

    /// The lowest cost (first on ties), or at a temperature a softmax draw over the costs
    /// normalised to [0, 1].
    fn pick(&mut self, costs: &[f64]) -> usize {
        let t = self.input.cluster.kv_router.temperature;
        // replicas not serving cost infinity: never picked
        let (lo, hi) = costs
            .iter()
            .filter(|c| c.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &c| (a.min(c), b.max(c)));
        let best = costs.iter().position(|&c| c == lo).unwrap_or(0);
        if t <= 0.0 || hi <= lo {
            return best;
        }
        let weights: Vec<f64> =
            costs.iter().map(|&c| if c.is_finite() { (-(c - lo) / (hi - lo) / t).exp() } else { 0.0 }).collect();
        let total: f64 = weights.iter().sum();
        let mut x = self.rng.random::<f64>() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        best
    }

    fn queue_of(&self, prefill_worker: usize) -> usize {
        if self.prefill_queues.len() > 1 {
            prefill_worker
        } else {
            0
        }
    }

    /// Counts a request's first prefill against the prefix-hit ratio.
    fn note_prefix(&mut self, slot: u32, cached_tok: u32) {
        if let Some(b) = &self.reqs[slot as usize].blocks {
            self.m.prefix_blocks_total += b.len() as u64;
            self.m.prefix_blocks_hit += (cached_tok as u64).div_ceil(PREFIX_BLOCK_TOK as u64).min(b.len() as u64);
        }
    }

    /// Keeps one `TimeoutCheck` pending at the earliest deadline of a request still alive.
    fn arm_timeout(&mut self) {
        if self.timeout_armed {
            return;
        }
        while let Some(&(deadline, slot, g)) = self.deadlines.front() {
            if self.alive(slot, g) {
                self.q.schedule(deadline, Ev::TimeoutCheck);
                self.timeout_armed = true;
                return;
            }
            self.deadlines.pop_front();
        }
    }

    fn on_timeout_check(&mut self, now: u64) {
        self.timeout_armed = false;
        while let Some(&(deadline, slot, g)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            self.on_timeout(now, slot, g);
        }
        self.arm_timeout();
    }

    fn on_timeout(&mut self, now: u64, slot: u32, g: u32) {
        if !self.alive(slot, g) {
            return;
        }
        self.end_request(now, slot, Outcome::TimedOut);
        let stage = self.reqs[slot as usize].stage();
        match stage {
            // Entries left in queues are skipped later by their stale generation.
            Stage::PrefillQueue => {
                let r = &self.reqs[slot as usize];
                let (w, tok) = (r.routed_prefill as usize, r.input_tok as u64);
                if w < self.prefill.len() {
                    self.prefill[w].queued_tok = self.prefill[w].queued_tok.saturating_sub(tok);
                }
                self.free(slot);
            }
            Stage::DecodeWaiting => {
                let w = self.reqs[slot as usize].decode_worker as usize;
                let tok = self.reqs[slot as usize].input_tok as u64;
                self.gen[w].queued_tok = self.gen[w].queued_tok.saturating_sub(tok);
                if self.release_prefill_hold(slot) {
                    self.dispatch_prefill(now);
                }
                self.free(slot);
                // it may have been the head of the queue that did not fit
                self.try_admit(now, w);
            }
            // The batch or transfer in progress finishes; its resources are released then.
            Stage::Prefilling | Stage::Transferring => self.reqs[slot as usize].cancelled = true,
            Stage::Ready | Stage::LocalPrefill | Stage::Running => {
                let w = self.reqs[slot as usize].decode_worker as usize;
                self.reqs[slot as usize].cancelled = true;
                self.gen[w].zombies = true;
                // the next step start purges it
                self.cut_run(w);
                if !self.gen[w].busy {
                    self.purge_zombies(w);
                    self.try_admit(now, w);
                }
            }
            Stage::Free => unreachable!("alive request in Free stage"),
        }
    }

    // ---- prefill pool ------------------------------------------------------------------------

    fn dispatch_prefill(&mut self, now: u64) {
        let own_queues = self.prefill_queues.len() > 1;
        for w in 0..self.prefill.len() {
            // a draining worker still empties its own queue, never the shared one
            let takes = match self.prefill[w].rep.life {
                Life::Serving => true,
                Life::Draining => own_queues,
                Life::Starting | Life::Off => false,
            };
            if takes && !self.prefill[w].busy && !self.prefill_queues[self.queue_of(w)].is_empty() {
                self.start_prefill_batch(now, w);
            }
        }
    }

    fn start_prefill_batch(&mut self, now: u64, w: usize) {
        let cfg = &self.input.cluster.prefill;
        let mut batch = std::mem::take(&mut self.prefill[w].batch);
        batch.clear();
        let mut shape = StepShape::default();
        let mut tok: u64 = 0;
        let mut computed: u64 = 0;
        let qi = self.queue_of(w);
        while let Some(&(slot, g)) = self.prefill_queues[qi].front() {
            if !self.alive(slot, g) {
                self.prefill_queues[qi].pop_front();
                continue;
            }
            let isl = self.reqs[slot as usize].input_tok as u64;
            let cached = match (&self.prefill[w].cache, &self.reqs[slot as usize].blocks) {
                (Some(c), Some(b)) => cached_tokens(c.matched(b), isl as u32) as u64,
                _ => 0,
            };
            if batch.len() as u32 >= cfg.max_batch_size
                || (!batch.is_empty() && computed + isl - cached > cfg.max_batch_tokens as u64)
                || self.prefill[w].held_tok + tok + isl > self.prefill[w].cap_tok
            {
                break;
            }
            self.prefill_queues[qi].pop_front();
            tok += isl;
            computed += isl - cached;
            shape.add_prefill(isl - cached, cached);
            let routed = self.reqs[slot as usize].routed_prefill as usize;
            if routed < self.prefill.len() {
                self.prefill[routed].queued_tok = self.prefill[routed].queued_tok.saturating_sub(isl);
            }
            self.note_prefix(slot, cached as u32);
            let r = &mut self.reqs[slot as usize];
            r.enter(Stage::Prefilling);
            r.prefill_worker = w as u32;
            r.t_prefill_start = now;
            r.held_prefill_tok = isl as u32;
            self.m.prefill_queue.record(now - r.arrival_ns);
            batch.push((slot, g));
        }
        if batch.is_empty() {
            self.prefill[w].batch = batch;
            return;
        }
        let dur = self.prefill_cost.as_mut().expect("disaggregated mode has a prefill cost").step_ns(&shape);
        let pw = &mut self.prefill[w];
        pw.held_tok += tok;
        fit_cache_to_free(&mut pw.cache, self.auto_cache, pw.cap_tok, pw.held_tok);
        pw.busy = true;
        pw.step_start = now;
        pw.batch = batch;
        self.q.schedule(now + dur, Ev::PrefillDone(w as u32));
    }

    fn on_prefill_done(&mut self, now: u64, w: u32) {
        let w = w as usize;
        let pw = &mut self.prefill[w];
        pw.busy_ns += now - pw.step_start;
        // the worker stays busy until its batch is handed on, so nothing starts a batch on it meanwhile
        let batch = std::mem::take(&mut pw.batch);
        for &(slot, g) in &batch {
            if self.reqs[slot as usize].gen != g {
                continue;
            }
            // the prompt's KV now exists on this worker (timed out or not): later prompts can reuse it
            if let (Some(c), Some(b)) = (&mut self.prefill[w].cache, &self.reqs[slot as usize].blocks) {
                c.insert(b);
            }
            if self.reqs[slot as usize].cancelled {
                self.release_prefill_hold(slot);
                self.free(slot);
                continue;
            }
            self.sc.prefill_served += 1;
            let d = match self.reqs[slot as usize].decode_worker {
                NO_WORKER => self.route_gen(slot),
                d => d as usize,
            };
            let r = &mut self.reqs[slot as usize];
            r.t_prefill_end = now;
            r.enter(Stage::DecodeWaiting);
            r.decode_worker = d as u32;
            self.gen[d].queued_tok += r.input_tok as u64;
            self.gen[d].waiting.push_back((slot, g));
            self.try_admit(now, d);
        }
        self.prefill[w].batch = batch;
        self.prefill[w].busy = false;
        self.dispatch_prefill(now);
        self.check_drained_prefill(now, w);
    }

    /// Frees the prompt KV a prefill worker still holds for `slot`. Returns whether it freed any;
    /// the caller dispatches waiting prefills once it is done with its own bookkeeping (starting a
    /// batch from in here would race with the batch being finished).
    fn release_prefill_hold(&mut self, slot: u32) -> bool {
        let r = &mut self.reqs[slot as usize];
        if r.held_prefill_tok == 0 {
            return false;
        }
        let pw = &mut self.prefill[r.prefill_worker as usize];
        pw.held_tok -= r.held_prefill_tok as u64;
        r.held_prefill_tok = 0;
        true
    }

    // ---- KV transfer -------------------------------------------------------------------------

    /// Starts the transfer now if the link has a free slot and nobody queued before it, else queues.
    fn start_transfer(&mut self, now: u64, slot: u32) {
        let r = &self.reqs[slot as usize];
        let l = r.prefill_worker as usize;
        let g = r.gen;
        let link = &mut self.links[l];
        if link.in_flight < link.max_in_flight && link.queue.is_empty() {
            self.begin_transfer(now, slot);
        } else {
            link.queue.push_back((slot, g));
        }
    }

    fn begin_transfer(&mut self, now: u64, slot: u32) {
        let r = &self.reqs[slot as usize];
        let link = &mut self.links[r.prefill_worker as usize];
        link.in_flight += 1;
        let at = now + link.setup_ns;
        self.q.schedule(at, Ev::XferSetup(slot, r.gen));
    }

    fn transfer_bytes(&self, input_tok: u32) -> u64 {
        let bytes = input_tok as u64 * self.kv_bytes_per_tok;
        bytes.div_ceil(self.block_bytes) * self.block_bytes
    }

    fn on_xfer_setup(&mut self, now: u64, slot: u32, g: u32) {
        debug_assert_eq!(self.reqs[slot as usize].gen, g);
        if self.reqs[slot as usize].cancelled {
            // timed out during the handshake: no bytes are sent
            let l = self.reqs[slot as usize].prefill_worker as usize;
            self.links[l].in_flight -= 1;
            self.on_transfer_done(now, slot, g);
            self.start_queued_transfers(now, l);
            return;
        }
        let bytes = self.transfer_bytes(self.reqs[slot as usize].xfer_tok) as f64;
        let l = self.reqs[slot as usize].prefill_worker;
        let link = &mut self.links[l as usize];
        link.advance(now);
        let finish_v = link.v + bytes;
        link.seq += 1;
        link.active.push(Reverse((finish_v.to_bits(), link.seq, slot, g)));
        self.schedule_link_wake(now, l);
    }

    fn schedule_link_wake(&mut self, now: u64, l: u32) {
        let link = &mut self.links[l as usize];
        link.wake_gen += 1;
        if let Some(Reverse((fv, ..))) = link.active.peek() {
            let left = (f64::from_bits(*fv) - link.v).max(0.0);
            let dt = (left * link.active.len() as f64 / link.bytes_per_ns).ceil() as u64;
            let g = link.wake_gen;
            self.q.schedule(now + dt, Ev::LinkWake(l, g));
        }
    }

    fn on_link_wake(&mut self, now: u64, l: u32, g: u64) {
        if self.links[l as usize].wake_gen != g {
            return;
        }
        self.links[l as usize].advance(now);
        let mut done = std::mem::take(&mut self.link_done);
        {
            let link = &mut self.links[l as usize];
            while let Some(&Reverse((fv, _, slot, rg))) = link.active.peek() {
                // a byte of slack absorbs float rounding of the wake time
                if f64::from_bits(fv) > link.v + 1.0 {
                    break;
                }
                link.active.pop();
                link.in_flight -= 1;
                done.push((slot, rg));
            }
            if link.active.is_empty() {
                link.v = 0.0;
            }
        }
        for &(slot, rg) in &done {
            self.on_transfer_done(now, slot, rg);
        }
        done.clear();
        self.link_done = done;
        self.start_queued_transfers(now, l as usize);
        self.schedule_link_wake(now, l);
    }

    fn start_queued_transfers(&mut self, now: u64, l: usize) {
        while self.links[l].in_flight < self.links[l].max_in_flight {
            let Some((slot, g)) = self.links[l].queue.pop_front() else { break };
            debug_assert_eq!(self.reqs[slot as usize].gen, g);
            if self.reqs[slot as usize].cancelled {
                // timed out while queued for the link: nothing moved, release what it held
                self.on_transfer_done(now, slot, g);
                continue;
            }
            self.begin_transfer(now, slot);
        }
    }

    fn on_transfer_done(&mut self, now: u64, slot: u32, g: u32) {
        debug_assert_eq!(self.reqs[slot as usize].gen, g);
        if self.release_prefill_hold(slot) {
            self.dispatch_prefill(now);
            self.check_drained_prefill(now, self.reqs[slot as usize].prefill_worker as usize);
        }
        let r = &mut self.reqs[slot as usize];
        let d = r.decode_worker as usize;
        self.gen[d].incoming -= 1;
        if r.cancelled {
            self.gen[d].used_tok -= r.reserved_tok;
            self.free(slot);
            self.try_admit(now, d);
            return;
        }
        r.t_xfer_end = now;
        r.enter(Stage::Ready);
        if let (Some(c), Some(b)) = (&mut self.gen[d].cache, &r.blocks) {
            c.insert(b);
        }
        self.m.kv_transfer.record(now - r.t_xfer_start);
        self.sc.note_kv_transfer(now - r.t_xfer_start);
        // it joins at the next step start
        self.cut_run(d);
        self.gen[d].ready.push(slot);
        self.maybe_start_step(now, d);
    }

    // ---- decode / aggregated workers ---------------------------------------------------------

    /// Admits waiting requests in FIFO order while a batch slot and their KV fit.
    fn try_admit(&mut self, now: u64, d: usize) {
        if !self.gen[d].busy {
            self.purge_zombies(d);
        }
        while let Some(&(slot, g)) = self.gen[d].waiting.front() {
            if !self.alive(slot, g) {
                self.gen[d].waiting.pop_front();
                continue;
            }
            let need = self.reqs[slot as usize].admission_need_tok();
            if !self.gen[d].admits(need) {
                break;
            }
            self.gen[d].waiting.pop_front();
            let first = !self.reqs[slot as usize].admitted_once;
            // local prefills skip their cached prefix; transfers skip the blocks this decode worker
            // already holds (the decode worker allocates, then pulls only what it lacks)
            let cached = if first { self.cached_on_gen(d, slot) } else { 0 };
            if first && self.reqs[slot as usize].local_prefill {
                self.note_prefix(slot, cached);
            }
            if !self.reqs[slot as usize].local_prefill {
                self.reqs[slot as usize].xfer_tok = self.reqs[slot as usize].input_tok - cached;
            }
            let w = &mut self.gen[d];
            w.used_tok += need;
            fit_cache_to_free(&mut w.cache, self.auto_cache, w.cap_tok, w.used_tok);
            w.queued_tok = w.queued_tok.saturating_sub(self.reqs[slot as usize].input_tok as u64);
            note_kv_usage(&mut self.m, w);
            let r = &mut self.reqs[slot as usize];
            r.reserved_tok = need;
            if first {
                r.admitted_once = true;
                if r.local_prefill {
                    self.m.prefill_queue.record(now - r.arrival_ns);
                } else {
                    self.m.decode_queue.record(now - r.t_prefill_end);
                }
            }
            if r.local_prefill {
                let cached = if first { cached } else { 0 };
                r.enter(Stage::LocalPrefill);
                r.prefill_left = r.input_tok + r.generated - cached;
                r.prefill_done = cached;
                if r.t_prefill_start == NONE {
                    r.t_prefill_start = now;
                }
                w.prefilling.push_back(slot);
                // it prefills from the next step on
                self.cut_run(d);
            } else {
                r.enter(Stage::Transferring);
                r.t_xfer_start = now;
                w.incoming += 1;
                self.fit_run_to_kv(d);
                self.start_transfer(now, slot);
            }
        }
        self.maybe_start_step(now, d);
    }

    fn purge_zombies(&mut self, d: usize) {
        if !self.gen[d].zombies {
            return;
        }
        let step = self.gen[d].step;
        let reqs = &mut self.reqs;
        let w = &mut self.gen[d];
        w.zombies = false;
        let mut freed = Vec::new();
        let mut i = 0;
        while i < w.running.len() {
            let slot = w.running[i];
            let r = &reqs[slot as usize];
            if r.cancelled {
                let ctx = r.input_tok as u64 + r.generated as u64 + (step - r.join_step);
                w.used_tok -= ctx;
                w.running_ctx -= ctx;
                w.running.swap_remove(i);
                if i < w.running.len() {
                    reqs[w.running[i] as usize].run_idx = i as u32;
                }
                freed.push(slot);
            } else {
                i += 1;
            }
        }
        w.ready.retain(|&slot| {
            let r = &reqs[slot as usize];
            if r.cancelled {
                w.used_tok -= r.reserved_tok;
                freed.push(slot);
            }
            !r.cancelled
        });
        w.prefilling.retain(|&slot| {
            let r = &reqs[slot as usize];
            if r.cancelled {
                w.used_tok -= r.reserved_tok;
                freed.push(slot);
            }
            !r.cancelled
        });
        for slot in freed {
            self.free(slot);
        }
    }

    fn maybe_start_step(&mut self, now: u64, d: usize) {
        if self.gen[d].busy {
            return;
        }
        self.purge_zombies(d);
        let w = &self.gen[d];
        if w.running.is_empty() && w.ready.is_empty() && w.prefilling.is_empty() {
            return;
        }
        let reqs = &mut self.reqs;
        let w = &mut self.gen[d];
        w.step_joiners.clear();
        w.step_locals.clear();
        // sequences whose KV arrived join the batch
        for i in 0..w.ready.len() {
            let slot = w.ready[i];
            let r = &mut reqs[slot as usize];
            r.enter(Stage::Running);
            r.join_step = w.step;
            r.generated = 0;
            r.run_idx = w.running.len() as u32;
            self.admit_seq += 1;
            r.admit_seq = self.admit_seq;
            w.running.push(slot);
            w.running_ctx += r.input_tok as u64;
            w.finish.push(Reverse((w.step + r.output_tok as u64, slot, r.gen, w.step)));
            w.step_joiners.push(slot);
        }
        w.ready.clear();
        // every running sequence writes one more token of KV this step; preempt newest-first
        // until that fits (vLLM's recompute preemption)
        while w.used_tok + w.running.len() as u64 > w.cap_tok && !w.running.is_empty() {
            let (idx, _) = w
                .running
                .iter()
                .enumerate()
                .max_by_key(|(_, &s)| reqs[s as usize].admit_seq)
                .expect("running is not empty");
            let slot = w.running.swap_remove(idx);
            if idx < w.running.len() {
                reqs[w.running[idx] as usize].run_idx = idx as u32;
            }
            let r = &mut reqs[slot as usize];
            let generated = r.generated + (w.step - r.join_step) as u32;
            let ctx = r.input_tok as u64 + generated as u64;
            w.used_tok -= ctx;
            w.running_ctx -= ctx;
            r.generated = generated;
            r.local_prefill = true;
            r.enter(Stage::DecodeWaiting);
            r.preemptions += 1;
            self.m.preemptions += 1;
            w.step_joiners.retain(|&s| s != slot);
            w.queued_tok += r.input_tok as u64;
            w.waiting.push_front((slot, r.gen));
        }
        let decodes = !w.prefill_first || w.prefilling.is_empty();
        let b = if decodes { w.running.len() as u64 } else { 0 };
        w.used_tok += b;
        fit_cache_to_free(&mut w.cache, self.auto_cache, w.cap_tok, w.used_tok);
        debug_assert!(w.used_tok <= w.cap_tok, "KV over capacity");
        let ctx = if decodes { w.running_ctx } else { 0 };
        let mut shape = StepShape { decode_seqs: b, decode_ctx_tok: ctx, ..Default::default() };
        let mut budget =
            if w.chunk_budget_tok == u64::MAX { u64::MAX } else { w.chunk_budget_tok.saturating_sub(b).max(1) };
        for &slot in w.prefilling.iter() {
            if budget == 0 {
                break;
            }
            let r = &reqs[slot as usize];
            let c = (r.prefill_left as u64).min(budget);
            shape.add_prefill(c, r.prefill_done as u64);
            budget -= c;
            w.step_locals.push((slot, c as u32));
        }
        note_kv_usage(&mut self.m, w);
        let dur = self.gen_cost.step_ns(&shape);
        w.busy = true;
        w.step_start = now;
        w.step_b = b;
        w.step_decodes = decodes;
        let end = self.plan_run(now, d, dur);
        debug_assert!(!self.q.timer_pending(d as u32), "worker {d} starts a step before its last one ended");
        self.schedule_step_done(d, end);
    }

    fn on_step_done(&mut self, now: u64, d: u32) {
        let d = d as usize;
        let w = &mut self.gen[d];
        let dur = now - w.step_start;
        w.busy = false;
        w.busy_ns += dur;
        if w.step_decodes {
            w.step += 1;
        }
        w.running_ctx += w.step_b;
        let gaps = w.step_b - w.step_joiners.len() as u64;
        note_step_itl(&mut self.m, &mut self.sc, &mut w.itl_batch, dur, gaps);
        for &slot in &w.step_joiners {
            note_first_token(&mut self.reqs[slot as usize], now, &mut self.m, &mut self.sc);
        }
        // local prefills that completed this step produce their next token and join the batch
        let mut finished_now = Vec::new();
        for i in 0..self.gen[d].step_locals.len() {
            let (slot, c) = self.gen[d].step_locals[i];
            let step = self.gen[d].step;
            let r = &mut self.reqs[slot as usize];
            r.prefill_left -= c;
            r.prefill_done += c;
            if r.prefill_left > 0 {
                continue;
            }
            let w = &mut self.gen[d];
            let pos = w.prefilling.iter().position(|&s| s == slot).expect("local prefill is queued");
            w.prefilling.remove(pos);
            if let (Some(c), Some(b)) = (&mut w.cache, &r.blocks) {
                c.insert(b);
            }
            r.generated += 1;
            if r.t_prefill_end == NONE {
                r.t_prefill_end = now;
            }
            note_first_token(r, now, &mut self.m, &mut self.sc);
            r.enter(Stage::Running);
            r.join_step = step;
            r.run_idx = w.running.len() as u32;
            self.admit_seq += 1;
            r.admit_seq = self.admit_seq;
            w.running.push(slot);
            w.running_ctx += r.input_tok as u64 + r.generated as u64;
            if r.cancelled {
                // timed out: stays a zombie in the batch until the purge frees it
            } else if r.generated >= r.output_tok {
                finished_now.push(slot);
            } else {
                w.finish.push(Reverse((step + (r.output_tok - r.generated) as u64, slot, r.gen, step)));
            }
        }
        for slot in finished_now {
            self.complete(now, d, slot);
        }
        // sequences that produced their last token
        loop {
            let w = &mut self.gen[d];
            let Some(&Reverse((fs, slot, g, join))) = w.finish.peek() else { break };
            if fs > w.step {
                break;
            }
            w.finish.pop();
            let r = &self.reqs[slot as usize];
            if r.gen != g || r.stage() != Stage::Running || r.join_step != join || r.cancelled {
                continue;
            }
            self.complete(now, d, slot);
        }
        self.try_admit(now, d);
        self.check_drained_gen(now, d);
    }

    fn complete(&mut self, now: u64, d: usize, slot: u32) {
        let w = &mut self.gen[d];
        let r = &self.reqs[slot as usize];
        let idx = r.run_idx as usize;
        debug_assert_eq!(w.running[idx], slot);
        let ctx = r.input_tok as u64 + r.output_tok as u64;
        w.used_tok -= ctx;
        w.running_ctx -= ctx;
        w.running.swap_remove(idx);
        if idx < w.running.len() {
            self.reqs[w.running[idx] as usize].run_idx = idx as u32;
        }
        self.end_request(now, slot, Outcome::Completed);
        self.free(slot);
    }

    // ---- time series -------------------------------------------------------------------------

    fn on_sample(&mut self, now: u64) {
        let prev = self.last_sample;
        // busy time up to now, including steps still running, so no interval gets more than its length
        let prefill_busy: u64 =
            self.prefill.iter().map(|w| w.busy_ns + if w.busy { now - w.step_start } else { 0 }).sum();
        let decode_busy: u64 = self.gen.iter().map(|w| w.busy_ns + if w.busy { now - w.step_start } else { 0 }).sum();
        let prefill_serve: u64 = self.prefill.iter().map(|w| w.rep.served_until(now)).sum();
        let decode_serve: u64 = self.gen.iter().map(|w| w.rep.served_until(now)).sum();
        let dt = (now - prev.t).max(1) as f64;
        let kv_bytes = |tok: u64| tok * self.kv_bytes_per_tok;
        let (p_start, p_serve, p_drain) = self.replica_counts(Pool::Prefill);
        let (d_start, d_serve, d_drain) = self.replica_counts(Pool::Decode);
        let ms = |v: Option<u64>| v.map_or(0.0, |ns| ns as f64 / 1e6);
        let ttft_p99_ms = ms(scale::p99(self.sc.ts_ttft.drain(..)));
        let tpot_p99_ms = ms(scale::p99(self.sc.ts_tpot.drain(..)));
        let (kv_sum, kv_n) = std::mem::take(&mut self.sc.ts_kv);
        let row = TimeseriesRow {
            time_s: now as f64 / 1e9,
            arrivals: self.m.arrived - prev.arrived,
            completed: self.m.completed - prev.completed,
            rejected: self.m.rejected - prev.rejected,
            timed_out: self.m.timed_out - prev.timed_out,
            in_flight_requests: self.in_system,
            prefill_queue_depth: self.prefill_queues.iter().map(|q| q.len() as u64).sum(),
            prefix_hit_ratio: {
                let total = self.m.prefix_blocks_total - prev.prefix_total;
                if total > 0 {
                    (self.m.prefix_blocks_hit - prev.prefix_hit) as f64 / total as f64
                } else {
                    0.0
                }
            },
            decode_waiting: self.gen.iter().map(|w| w.waiting.len() as u64).sum(),
            decode_batch_size: self.gen.iter().map(|w| w.running.len() as u64).sum(),
            kv_transfers_in_flight: self.links.iter().map(|l| l.in_flight as u64 + l.queue.len() as u64).sum(),
            kv_cache_usage_bytes: kv_bytes(self.gen.iter().map(|w| w.used_tok).sum()),
            kv_cache_capacity_bytes: kv_bytes(self.gen.iter().filter(|w| w.rep.up()).map(|w| w.cap_tok).sum()),
            output_tok_s: (self.m.output_tok_completed - prev.out_tok) as f64 / (dt / 1e9),
            prefill_utilization: if prefill_serve > prev.prefill_serve {
                (prefill_busy - prev.prefill_busy) as f64 / (prefill_serve - prev.prefill_serve) as f64
            } else {
                0.0
            },
            decode_utilization: (decode_busy - prev.decode_busy) as f64
                / (decode_serve - prev.decode_serve).max(1) as f64,
            arrival_rate_s: (self.m.arrived - prev.arrived) as f64 / (dt / 1e9),
            ttft_p99_ms,
            tpot_p99_ms,
            kv_transfer_ms: if kv_n > 0 { kv_sum as f64 / kv_n as f64 / 1e6 } else { 0.0 },
            decode_batch_utilization: self.batch_utilization(Pool::Decode),
            prefill_replicas_desired: self.sc.desired[0],
            prefill_replicas_starting: p_start,
            prefill_replicas_serving: p_serve + p_drain,
            decode_replicas_desired: self.sc.desired[1],
            decode_replicas_starting: d_start,
            decode_replicas_serving: d_serve + d_drain,
        };
        self.series.push(row);
        self.last_sample = SampleMark {
            t: now,
            arrived: self.m.arrived,
            completed: self.m.completed,
            rejected: self.m.rejected,
            timed_out: self.m.timed_out,
            out_tok: self.m.output_tok_completed,
            prefill_busy,
            decode_busy,
            prefix_total: self.m.prefix_blocks_total,
            prefix_hit: self.m.prefix_blocks_hit,
            prefill_serve,
            decode_serve,
        };
        if self.work_left() {
            self.q.schedule(now + self.input.timeseries_interval_ns, Ev::Sample);
        }
    }
}

/// A step's inter-token latency, `gaps` times (the sequences that were already running), into the
/// summary's histogram (batched per worker) and the scraped one.
fn note_step_itl(m: &mut RunMetrics, sc: &mut scale::ScaleState, batch: &mut HistBatch, dur: u64, gaps: u64) {
    m.itl.record_batched(batch, dur, gaps);
    sc.note_itl(dur, gaps);
}

/// `r`'s first token came at `now` (unless it already had one, or timed out).
fn note_first_token(r: &mut Req, now: u64, m: &mut RunMetrics, sc: &mut scale::ScaleState) {
    if r.t_first == NONE && !r.cancelled {
        r.t_first = now;
        m.ttft.record(now - r.arrival_ns);
        sc.note_ttft(now, now - r.arrival_ns);
    }
}

/// KV use only grows at admission and at step start, so checking there catches every peak.
#[inline]
fn note_kv_usage(m: &mut RunMetrics, w: &mut GenWorker) {
    // the worker's capacity is fixed, so only a new peak of its own can raise the pool's
    if w.used_tok > w.peak_used_tok {
        w.peak_used_tok = w.used_tok;
        let usage = w.used_tok as f64 / w.cap_tok.max(1) as f64;
        if usage > m.kv_peak_usage {
            m.kv_peak_usage = usage;
        }
    }
}

/// With `auto` capacity a prefix cache holds only blocks of KV memory that live requests do not use:
/// when they grow, cached blocks are evicted first.
fn fit_cache_to_free(cache: &mut Option<PrefixCache>, auto: bool, cap_tok: u64, used_tok: u64) {
    if let (true, Some(c)) = (auto, cache) {
        let free_blocks = cap_tok.saturating_sub(used_tok) / PREFIX_BLOCK_TOK as u64;
        if c.len() as u64 > free_blocks {
            c.shrink_to(free_blocks);
        }
    }
}

fn new_cache(capacity: PrefixCacheCapacity, kv_capacity_tok: u64) -> Option<PrefixCache> {
    match capacity {
        PrefixCacheCapacity::Off => None,
        PrefixCacheCapacity::Auto => Some(PrefixCache::new(Some(kv_capacity_tok / PREFIX_BLOCK_TOK as u64))),
        PrefixCacheCapacity::Unbounded => Some(PrefixCache::new(None)),
        PrefixCacheCapacity::Blocks(n) => Some(PrefixCache::new(Some(n))),
    }
}

/// Tokens of a `input_tok`-token prompt served from a cache holding its first `matched` blocks; at
/// least the last token is always computed (its logits give the first output token).
fn cached_tokens(matched: usize, input_tok: u32) -> u32 {
    (matched as u64 * PREFIX_BLOCK_TOK as u64).min(input_tok.saturating_sub(1) as u64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::NS_PER_S;
    use crate::spec::deployment::*;

    pub(crate) fn cluster(mode: Mode, kv: KvBackend) -> ClusterConfig {
        ClusterConfig {
            mode,
            backend: Backend::Trtllm,
            frontend: FrontendConfig { max_concurrent_requests: 100_000, request_timeout_ns: 600 * NS_PER_S },
            router: RouterPolicy::RoundRobin,
            kv_router: KvRouterConfig::default(),
            prefix_cache: PrefixCacheCapacity::Auto,
            prefill: PrefillPoolConfig {
                replicas: 1,
                tp: 4,
                max_batch_size: 32,
                max_batch_tokens: 16384,
                max_input_length: 131072,
            },
            decode: DecodePoolConfig {
                replicas: 3,
                tp: 4,
                max_batch_size: 256,
                max_output_length: 131072,
                kv_cache_memory_fraction: 0.92,
            },
            aggregated: AggregatedPoolConfig {
                replicas: 4,
                tp: 4,
                max_batch_size: 256,
                max_batch_tokens: 8192,
                max_input_length: 131072,
                max_output_length: 131072,
                kv_cache_memory_fraction: 0.92,
            },
            kv_transfer: KvTransferConfig {
                backend: kv,
                compression: Compression::None,
                max_in_flight_transfers: 64,
                block_size_bytes: 512 * 1024,
            },
        }
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
}
