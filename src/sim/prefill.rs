//! The prefill pool: workers take batches from their queue (one shared FIFO, or their own under
//! KV-aware routing) and hold the prompts' KV until it has left over the link.

use super::*;
use crate::core::SimTime;

pub(super) struct PrefillWorker {
    pub(super) busy: bool,
    pub(super) step_start: SimTime,
    pub(super) batch: Vec<(u32, u32)>,
    pub(super) held_tok: u64,
    pub(super) cap_tok: u64,
    pub(super) busy_ns: u64,
    pub(super) cache: Option<PrefixCache>,
    /// Prompt tokens routed to this worker's own queue and not yet batched (KV-aware routing).
    pub(super) queued_tok: u64,
    pub(super) rep: Replica,
}

impl Sim<'_> {
    pub(super) fn dispatch_prefill(&mut self, now: SimTime) {
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

    pub(super) fn start_prefill_batch(&mut self, now: SimTime, w: usize) {
        let (max_batch, max_batch_tok) = (self.tpl.prefill_max_batch, self.tpl.prefill_max_batch_tok);
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
            if batch.len() as u32 >= max_batch
                || (!batch.is_empty() && computed + isl - cached > max_batch_tok)
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

    pub(super) fn on_prefill_done(&mut self, now: SimTime, w: u32) {
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
            self.obs.prefill_served += 1;
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
    pub(super) fn release_prefill_hold(&mut self, slot: u32) -> bool {
        let r = &mut self.reqs[slot as usize];
        if r.held_prefill_tok == 0 {
            return false;
        }
        let pw = &mut self.prefill[r.prefill_worker as usize];
        pw.held_tok -= r.held_prefill_tok as u64;
        r.held_prefill_tok = 0;
        true
    }
}
