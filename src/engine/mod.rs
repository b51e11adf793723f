//! Discrete-event core: integer-nanosecond simulated time and an event queue with a deterministic
//! tie-break (events at the same instant fire ranked ones first, by rank, then the rest in the order
//! they were scheduled). No I/O, no clocks.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Simulated time in nanoseconds since the start of the run.
pub type SimTime = u64;

pub const NS_PER_S: u64 = 1_000_000_000;
pub const NS_PER_MS: u64 = 1_000_000;

struct Entry<E> {
    time_ns: SimTime,
    /// Order among events at the same time: ranked ones (see [`EventQueue::schedule_ranked`])
    /// first, by rank, then the rest ([`UNRANKED`]) in the order they were scheduled.
    rank: u32,
    seq: u64,
    event: E,
}

/// The rank of events scheduled with [`EventQueue::schedule`].
const UNRANKED: u32 = u32::MAX;

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.time_ns == other.time_ns && self.rank == other.rank && self.seq == other.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    // Reversed so the max-heap pops the earliest (time, seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time_ns, other.rank, other.seq).cmp(&(self.time_ns, self.rank, self.seq))
    }
}

/// A min-queue of events on `(time_ns, insertion order)`; `now` only moves forward.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
    now_ns: SimTime,
    popped: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue { heap: BinaryHeap::new(), next_seq: 0, now_ns: 0, popped: 0 }
    }

    pub fn now(&self) -> SimTime {
        self.now_ns
    }

    /// Events handled so far.
    pub fn events_processed(&self) -> u64 {
        self.popped
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Schedules `event` at absolute time `at_ns`, which must not be in the past.
    pub fn schedule(&mut self, at_ns: SimTime, event: E) {
        self.push(at_ns, UNRANKED, event);
    }

    /// Schedules `event` to come before every unranked event at the same time, and after ranked
    /// ones of lower `rank`: ties broken by what the events are, not by when they were scheduled
    /// (so a simulation may schedule such an event earlier or later without changing the order).
    pub fn schedule_ranked(&mut self, at_ns: SimTime, rank: u32, event: E) {
        debug_assert!(rank < UNRANKED);
        self.push(at_ns, rank, event);
    }

    fn push(&mut self, at_ns: SimTime, rank: u32, event: E) {
        debug_assert!(at_ns >= self.now_ns, "event scheduled in the past");
        let time_ns = at_ns.max(self.now_ns);
        self.heap.push(Entry { time_ns, rank, seq: self.next_seq, event });
        self.next_seq += 1;
    }

    /// Schedules `event` `delay_ns` from now.
    pub fn schedule_in(&mut self, delay_ns: u64, event: E) {
        self.schedule(self.now_ns.saturating_add(delay_ns), event);
    }

    /// Removes the next event and advances the clock to it.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let e = self.heap.pop()?;
        debug_assert!(e.time_ns >= self.now_ns, "time went backwards");
        self.now_ns = e.time_ns;
        self.popped += 1;
        Some((e.time_ns, e.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_then_insertion_order() {
        let mut q = EventQueue::new();
        q.schedule(5, 'a');
        q.schedule(3, 'b');
        q.schedule(5, 'c');
        q.schedule(3, 'd');
        let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['b', 'd', 'a', 'c']);
        assert_eq!(q.now(), 5);
        assert_eq!(q.events_processed(), 4);
    }

    #[test]
    fn schedule_in_is_relative_to_now() {
        let mut q = EventQueue::new();
        q.schedule(10, 1);
        q.pop();
        q.schedule_in(7, 2);
        assert_eq!(q.pop(), Some((17, 2)));
    }
}
