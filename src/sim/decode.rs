//! Decode-side workers (the decode pool, or the single aggregated pool): admission, continuous
//! batching steps with chunked local prefill, preemption, completion.

use super::*;
use crate::core::SimTime;

pub(super) struct GenWorker {
    pub(super) busy: bool,
    pub(super) step_start: SimTime,
    pub(super) step: u64,
    pub(super) cap_tok: u64,
    pub(super) used_tok: u64,
    /// KV tokens the admitted requests will hold at their longest (prompt plus every output token):
    /// what TensorRT-LLM's `GUARANTEED_NO_EVICT` admits against. Never below `used_tok`'s share of them.
    pub(super) committed_tok: u64,
    pub(super) running: Vec<u32>,
    pub(super) running_ctx: u64,
    pub(super) waiting: VecDeque<(u32, u32)>,
    pub(super) ready: Vec<u32>,
    pub(super) prefilling: VecDeque<u32>,
    pub(super) incoming: u32,
    pub(super) finish: BinaryHeap<Reverse<(u64, u32, u32, u64)>>,
    pub(super) busy_ns: u64,
    pub(super) max_batch: u32,
    pub(super) chunk_budget_tok: u64,
    pub(super) step_b: u64,
    /// Admission, preemption victim and step composition (see [`super::batching`]).
    pub(super) policy: BatchingPolicy,
    /// Whether the step in progress advances the running sequences.
    pub(super) step_decodes: bool,
    pub(super) step_joiners: Vec<u32>,
    pub(super) step_locals: Vec<(u32, u32)>,
    pub(super) zombies: bool,
    /// Answered sequences in the batch for the overlap scheduler's extra step (see
    /// [`BatchingPolicy::GuaranteedNoEvict`]); they leave when the step in progress ends.
    pub(super) extra: Vec<u32>,
    /// How many of the step in progress's sequences are such extras (they give no token).
    pub(super) step_extras: u64,
    /// End of its last step (`SimTime::ZERO` before the first).
    pub(super) last_step_end: SimTime,
    pub(super) cache: Option<PrefixCache>,
    /// Prompt tokens of live requests in `waiting`.
    pub(super) queued_tok: u64,
    pub(super) rep: Replica,
    /// End times of the steps of the run in progress (see [`runs`]); empty or one step when the
    /// step in progress is simulated on its own.
    pub(super) run_ends: Vec<SimTime>,
    /// The step in progress within `run_ends`.
    pub(super) run_pos: usize,
    /// End of the step in progress when another step of the run follows it, else `SimTime::MAX`.
    pub(super) run_next_ns: SimTime,
    /// This worker's inter-token latencies not yet in the histogram (its steps take nearly equal
    /// times, the pool's several workers do not).
    pub(super) itl_batch: HistBatch,
    /// Highest KV use so far (see `note_kv_usage`).
    pub(super) peak_used_tok: u64,
}

impl GenWorker {
    pub(super) fn occupied(&self) -> u64 {
        (self.running.len() + self.ready.len() + self.prefilling.len()) as u64 + self.incoming as u64
    }
    pub(super) fn load(&self) -> u64 {
        self.occupied() + self.waiting.len() as u64
    }
    /// Whether a request needing `need_tok` of KV can join, by the worker's batching policy.
    #[inline]
    pub(super) fn admits(&self, need_tok: u64, life_tok: u64) -> bool {
        self.policy.admits(self, need_tok, life_tok)
    }
    /// The step count from which a step may take in a request that becomes ready at `now`, having
    /// come at `came_ns` (see `Req::hold_step`): under the overlap scheduler the next step's batch
    /// is already fixed while a step runs, and was fixed before one that came during the step that
    /// has just ended (waiting for room meanwhile); else at once.
    pub(super) fn hold_step(&self, now: SimTime, came_ns: SimTime) -> u64 {
        if !self.policy.overlaps() {
            0
        } else if self.busy {
            self.step + 2
        } else if self.last_step_end == now && came_ns >= self.step_start {
            self.step + 1
        } else {
            0
        }
    }

    pub(super) fn next_virtual_end(&self) -> SimTime {
        if self.run_pos + 1 < self.run_ends.len() {
            self.run_ends[self.run_pos]
        } else {
            SimTime::MAX
        }
    }
}

