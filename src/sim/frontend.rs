//! The frontend: arrivals (open loop, or closed-loop clients), admission limits and request
//! timeouts.

use super::*;

impl Sim<'_> {
    pub(super) fn on_arrival(&mut self, now: SimTime, client: u32) {
        let spec = match &mut self.traffic {
            Traffic::Open(it) => {
                let Some(spec) = self.pending_open.take() else { return };
                self.pending_open = it.next();
                if let Some(next) = &self.pending_open {
                    self.q.schedule(SimTime::from_ns(next.arrival_ns).max(now), Ev::Arrival);
                    self.arrivals_pending += 1;
                }
                spec
            }
            Traffic::Closed { clients, .. } => {
                let (spec, think_ns) = clients.next_request(client);
                self.client_think_ns[client as usize] = think_ns;
                RequestSpec { arrival_ns: now.as_ns(), ..spec }
            }
        };
        self.m.arrived += 1;
        self.obs.arr_in_tok += spec.input_tok as u64;
        self.obs.arr_out_tok += spec.output_tok as u64;
        let id = self.next_id;
        self.next_id += 1;
        let blocks = spec.blocks.clone();
        let output_tok = spec.output_tok.clamp(1, self.max_output.max(1));
        if output_tok < spec.output_tok {
            self.m.output_clamped += 1;
            self.m.max_output_tok_asked = self.m.max_output_tok_asked.max(spec.output_tok);
        }
        let input_tok = spec.input_tok.max(1);
        let too_long_for_kv = match self.input.cluster.topology {
            Topology::Disaggregated { .. } => {
                input_tok as u64 > self.prefill[0].cap_tok
                    || input_tok as u64 + output_tok as u64 + 1 > self.gen[0].cap_tok
            }
            Topology::Aggregated(_) => input_tok as u64 + output_tok as u64 + 1 > self.gen[0].cap_tok,
        };
        if self.in_system >= self.max_concurrent || input_tok > self.max_input || too_long_for_kv {
            self.m.rejected += 1;
            if self.input.record_requests {
                self.records.push(RequestRecord {
                    id,
                    outcome: Outcome::Rejected,
                    arrival_ns: now.as_ns(),
                    input_tok,
                    output_tok,
                    prefill_start_ns: None,
                    prefill_end_ns: None,
                    kv_transfer_start_ns: None,
                    kv_transfer_end_ns: None,
                    first_token_ns: None,
                    end_ns: now.as_ns(),
                    prefill_worker: None,
                    decode_worker: None,
                    preemptions: 0,
                });
            }
            self.m.makespan_ns = self.m.makespan_ns.max(now.as_ns());
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
        match self.input.cluster.topology {
            Topology::Disaggregated { .. } => {
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
            Topology::Aggregated(_) => {
                let w = self.route_gen(slot);
                self.enqueue_local(now, w, slot, g);
            }
        }
        self.arm_timeout();
    }

    /// Closed loop: the client whose request just ended (`ok`: completed) sends its next one, after
    /// its think time.
    pub(super) fn client_next(&mut self, now: SimTime, client: u32, ok: bool) {
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
                self.arrivals_pending += 1;
                self.closed_scheduled += 1;
            }
        }
    }

    /// A closed loop whose every request is refused (e.g. prompts longer than `maxInputLength`)
    /// would re-send at the same instant forever: after this many refusals in a row without the
    /// clock moving, its clients stop.
    pub(super) fn clients_gave_up(&self, concurrency: u32) -> bool {
        self.zero_time_rejections.1 > 64 * concurrency.max(1) as u64
    }

    pub(super) fn note_rejection(&mut self, now: SimTime) {
        let (t, n) = self.zero_time_rejections;
        self.zero_time_rejections = if t == now { (t, n + 1) } else { (now, 1) };
    }

    /// Keeps one `TimeoutCheck` pending at the earliest deadline of a request still alive.
    pub(super) fn arm_timeout(&mut self) {
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

    pub(super) fn on_timeout_check(&mut self, now: SimTime) {
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

    pub(super) fn on_timeout(&mut self, now: SimTime, slot: u32, g: u32) {
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
                // or the last work of a draining worker
                self.check_drained_gen(now, w);
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
                    self.check_drained_gen(now, w);
                }
            }
            Stage::Free => unreachable!("alive request in Free stage"),
        }
    }
}
