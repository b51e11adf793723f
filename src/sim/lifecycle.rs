//! A request's life: the slot that holds it, the stages it passes through and its end.
//!
//! `Req::enter` is the one place a request changes stage (the field is private to this module),
//! and debug builds check every transition against the pipeline's legal moves:
//!
//! ```text
//! Free -> PrefillQueue -> Prefilling -> DecodeWaiting -> Transferring -> Ready -> Running
//! Free ---------------------------------> DecodeWaiting -> LocalPrefill ----------> Running
//!                                         DecodeWaiting <-------------------------- Running  (preempted)
//! every stage but Free -> Free  (completed, timed out, or its cancelled work let go)
//! ```

use super::*;
use crate::core::SimTime;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Stage {
    PrefillQueue,
    Prefilling,
    DecodeWaiting,
    Transferring,
    Ready,
    LocalPrefill,
    Running,
    Free,
}

#[derive(Clone)]
pub(super) struct Req {
    pub(super) gen: u32,
    stage: Stage,
    /// Ended (timed out) but still holding resources until the stage it is in lets go.
    pub(super) cancelled: bool,
    pub(super) id: u64,
    pub(super) arrival_ns: SimTime,
    pub(super) input_tok: u32,
    pub(super) output_tok: u32,
    pub(super) prefill_worker: u32,
    /// The prefill worker whose queue holds the request (its own queue under KV-aware routing).
    pub(super) routed_prefill: u32,
    pub(super) decode_worker: u32,
    pub(super) t_prefill_start: SimTime,
    pub(super) t_prefill_end: SimTime,
    pub(super) t_xfer_start: SimTime,
    pub(super) t_xfer_end: SimTime,
    pub(super) t_first: SimTime,
    /// Output tokens produced as of `join_step`.
    pub(super) generated: u32,
    pub(super) join_step: u64,
    pub(super) admit_seq: u64,
    pub(super) run_idx: u32,
    /// Local (chunked or recompute) prefill: tokens still to compute and tokens done.
    pub(super) prefill_left: u32,
    pub(super) prefill_done: u32,
    /// Needs its prefill computed on the decode-side worker (aggregated mode, or after preemption).
    pub(super) local_prefill: bool,
    /// KV tokens of its whole life (prompt plus every output token) counted against its decode-side
    /// worker's commitments from admission until it leaves (see `GenWorker::committed_tok`).
    pub(super) committed_tok: u64,
    pub(super) reserved_tok: u64,
    pub(super) held_prefill_tok: u32,
    pub(super) preemptions: u32,
    pub(super) admitted_once: bool,
    /// Prompt block hashes, when the workload knows them.
    pub(super) blocks: Option<std::sync::Arc<[u64]>>,
    /// Prompt tokens the KV transfer moves: those not already in the decode worker's prefix cache.
    pub(super) xfer_tok: u32,
    /// The closed-loop client that sent it (`NO_CLIENT` in open loop).
    pub(super) client: u32,
    /// Under the overlap scheduler, the first decode-side step count (`GenWorker::step`) at which
    /// a step may take it in: the step after the next, when it became ready while a step ran.
    pub(super) hold_step: u64,
    /// Answered (its end recorded, its client gone on) but still in the batch for the overlap
    /// scheduler's extra step; `cancelled` is set too, so nothing else ends it again.
    pub(super) overlap_extra: bool,
}

impl Req {
    pub(super) fn stage(&self) -> Stage {
        self.stage
    }

    /// Moves the request to stage `to`: the only write of `stage`, checked in debug builds.
    #[inline]
    pub(super) fn enter(&mut self, to: Stage) {
        debug_assert!(legal(self.stage, to), "request {}: illegal stage change {:?} -> {:?}", self.id, self.stage, to);
        self.stage = to;
    }

    /// Whether a queue entry `(slot, g)` for this slot still stands for a live request.
    pub(super) fn alive(&self, g: u32) -> bool {
        self.gen == g && !self.cancelled && self.stage != Stage::Free
    }

    /// KV tokens a decode-side worker reserves to admit it: its prompt, or for a local prefill
    /// (after a preemption: with what it generated) that plus its next token.
    pub(super) fn admission_need_tok(&self) -> u64 {
        if self.local_prefill {
            self.input_tok as u64 + self.generated as u64 + 1
        } else {
            self.input_tok as u64
        }
    }

    /// KV tokens it holds at its longest on a decode-side worker: prompt plus every output token.
    pub(super) fn life_tok(&self) -> u64 {
        self.input_tok as u64 + self.output_tok as u64
    }

