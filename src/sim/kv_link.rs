//! The KV link of each prefill worker: transfers share it (processor sharing, at most
//! `maxInFlightTransfers` at once, the rest FIFO), each after its setup time.

use super::*;
use crate::core::SimTime;

/// A processor-sharing link: `n` active transfers each progress at `capacity / n`.
/// Tracked in virtual bytes `v` (bytes each active transfer has received), so arrivals and
/// departures cost O(log n).
pub(super) struct Link {
    pub(super) bytes_per_ns: f64,
    pub(super) setup_ns: u64,
    pub(super) max_in_flight: u32,
    pub(super) in_flight: u32,
    pub(super) queue: VecDeque<(u32, u32)>,
    pub(super) v: f64,
    pub(super) last_ns: SimTime,
    pub(super) active: BinaryHeap<Reverse<(u64, u64, u32, u32)>>,
    pub(super) wake_gen: u64,
    pub(super) seq: u64,
}

impl Link {
    pub(super) fn advance(&mut self, now: SimTime) {
        let n = self.active.len();
        if n > 0 {
            self.v += (now - self.last_ns) as f64 * self.bytes_per_ns / n as f64;
        }
        self.last_ns = now;
    }
}

impl Sim<'_> {
    /// Starts the transfer now if the link has a free slot and nobody queued before it, else queues.
    pub(super) fn start_transfer(&mut self, now: SimTime, slot: u32) {
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

    pub(super) fn begin_transfer(&mut self, now: SimTime, slot: u32) {
        let r = &self.reqs[slot as usize];
        let link = &mut self.links[r.prefill_worker as usize];
        link.in_flight += 1;
        let at = now + link.setup_ns;
        self.q.schedule(at, Ev::XferSetup(slot, r.gen));
    }

    pub(super) fn transfer_bytes(&self, input_tok: u32) -> u64 {
        let bytes = input_tok as u64 * self.kv_bytes_per_tok;
        bytes.div_ceil(self.block_bytes) * self.block_bytes
    }

    pub(super) fn on_xfer_setup(&mut self, now: SimTime, slot: u32, g: u32) {
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

    pub(super) fn schedule_link_wake(&mut self, now: SimTime, l: u32) {
        let link = &mut self.links[l as usize];
        link.wake_gen += 1;
        if let Some(Reverse((fv, ..))) = link.active.peek() {
            let left = (f64::from_bits(*fv) - link.v).max(0.0);
            let dt = (left * link.active.len() as f64 / link.bytes_per_ns).ceil() as u64;
            let g = link.wake_gen;
            self.q.schedule(now + dt, Ev::LinkWake(l, g));
        }
    }

    pub(super) fn on_link_wake(&mut self, now: SimTime, l: u32, g: u64) {
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

    pub(super) fn start_queued_transfers(&mut self, now: SimTime, l: usize) {
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

    pub(super) fn on_transfer_done(&mut self, now: SimTime, slot: u32, g: u32) {
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
            self.gen[d].committed_tok -= r.committed_tok;
            self.free(slot);
            self.try_admit(now, d);
            self.check_drained_gen(now, d);
            return;
        }
        r.t_xfer_end = now;
        r.enter(Stage::Ready);
        if let (Some(c), Some(b)) = (&mut self.gen[d].cache, &r.blocks) {
            c.insert(b);
        }
        self.m.kv_transfer.record(now - r.t_xfer_start);
        self.obs.note_kv_transfer(now - r.t_xfer_start);
        // it joins at the next step start (the one after, under the overlap scheduler, when a step
        // is running: the next one's batch is already fixed)
        r.hold_step = self.gen[d].hold_step(now, now);
        self.cut_run_for_joiner(d);
        self.gen[d].ready.push(slot);
        self.maybe_start_step(now, d);
    }
}
