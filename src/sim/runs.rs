//! Runs of decode-only steps simulated as one event (the worker's step-end timer).
//!
//! Between two changes of its batch (a sequence joins, finishes, is preempted or times out) a
//! decode worker repeats the same step: `b` sequences each add one token, the batch's context grows
//! by `b`. Such a run is planned when its first step starts (the step that takes in new sequences
//! may be that first step): the end of every step is computed then, and the worker's step-end
//! timer ([`EventQueue::set_timer`](crate::core::EventQueue::set_timer)) is set to the end of the
//! last. What the per-step events would have done in between (busy
//! time, step count, context, KV use, inter-token latencies, the joiners' first tokens) is applied
//! lazily, by [`Sim::sync_runs`] before every event, so every handler sees the worker exactly as
//! step-by-step simulation would have left it at that instant.
//!
//! A run ends before any step whose composition could differ from the step before it:
//! - at the first step after which a sequence finishes (the earliest entry of the finish heap);
//! - at the last step whose extra token still fits in KV memory (no preemption inside a run), also
//!   when an admission takes KV memory mid-run ([`Sim::fit_run_to_kv`]);
//! - when something changes the batch from outside (a transfer lands, a prefill is admitted, a
//!   member times out): [`Sim::cut_run`] makes the step in progress the last one and moves the
//!   timer to its end (a timer, unlike a queued event, leaves nothing behind to skip);
//! - after [`MAX_RUN_STEPS`] (or [`INCOMING_RUN_STEPS`] while a transfer to the worker is in
//!   flight), which bounds the step times computed for nothing when a run is cut.
//!
//! Runs change no output: `SimInput::decode_runs = false` steps every decode step through the event
//! queue, and `tests/invariants.rs` checks that both give identical results over randomly drawn
//! deployments. Ties need care: step-end timers come due in worker order, ahead of every event at
//! the same nanosecond (fixed lengths and closed loops make such ties common), so their order does
//! not depend on when each was set; the step ends inside runs, applied by `sync_runs` before
//! the first event at or after them, take that same place. A step end touches only its own worker,
//! so the order among step ends at one instant matters only through what they schedule, and runs
//! leave that order as it was.

use super::*;
use crate::core::SimTime;

/// Longest run planned while a KV transfer to the worker is in flight.
pub(super) const INCOMING_RUN_STEPS: u64 = 2;

/// Longest run planned at once. A cut wastes at most this many step-time evaluations; a longer
/// stable batch simply plans its next run when this one ends.
pub(super) const MAX_RUN_STEPS: u64 = 32;

/// Bookkeeping of the runs in progress.
#[derive(Default)]
pub(super) struct RunState {
    /// Earliest end of a step inside a run (not the last step of its run) not yet applied; no
    /// [`Sim::sync_runs`] work is needed before it.
    pub next_virtual_ns: SimTime,
    /// Steps completed inside runs (each would have been one step-end timer).
    pub virtual_steps: u64,
}

impl RunState {
    pub fn new() -> RunState {
        RunState { next_virtual_ns: SimTime::MAX, ..RunState::default() }
    }
}

