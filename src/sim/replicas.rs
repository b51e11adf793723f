//! Replica life cycles: off, starting (cold start), serving, draining, and the GPU time each holds;
//! starting, removing and retiring the replicas the autoscaler asks for.

use super::*;
use crate::core::SimTime;

/// Where a worker is in its life: only `Serving` workers get new work; `Draining` ones finish what
/// they hold; `Starting` and `Draining` ones hold their GPUs (and are paid for).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Life {
    Off,
    Starting,
    Serving,
    Draining,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Replica {
    pub(super) life: Life,
    /// When it last left `Off`.
    pub(super) held_since: SimTime,
    /// When it last became `Serving`.
    pub(super) serve_since: SimTime,
    /// GPU-group time held (starting, serving or draining) and time serving or draining, closed
    /// intervals only.
    pub(super) held_ns: u64,
    pub(super) serve_ns: u64,
    /// Bumped at every start so a cancelled start's ready event is ignored.
    pub(super) start_gen: u32,
    /// When it last became `Off`.
    pub(super) off_since: SimTime,
}

impl Replica {
    pub(super) fn serving() -> Replica {
        Replica {
            life: Life::Serving,
            held_since: SimTime::ZERO,
            serve_since: SimTime::ZERO,
            held_ns: 0,
            serve_ns: 0,
            start_gen: 0,
            off_since: SimTime::ZERO,
        }
    }
    pub(super) fn off() -> Replica {
        Replica { life: Life::Off, ..Replica::serving() }
    }
    pub(super) fn up(&self) -> bool {
        matches!(self.life, Life::Serving | Life::Draining)
    }
    /// GPU time held up to `t`. A replica that stopped after `t` (draining work of timed-out
    /// requests) is not paid for past `t`.
    pub(super) fn held_until(&self, t: SimTime) -> u64 {
        if self.life != Life::Off {
            self.held_ns + t.saturating_since(self.held_since)
        } else if self.off_since > t {
            self.held_ns.saturating_sub(self.off_since - t.max(self.held_since))
        } else {
            self.held_ns
        }
    }
    pub(super) fn served_until(&self, t: SimTime) -> u64 {
        self.serve_ns + if self.up() { t.saturating_since(self.serve_since) } else { 0 }
    }
    pub(super) fn set(&mut self, life: Life, now: SimTime) {
        if self.up() && !matches!(life, Life::Serving | Life::Draining) {
            self.serve_ns += now.saturating_since(self.serve_since);
        }
        if life == Life::Serving && !self.up() {
            self.serve_since = now;
        }
        if self.life != Life::Off && life == Life::Off {
            self.held_ns += now.saturating_since(self.held_since);
            self.off_since = now;
        }
        if self.life == Life::Off && life != Life::Off {
            self.held_since = now;
        }
        self.life = life;
    }
}

impl Sim<'_> {
    /// `(starting, serving, draining)` replicas of a pool.
    pub(super) fn replica_counts(&self, pool: Pool) -> (u32, u32, u32) {
        let mut n = (0, 0, 0);
        let mut count = |l: Life| match l {
            Life::Starting => n.0 += 1,
            Life::Serving => n.1 += 1,
            Life::Draining => n.2 += 1,
            Life::Off => {}
        };
        match pool {
            Pool::Prefill => self.prefill.iter().for_each(|w| count(w.rep.life)),
            Pool::Decode => self.gen.iter().for_each(|w| count(w.rep.life)),
        }
        n
    }

    pub(super) fn start_replica(&mut self, now: SimTime, pool: Pool) {
        let c = self.input.cluster;
        let w = match pool {
            Pool::Prefill => {
                let w = match self.prefill.iter().position(|w| w.rep.life == Life::Off) {
                    Some(w) => w,
                    None => {
                        let mut w = self.tpl.new_prefill_worker(c);
                        w.rep = Replica::off();
                        self.prefill.push(w);
                        self.links.push(self.tpl.new_link());
                        if c.router == RouterPolicy::KvAware {
                            while self.prefill_queues.len() < self.prefill.len() {
                                self.prefill_queues.push(VecDeque::new());
                            }
                        }
                        self.prefill.len() - 1
                    }
                };
                let pw = &mut self.prefill[w];
                // a fresh pod: nothing cached
                pw.cache = new_cache(c.prefix_cache, pw.cap_tok);
                pw.rep.set(Life::Starting, now);
                pw.rep.start_gen += 1;
                (w, pw.rep.start_gen)
            }
            Pool::Decode => {
                let w = match self.gen.iter().position(|w| w.rep.life == Life::Off) {
                    Some(w) => w,
                    None => {
                        let mut w = self.tpl.new_gen_worker(c);
                        w.rep = Replica::off();
                        self.gen.push(w);
                        self.gen.len() - 1
                    }
                };
                let gw = &mut self.gen[w];
                gw.cache = new_cache(c.prefix_cache, gw.cap_tok);
                gw.rep.set(Life::Starting, now);
                gw.rep.start_gen += 1;
                (w, gw.rep.start_gen)
            }
        };
        self.q.schedule(now + self.scaler.cold_start_ns, Ev::ReplicaReady(pool, w.0 as u32, w.1));
    }

    pub(super) fn remove_replica(&mut self, now: SimTime, pool: Pool) {
        let lives: Vec<Life> = match pool {
            Pool::Prefill => self.prefill.iter().map(|w| w.rep.life).collect(),
            Pool::Decode => self.gen.iter().map(|w| w.rep.life).collect(),
        };
        if let Some(w) = lives.iter().rposition(|&l| l == Life::Starting) {
            match pool {
                Pool::Prefill => self.prefill[w].rep.set(Life::Off, now),
                Pool::Decode => self.gen[w].rep.set(Life::Off, now),
            }
            return;
        }
        let load = |w: usize| match pool {
            Pool::Prefill => self.prefill[w].queued_tok + self.prefill[w].held_tok + self.prefill[w].busy as u64,
            Pool::Decode => self.gen[w].load(),
        };
        let Some(w) =
            (0..lives.len()).filter(|&w| lives[w] == Life::Serving).min_by_key(|&w| (load(w), usize::MAX - w))
        else {
            return;
        };
        match pool {
            Pool::Prefill => {
                self.prefill[w].rep.set(Life::Draining, now);
                self.check_drained_prefill(now, w);
            }
            Pool::Decode => {
                self.gen[w].rep.set(Life::Draining, now);
                self.check_drained_gen(now, w);
            }
        }
    }

    pub(super) fn on_replica_ready(&mut self, now: SimTime, pool: Pool, w: u32, start_gen: u32) {
        let w = w as usize;
        match pool {
            Pool::Prefill => {
                let rep = &mut self.prefill[w].rep;
                if rep.life == Life::Starting && rep.start_gen == start_gen {
                    rep.set(Life::Serving, now);
                    self.dispatch_prefill(now);
                }
            }
            Pool::Decode => {
                let rep = &mut self.gen[w].rep;
                if rep.life == Life::Starting && rep.start_gen == start_gen {
                    rep.set(Life::Serving, now);
                }
            }
        }
    }

    /// A draining prefill worker stops once its batches are done and their KV has left its link.
    pub(super) fn check_drained_prefill(&mut self, now: SimTime, w: usize) {
        let pw = &self.prefill[w];
        let link = &self.links[w];
        let own_queue_empty = self.prefill_queues.len() <= 1 || self.prefill_queues[w].is_empty();
        if pw.rep.life == Life::Draining
            && !pw.busy
            && pw.held_tok == 0
            && link.in_flight == 0
            && link.queue.is_empty()
            && own_queue_empty
        {
            self.prefill[w].rep.set(Life::Off, now);
        }
    }

    /// A draining decode-side worker stops once every sequence it took has finished.
    pub(super) fn check_drained_gen(&mut self, now: SimTime, d: usize) {
        let w = &self.gen[d];
        if w.rep.life == Life::Draining
            && !w.busy
            && w.running.is_empty()
            && w.ready.is_empty()
            && w.prefilling.is_empty()
            && w.waiting.is_empty()
            && w.incoming == 0
        {
            self.gen[d].rep.set(Life::Off, now);
        }
    }
}