impl Sim<'_> {
    /// Queues a request for prefill on decode-side worker `d` (aggregated mode, or conditional
    /// disaggregation).
    pub(super) fn enqueue_local(&mut self, now: SimTime, d: usize, slot: u32, g: u32) {
        let r = &mut self.reqs[slot as usize];
        r.enter(Stage::DecodeWaiting);
        r.local_prefill = true;
        r.decode_worker = d as u32;
        self.gen[d].queued_tok += r.input_tok as u64;
        self.gen[d].waiting.push_back((slot, g));
        self.try_admit(now, d);
    }

    /// Admits waiting requests in FIFO order while a batch slot and their KV fit.
    pub(super) fn try_admit(&mut self, now: SimTime, d: usize) {
        if !self.gen[d].busy {
            self.purge_zombies(d);
        }
        while let Some(&(slot, g)) = self.gen[d].waiting.front() {
            if !self.alive(slot, g) {
                self.gen[d].waiting.pop_front();
                continue;
            }
            let need = self.reqs[slot as usize].admission_need_tok();
            let life = self.reqs[slot as usize].life_tok() + self.gen[d].policy.extra_life_tok();
            if !self.gen[d].admits(need, life) {
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
            w.committed_tok += life;
            self.reqs[slot as usize].committed_tok = life;
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
                r.hold_step = w.hold_step(now, r.arrival_ns);
                w.prefilling.push_back(slot);
                // it prefills from the next step on (the one after, while a step runs under the
                // overlap scheduler)
                self.cut_run_for_joiner(d);
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

    pub(super) fn purge_zombies(&mut self, d: usize) {
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
            if r.cancelled && !r.overlap_extra {
                let ctx = r.input_tok as u64 + r.generated as u64 + (step - r.join_step);
                w.used_tok -= ctx;
                w.committed_tok -= r.committed_tok;
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
        // sequences not yet in the batch hold only the KV reserved when they were admitted
        let (used_tok, committed_tok) = (&mut w.used_tok, &mut w.committed_tok);
        let mut keep = |&slot: &u32| {
            let r = &reqs[slot as usize];
            if r.cancelled {
                *used_tok -= r.reserved_tok;
                *committed_tok -= r.committed_tok;
                freed.push(slot);
            }
            !r.cancelled
        };
        w.ready.retain(&mut keep);
        w.prefilling.retain(&mut keep);
        for slot in freed {
            self.free(slot);
        }
    }

    pub(super) fn maybe_start_step(&mut self, now: SimTime, d: usize) {
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
        w.step_extras = w.extra.len() as u64;
        // Under the overlap scheduler what became ready during the last step waits for the next,
        // unless this step would otherwise have nothing to do.
        let step = w.step;
        let gate = if !w.policy.overlaps()
            || !w.running.is_empty()
            || w.ready.iter().any(|&s| reqs[s as usize].hold_step <= step)
            || w.prefilling.front().is_some_and(|&s| reqs[s as usize].hold_step <= step)
        {
            step
        } else {
            u64::MAX
        };
        // sequences whose KV arrived join the batch
        let mut held = 0;
        for i in 0..w.ready.len() {
            let slot = w.ready[i];
            let r = &mut reqs[slot as usize];
            if r.hold_step > gate {
                w.ready[held] = slot;
                held += 1;
                continue;
            }
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
        w.ready.truncate(held);
        // every running sequence writes one more token of KV this step; preempt the policy's
        // victims until that fits
        while w.used_tok + w.running.len() as u64 > w.cap_tok && !w.running.is_empty() {
            debug_assert!(
                !matches!(w.policy, BatchingPolicy::GuaranteedNoEvict { .. }),
                "GUARANTEED_NO_EVICT reserved every admitted life: committed {} of {}",
                w.committed_tok,
                w.cap_tok
            );
            let idx = w.policy.preemption_victim(&w.running, reqs);
            let slot = w.running.swap_remove(idx);
            if idx < w.running.len() {
                reqs[w.running[idx] as usize].run_idx = idx as u32;
            }
            let r = &mut reqs[slot as usize];
            let generated = r.generated + (w.step - r.join_step) as u32;
            let ctx = r.input_tok as u64 + generated as u64;
            w.used_tok -= ctx;
            w.committed_tok -= r.committed_tok;
            r.committed_tok = 0;
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
        let decodes = w.policy.step_decodes(!w.prefilling.is_empty());
        let b = if decodes { w.running.len() as u64 } else { 0 };
        w.used_tok += b;
        fit_cache_to_free(&mut w.cache, self.auto_cache, w.cap_tok, w.used_tok);
        debug_assert!(w.used_tok <= w.cap_tok, "KV over capacity");
        let ctx = if decodes { w.running_ctx } else { 0 };
        let mut shape = StepShape { decode_seqs: b, decode_ctx_tok: ctx, ..Default::default() };
        let mut budget =
            if w.chunk_budget_tok == u64::MAX { u64::MAX } else { w.chunk_budget_tok.saturating_sub(b).max(1) };
        let chunks = w.policy.chunks_prefill();
        for &slot in w.prefilling.iter() {
            if budget == 0 {
                break;
            }
            let r = &reqs[slot as usize];
            if r.hold_step > gate {
                break;
            }
            let left = r.prefill_left as u64;
            if !chunks && left > budget {
                // waits whole for a later step, unless the step would otherwise do nothing (a
                // prompt longer than the whole budget then runs alone)
                if b > 0 || !w.step_locals.is_empty() {
                    break;
                }
                budget = left;
            }
            let c = left.min(budget);
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

    pub(super) fn on_step_done(&mut self, now: SimTime, d: u32) {
        let d = d as usize;
        let w = &mut self.gen[d];
        let dur = now - w.step_start;
        w.busy = false;
        w.last_step_end = now;
        w.busy_ns += dur;
        if w.step_decodes {
            w.step += 1;
        }
        w.running_ctx += w.step_b;
        let gaps = w.step_b - w.step_joiners.len() as u64 - w.step_extras;
        note_step_itl(&mut self.m, &mut self.obs, &mut w.itl_batch, dur, gaps);
        for &slot in &w.step_joiners {
            note_first_token(&mut self.reqs[slot as usize], now, &mut self.m, &mut self.obs);
        }
        // the sequences of the overlap scheduler's extra step leave; the run lasts until they have
        // (the GPU is held for that step)
        if !self.gen[d].extra.is_empty() {
            self.m.makespan_ns = self.m.makespan_ns.max(now.as_ns());
        }
        for i in 0..self.gen[d].extra.len() {
            let slot = self.gen[d].extra[i];
            self.leave_batch(d, slot);
            self.free(slot);
        }
        self.gen[d].extra.clear();
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
            note_first_token(r, now, &mut self.m, &mut self.obs);
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

    pub(super) fn complete(&mut self, now: SimTime, d: usize, slot: u32) {
        if self.gen[d].policy.extra_step() {
            // answered now, in the batch one step more
            self.end_request(now, slot, Outcome::Completed);
            let r = &mut self.reqs[slot as usize];
            r.cancelled = true;
            r.overlap_extra = true;
            self.gen[d].extra.push(slot);
            return;
        }
        self.leave_batch(d, slot);
        self.end_request(now, slot, Outcome::Completed);
        self.free(slot);
    }

    /// Takes running sequence `slot` out of `d`'s batch with the KV it holds: its prompt and every
    /// token it has written (its output, and the overlap scheduler's extra one).
    fn leave_batch(&mut self, d: usize, slot: u32) {
        let w = &mut self.gen[d];
        let r = &self.reqs[slot as usize];
        let idx = r.run_idx as usize;
        debug_assert_eq!(w.running[idx], slot);
        let ctx = r.input_tok as u64 + r.generated as u64 + (w.step - r.join_step);
        debug_assert_eq!(ctx, r.life_tok() + r.overlap_extra as u64, "request {}", r.id);
        w.used_tok -= ctx;
        w.committed_tok -= r.committed_tok;
        w.running_ctx -= ctx;
        w.running.swap_remove(idx);
        if idx < w.running.len() {
            self.reqs[w.running[idx] as usize].run_idx = idx as u32;
        }
    }
}