impl Sim<'_> {
    /// Applies every step end inside a run up to `now` (inclusive), on every worker.
    #[inline]
    pub(super) fn sync_runs(&mut self, now: SimTime) {
        if now < self.runs.next_virtual_ns {
            return;
        }
        let mut next = SimTime::MAX;
        for d in 0..self.gen.len() {
            if self.gen[d].run_next_ns <= now {
                self.advance_run(d, now);
            }
            next = next.min(self.gen[d].run_next_ns);
        }
        self.runs.next_virtual_ns = next;
    }

    /// What `on_step_done` and `maybe_start_step` would have done at each step end of `d`'s run
    /// up to `now`: the step's busy time and inter-token latencies, one more token per sequence,
    /// and the next step's KV growth.
    fn advance_run(&mut self, d: usize, now: SimTime) {
        let w = &mut self.gen[d];
        let from = w.run_pos;
        let mut to = from;
        while to + 1 < w.run_ends.len() && w.run_ends[to] <= now {
            to += 1;
        }
        if to == from {
            return;
        }
        let (steps, b) = ((to - from) as u64, w.step_b);
        let mut start = w.step_start;
        let mut from = from;
        if from == 0 && !w.step_joiners.is_empty() {
            // the first step of the run took in new sequences: their first token comes at its end
            let end = w.run_ends[0];
            let dur = end - start;
            let gaps = b - w.step_joiners.len() as u64;
            note_step_itl(&mut self.m, &mut self.obs, &mut w.itl_batch, dur, gaps);
            for &slot in &w.step_joiners {
                note_first_token(&mut self.reqs[slot as usize], end, &mut self.m, &mut self.obs);
            }
            w.step_joiners.clear();
            start = end;
            from = 1;
        }
        let ends = &w.run_ends[from..to];
        let durations = ends.iter().scan(start, |prev, &e| Some(e - std::mem::replace(prev, e)));
        for dur in durations.clone() {
            self.m.itl.count_batched(&mut w.itl_batch, dur, b);
        }
        if self.obs.scrape_ns > 0 {
            for dur in durations {
                self.obs.note_itl(dur, b);
            }
        }
        let last_end = w.run_ends[to - 1];
        // the steps' times add up to the time from the first's start to the last's end
        self.m.itl.add_sum_ns((last_end - start) as u128 * b as u128);
        w.busy_ns += last_end - w.step_start;
        w.step += steps;
        w.running_ctx += steps * b;
        w.step_start = last_end;
        w.used_tok += steps * b;
        debug_assert!(w.used_tok <= w.cap_tok, "KV over capacity");
        w.run_pos = to;
        w.run_next_ns = w.next_virtual_end();
        self.runs.virtual_steps += steps;
        // KV use only grew, so one eviction pass and one peak check do what one per step did
        fit_cache_to_free(&mut w.cache, self.auto_cache, w.cap_tok, w.used_tok);
        note_kv_usage(&mut self.m, w);
    }

    /// Plans the run that starts with the step `d` has just begun (`first_ns` long, its shape
    /// already in the worker) and returns when its last step ends.
    pub(super) fn plan_run(&mut self, now: SimTime, d: usize, first_ns: u64) -> SimTime {
        let reqs = &self.reqs;
        let w = &mut self.gen[d];
        w.run_ends.clear();
        w.run_pos = 0;
        w.run_next_ns = SimTime::MAX;
        let end = now + first_ns;
        let b = w.step_b;
        if !self.decode_runs
            || !w.step_decodes
            || b == 0
            || !w.step_locals.is_empty()
            || !w.prefilling.is_empty()
            || !w.ready.is_empty()
            || w.zombies
            || !w.extra.is_empty()
            || !waiting_head_blocked(w, reqs)
        {
            return end;
        }
        // steps until the first finish (its step number is when it ends), and until the KV of
        // one more token per sequence no longer fits at a step's start
        let next_finish = w.finish.peek().map_or(u64::MAX, |&Reverse((fs, ..))| fs);
        // a transfer in flight to this worker lands within a step or two (a KV transfer takes less
        // than a decode step) and ends the run: plan no further than that
        // (under the overlap scheduler it joins a step later, so the run may go one step further)
        let longest = if w.incoming > 0 { INCOMING_RUN_STEPS + w.policy.overlaps() as u64 } else { MAX_RUN_STEPS };
        let k = next_finish.saturating_sub(w.step).min((w.cap_tok - w.used_tok) / b + 1).min(longest);
        if k <= 1 {
            return end;
        }
        w.run_ends.push(end);
        self.gen_cost.decode_run_ends(b, w.running_ctx + b, k - 1, &mut w.run_ends);
        let end = *w.run_ends.last().expect("the run has its first step");
        w.run_next_ns = w.run_ends[0];
        self.runs.next_virtual_ns = self.runs.next_virtual_ns.min(w.run_ends[0]);
        end
    }

    /// Ends `d`'s run with the step in progress (already synced to now), for a change to its
    /// batch from outside.
    pub(super) fn cut_run(&mut self, d: usize) {
        let pos = self.gen[d].run_pos;
        self.end_run_after(d, pos);
    }

    /// Ends `d`'s run before the first step a request that has just become ready may join: the step
    /// in progress, or under the overlap scheduler (see `Req::hold_step`) the one after it, whose
    /// batch it cannot change either.
    pub(super) fn cut_run_for_joiner(&mut self, d: usize) {
        let w = &self.gen[d];
        let pos = if w.policy.overlaps() && w.busy { w.run_pos + 1 } else { w.run_pos };
        self.end_run_after(d, pos);
    }

    /// Shortens `d`'s run, if need be, to the steps whose next token still fits in KV memory after
    /// an admission took some.
    pub(super) fn fit_run_to_kv(&mut self, d: usize) {
        let w = &self.gen[d];
        if w.run_pos + 1 >= w.run_ends.len() {
            return;
        }
        let more = w.cap_tok.saturating_sub(w.used_tok) / w.step_b.max(1);
        let last = (w.run_pos as u64).saturating_add(more).min(usize::MAX as u64) as usize;
        self.end_run_after(d, last);
    }

    fn end_run_after(&mut self, d: usize, last: usize) {
        let w = &mut self.gen[d];
        if last + 1 >= w.run_ends.len() {
            return;
        }
        w.run_ends.truncate(last + 1);
        w.run_next_ns = w.next_virtual_end();
        let end = w.run_ends[last];
        self.schedule_step_done(d, end);
    }

    /// Sets `d`'s step-end timer to `at_ns`, moving the end of a run cut short: step ends at one
    /// instant come before other events, in worker order, however long ago each was set (a run
    /// sets its end when it starts).
    pub(super) fn schedule_step_done(&mut self, d: usize, at_ns: SimTime) {
        self.q.set_timer(d as u32, at_ns);
    }
}

/// Whether the first live request waiting for admission on `w` cannot be admitted (or none waits).
/// During a run KV use only grows and the batch's occupancy stays, so a blocked head stays blocked
/// until something from outside changes it, and that calls `try_admit` itself.
fn waiting_head_blocked(w: &GenWorker, reqs: &[Req]) -> bool {
    let Some(&(slot, g)) = w.waiting.front() else { return true };
    let r = &reqs[slot as usize];
    // a dead entry is one `try_admit` would skip: let the next step end look behind it
    r.alive(g) && !w.admits(r.admission_need_tok(), r.life_tok() + w.policy.extra_life_tok())
}