/// What a new worker of each pool looks like (set once the memory plan is known; the autoscaler's
/// new replicas are built from it too).
#[derive(Default)]
pub(super) struct WorkerTemplates {
    pub(super) prefill_cap_tok: u64,
    /// Most requests and most prompt tokens in one prefill batch.
    pub(super) prefill_max_batch: u32,
    pub(super) prefill_max_batch_tok: u64,
    /// Each prefill worker's KV link (aggregated deployments have none), and how many transfers it
    /// runs at once.
    pub(super) link: KvLinkRate,
    pub(super) max_in_flight_transfers: u32,
    pub(super) gen_cap_tok: u64,
    pub(super) gen_max_batch: u32,
    pub(super) gen_chunk_tok: u64,
}

impl WorkerTemplates {
    pub(super) fn new_prefill_worker(&self, c: &ClusterConfig) -> PrefillWorker {
        PrefillWorker {
            busy: false,
            step_start: SimTime::ZERO,
            batch: Vec::new(),
            held_tok: 0,
            cap_tok: self.prefill_cap_tok,
            busy_ns: 0,
            cache: new_cache(c.prefix_cache, self.prefill_cap_tok),
            queued_tok: 0,
            rep: Replica::serving(),
        }
    }

    pub(super) fn new_link(&self) -> Link {
        Link {
            bytes_per_ns: self.link.bytes_per_ns,
            setup_ns: self.link.setup_ns,
            max_in_flight: self.max_in_flight_transfers,
            in_flight: 0,
            queue: VecDeque::new(),
            v: 0.0,
            last_ns: SimTime::ZERO,
            active: BinaryHeap::new(),
            wake_gen: 0,
            seq: 0,
        }
    }

    pub(super) fn new_gen_worker(&self, c: &ClusterConfig) -> GenWorker {
        GenWorker {
            busy: false,
            step_start: SimTime::ZERO,
            step: 0,
            cap_tok: self.gen_cap_tok,
            used_tok: 0,
            committed_tok: 0,
            running: Vec::new(),
            running_ctx: 0,
            waiting: VecDeque::new(),
            ready: Vec::new(),
            prefilling: VecDeque::new(),
            incoming: 0,
            finish: BinaryHeap::new(),
            busy_ns: 0,
            max_batch: self.gen_max_batch,
            chunk_budget_tok: self.gen_chunk_tok,
            step_b: 0,
            policy: BatchingPolicy::for_deployment(c),
            step_decodes: true,
            step_joiners: Vec::new(),
            step_locals: Vec::new(),
            zombies: false,
            extra: Vec::new(),
            step_extras: 0,
            last_step_end: SimTime::ZERO,
            cache: new_cache(c.prefix_cache, self.gen_cap_tok),
            queued_tok: 0,
            rep: Replica::serving(),
            run_ends: Vec::new(),
            run_pos: 0,
            run_next_ns: SimTime::MAX,
            itl_batch: HistBatch::default(),
            peak_used_tok: 0,
        }
    }
}