    pub(super) fn empty() -> Req {
        Req {
            gen: 0,
            stage: Stage::Free,
            cancelled: false,
            id: 0,
            arrival_ns: SimTime::ZERO,
            input_tok: 0,
            output_tok: 0,
            prefill_worker: NO_WORKER,
            routed_prefill: NO_WORKER,
            decode_worker: NO_WORKER,
            t_prefill_start: NONE,
            t_prefill_end: NONE,
            t_xfer_start: NONE,
            t_xfer_end: NONE,
            t_first: NONE,
            generated: 0,
            join_step: 0,
            admit_seq: 0,
            run_idx: 0,
            prefill_left: 0,
            prefill_done: 0,
            local_prefill: false,
            reserved_tok: 0,
            committed_tok: 0,
            held_prefill_tok: 0,
            preemptions: 0,
            admitted_once: false,
            blocks: None,
            xfer_tok: 0,
            client: NO_CLIENT,
            hold_step: 0,
            overlap_extra: false,
        }
    }
}

/// The moves of the pipeline (see the module's diagram).
fn legal(from: Stage, to: Stage) -> bool {
    use Stage::*;
    match (from, to) {
        (Free, Free) => false,
        (_, Free) => true,
        (Free, PrefillQueue | DecodeWaiting)
        | (PrefillQueue, Prefilling)
        | (Prefilling, DecodeWaiting)
        | (DecodeWaiting, Transferring | LocalPrefill)
        | (Transferring, Ready)
        | (Ready | LocalPrefill, Running)
        | (Running, DecodeWaiting) => true,
        _ => false,
    }
}

impl Sim<'_> {
    pub(super) fn alloc(&mut self) -> u32 {
        if let Some(s) = self.free_slots.pop() {
            let g = self.reqs[s as usize].gen;
            self.reqs[s as usize] = Req { gen: g, ..Req::empty() };
            s
        } else {
            self.reqs.push(Req::empty());
            (self.reqs.len() - 1) as u32
        }
    }

    pub(super) fn free(&mut self, slot: u32) {
        let r = &mut self.reqs[slot as usize];
        r.gen = r.gen.wrapping_add(1);
        r.enter(Stage::Free);
        self.free_slots.push(slot);
    }

    pub(super) fn alive(&self, slot: u32, g: u32) -> bool {
        self.reqs[slot as usize].alive(g)
    }

    /// Records the end of a request still in the system and lets its client go on.
    pub(super) fn end_request(&mut self, now: SimTime, slot: u32, outcome: Outcome) {
        let r = &self.reqs[slot as usize];
        match outcome {
            Outcome::Completed => {
                self.m.completed += 1;
                let ttft = r.t_first - r.arrival_ns;
                let e2e = now - r.arrival_ns;
                self.m.e2e.record(e2e);
                let mut tpot_ms = 0.0;
                if r.output_tok > 1 {
                    let tpot = (now - r.t_first) / (r.output_tok as u64 - 1);
                    self.m.tpot.record(tpot);
                    self.obs.note_tpot(now, tpot);
                    tpot_ms = tpot as f64 / 1e6;
                }
                self.m.input_tok_completed += r.input_tok as u64;
                self.m.output_tok_completed += r.output_tok as u64;
                let sla = self.input.sla;
                let ok = sla.ttft_ms.is_none_or(|t| ttft as f64 / 1e6 <= t) && sla.tpot_ms.is_none_or(|t| tpot_ms <= t);
                if ok {
                    self.m.sla_met += 1;
                }
            }
            Outcome::TimedOut => self.m.timed_out += 1,
            Outcome::Rejected => self.m.rejected += 1,
        }
        if self.input.record_requests {
            let opt = |t: SimTime| (t != NONE).then_some(t.as_ns());
            let w = |w: u32| (w != NO_WORKER).then_some(w);
            self.records.push(RequestRecord {
                id: r.id,
                outcome,
                arrival_ns: r.arrival_ns.as_ns(),
                input_tok: r.input_tok,
                output_tok: r.output_tok,
                prefill_start_ns: opt(r.t_prefill_start),
                prefill_end_ns: opt(r.t_prefill_end),
                kv_transfer_start_ns: opt(r.t_xfer_start),
                kv_transfer_end_ns: opt(r.t_xfer_end),
                first_token_ns: opt(r.t_first),
                end_ns: now.as_ns(),
                prefill_worker: w(r.prefill_worker),
                decode_worker: w(r.decode_worker),
                preemptions: r.preemptions,
            });
        }
        self.in_system -= 1;
        self.m.makespan_ns = self.m.makespan_ns.max(now.as_ns());
        let client = r.client;
        self.client_next(now, client, outcome == Outcome::Completed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_changes_follow_the_pipeline() {
        use Stage::*;
        for (from, to) in [(Free, PrefillQueue), (Prefilling, DecodeWaiting), (Running, DecodeWaiting), (Ready, Free)] {
            assert!(legal(from, to), "{from:?} -> {to:?}");
        }
        for (from, to) in
            [(Free, Free), (Free, Running), (PrefillQueue, Running), (Running, Ready), (Ready, Transferring)]
        {
            assert!(!legal(from, to), "{from:?} -> {to:?}");
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "illegal stage change")]
    fn an_illegal_stage_change_is_caught() {
        let mut r = Req::empty();
        r.enter(Stage::Running);
    }
}
