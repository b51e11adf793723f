//! Discrete-event core: integer-nanosecond simulated time and an event queue with a deterministic
//! tie-break (at one instant, keyed timers fire first, lowest key first, then events in the order
//! they were scheduled). No I/O, no clocks.

pub mod rng;

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// An instant of simulated time: nanoseconds since the start of the run. Durations stay plain
/// `u64` nanoseconds (`_ns` names): an instant plus a duration is an instant, the difference of two
/// instants is a duration, and two instants do not add, so a duration cannot be stored where a time
/// is due (or the other way round) without saying so (`from_ns`, `as_ns`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct SimTime(u64);

impl SimTime {
    /// The start of the run.
    pub const ZERO: SimTime = SimTime(0);
    /// Never: later than every instant a run reaches.
    pub const MAX: SimTime = SimTime(u64::MAX);

    #[inline]
    pub const fn from_ns(ns: u64) -> SimTime {
        SimTime(ns)
    }

    /// Nanoseconds since the start of the run.
    #[inline]
    pub const fn as_ns(self) -> u64 {
        self.0
    }

    /// `self + d_ns`, [`SimTime::MAX`] where it would overflow.
    #[inline]
    pub const fn saturating_add(self, d_ns: u64) -> SimTime {
        SimTime(self.0.saturating_add(d_ns))
    }

    /// The duration from `earlier` to `self`, 0 when `earlier` is later.
    #[inline]
    pub const fn saturating_since(self, earlier: SimTime) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// `self - d_ns`, the start of the run where it would go before it.
    #[inline]
    pub const fn saturating_sub(self, d_ns: u64) -> SimTime {
        SimTime(self.0.saturating_sub(d_ns))
    }
}

impl std::ops::Add<u64> for SimTime {
    type Output = SimTime;
    /// An instant `d_ns` later.
    #[inline]
    fn add(self, d_ns: u64) -> SimTime {
        SimTime(self.0 + d_ns)
    }
}

impl std::ops::AddAssign<u64> for SimTime {
    #[inline]
    fn add_assign(&mut self, d_ns: u64) {
        self.0 += d_ns;
    }
}

impl std::ops::Sub for SimTime {
    type Output = u64;
    /// The duration between two instants (`self` not before `earlier`).
    #[inline]
    fn sub(self, earlier: SimTime) -> u64 {
        self.0 - earlier.0
    }
}

impl std::ops::Sub<u64> for SimTime {
    type Output = SimTime;
    /// An instant `d_ns` earlier (not before the start of the run).
    #[inline]
    fn sub(self, d_ns: u64) -> SimTime {
        SimTime(self.0 - d_ns)
    }
}

impl std::fmt::Display for SimTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ns", self.0)
    }
}

pub const NS_PER_S: u64 = 1_000_000_000;
pub const NS_PER_MS: u64 = 1_000_000;

struct Entry<E> {
    time_ns: SimTime,
    /// Order among events at the same time: the order they were scheduled.
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.time_ns == other.time_ns && self.seq == other.seq
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
        (other.time_ns, other.seq).cmp(&(self.time_ns, self.seq))
    }
}

/// One pending time per key (a small dense index, e.g. a worker), earliest first and lowest key on
/// ties: a tournament tree whose leaves are the keys, so setting or moving a key's time is
/// `O(log keys)` and leaves nothing behind (a heap would keep the time it replaced until popped).
#[derive(Default)]
struct Timers {
    /// `tree[1]` is the winner; leaves start at `tree.len() / 2`; a `SimTime::MAX` time is unset.
    tree: Vec<(SimTime, u32)>,
}

impl Timers {
    #[inline]
    fn leaves(&self) -> usize {
        self.tree.len() / 2
    }

    #[inline]
    fn set(&mut self, key: u32, at_ns: SimTime) {
        let k = key as usize;
        if k >= self.leaves() {
            self.grow(k + 1);
        }
        let mut i = self.leaves() + k;
        self.tree[i] = (at_ns, key);
        while i > 1 {
            i /= 2;
            self.tree[i] = self.tree[2 * i].min(self.tree[2 * i + 1]);
        }
    }

    fn grow(&mut self, keys: usize) {
        let old: Vec<(SimTime, u32)> = self.tree[self.leaves()..].to_vec();
        let n = keys.next_power_of_two().max(2);
        self.tree = vec![(SimTime::MAX, u32::MAX); 2 * n];
        for (k, t) in self.tree[n..].iter_mut().enumerate() {
            *t = old.get(k).copied().unwrap_or((SimTime::MAX, k as u32));
        }
        for i in (1..n).rev() {
            self.tree[i] = self.tree[2 * i].min(self.tree[2 * i + 1]);
        }
    }

    fn is_set(&self, key: u32) -> bool {
        self.tree.get(self.leaves() + key as usize).is_some_and(|&(t, _)| t != SimTime::MAX)
    }

    /// The earliest pending `(time, key)`.
    #[inline]
    fn peek(&self) -> Option<(SimTime, u32)> {
        self.tree.get(1).copied().filter(|&(t, _)| t != SimTime::MAX)
    }
}

/// What [`EventQueue::pop`] hands out.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Next<E> {
    Event(E),
    /// A keyed timer (see [`EventQueue::set_timer`]) that came due.
    Timer(u32),
}

/// A min-queue of events on `(time_ns, insertion order)`, and keyed timers that come before them;
/// `now` only moves forward.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    timers: Timers,
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
        EventQueue { heap: BinaryHeap::new(), timers: Timers::default(), next_seq: 0, now_ns: SimTime::ZERO, popped: 0 }
    }

    pub fn now(&self) -> SimTime {
        self.now_ns
    }

    /// Events handled so far.
    pub fn events_processed(&self) -> u64 {
        self.popped
    }

    /// Scheduled events pending (timers not counted).
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty() && self.timers.peek().is_none()
    }

    /// Schedules `event` at absolute time `at_ns`, which must not be in the past.
    pub fn schedule(&mut self, at_ns: SimTime, event: E) {
        debug_assert!(at_ns >= self.now_ns, "event scheduled in the past");
        let time_ns = at_ns.max(self.now_ns);
        self.heap.push(Entry { time_ns, seq: self.next_seq, event });
        self.next_seq += 1;
    }

    /// Sets timer `key` to come due at `at_ns` (not in the past), replacing its pending time if it
    /// has one. At one instant timers come before every scheduled event, lowest key first: their
    /// order depends on the keys, not on when each was set, so a simulation may set a timer early
    /// and move it later without changing the order of anything.
    pub fn set_timer(&mut self, key: u32, at_ns: SimTime) {
        debug_assert!(at_ns >= self.now_ns && at_ns < SimTime::MAX, "timer at {at_ns}");
        self.timers.set(key, at_ns.max(self.now_ns));
    }

    /// Schedules `event` `delay_ns` from now.
    pub fn schedule_in(&mut self, delay_ns: u64, event: E) {
        self.schedule(self.now_ns.saturating_add(delay_ns), event);
    }

    /// Whether timer `key` is set and has not come due yet.
    pub fn timer_pending(&self, key: u32) -> bool {
        self.timers.is_set(key)
    }

    /// Removes the next timer or event and advances the clock to it.
    pub fn pop(&mut self) -> Option<(SimTime, Next<E>)> {
        let event_ns = self.heap.peek().map_or(SimTime::MAX, |e| e.time_ns);
        let (time_ns, next) = match self.timers.peek() {
            Some((t, key)) if t <= event_ns => {
                self.timers.set(key, SimTime::MAX);
                (t, Next::Timer(key))
            }
            _ => {
                let e = self.heap.pop()?;
                (e.time_ns, Next::Event(e.event))
            }
        };
        debug_assert!(time_ns >= self.now_ns, "time went backwards");
        self.now_ns = time_ns;
        self.popped += 1;
        Some((time_ns, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ns: u64) -> SimTime {
        SimTime::from_ns(ns)
    }

    /// Everything left, times in nanoseconds.
    fn drain(q: &mut EventQueue<char>) -> Vec<(u64, Next<char>)> {
        std::iter::from_fn(|| q.pop()).map(|(at, e)| (at.as_ns(), e)).collect()
    }

    #[test]
    fn pops_in_time_then_insertion_order() {
        let mut q = EventQueue::new();
        q.schedule(t(5), 'a');
        q.schedule(t(3), 'b');
        q.schedule(t(5), 'c');
        q.schedule(t(3), 'd');
        let order: Vec<Next<char>> = drain(&mut q).into_iter().map(|(_, e)| e).collect();
        assert_eq!(order, ['b', 'd', 'a', 'c'].map(Next::Event));
        assert_eq!(q.now(), t(5));
        assert_eq!(q.events_processed(), 4);
    }

    #[test]
    fn schedule_in_is_relative_to_now() {
        let mut q = EventQueue::new();
        q.schedule(t(10), 1);
        q.pop();
        q.schedule_in(7, 2);
        assert_eq!(q.pop(), Some((t(17), Next::Event(2))));
    }

    #[test]
    fn timers_come_first_at_an_instant_by_key_and_can_move() {
        let mut q = EventQueue::new();
        q.schedule(t(5), 'a');
        q.set_timer(9, t(5)); // grows the tree past its first size
        q.set_timer(2, t(7));
        q.set_timer(0, t(5));
        q.schedule(t(4), 'b');
        q.set_timer(2, t(3)); // moved earlier: the time it replaced is gone
        q.set_timer(4, t(100));
        q.set_timer(4, t(6)); // and later
        let got = drain(&mut q);
        use Next::*;
        assert_eq!(got, [(3, Timer(2)), (4, Event('b')), (5, Timer(0)), (5, Timer(9)), (5, Event('a')), (6, Timer(4))]);
        assert_eq!(q.events_processed(), 6);
        assert!(q.is_empty());
        // a timer that came due can be set again
        q.set_timer(2, t(8));
        assert!(q.timer_pending(2) && !q.timer_pending(3) && !q.timer_pending(1000));
        assert_eq!(q.pop(), Some((t(8), Timer(2))));
        assert!(!q.timer_pending(2));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn timers_pending_survive_the_tree_growing() {
        let mut q: EventQueue<char> = EventQueue::new();
        q.set_timer(1, t(7));
        q.set_timer(0, t(9));
        q.set_timer(2, t(8)); // 2 leaves -> 4
        q.set_timer(40, t(9)); // 4 -> 64
        q.schedule(t(9), 'e');
        use Next::*;
        assert_eq!(q.pop(), Some((t(7), Timer(1))));
        q.set_timer(3, t(7)); // due now: next
        let got = drain(&mut q);
        assert_eq!(got, [(7, Timer(3)), (8, Timer(2)), (9, Timer(0)), (9, Timer(40)), (9, Event('e'))]);
    }

    #[test]
    fn timers_match_a_reference_queue_under_random_use() {
        // the reference: a set timer is an entry ordered (time, 0, key); events (time, 1, seq);
        // an entry whose timer was set again since is skipped
        use rand::{RngExt, SeedableRng};
        use std::collections::{BTreeSet, HashMap};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let mut q: EventQueue<u32> = EventQueue::new();
        let mut reference: BTreeSet<(SimTime, u8, u64, u64, Next<u32>)> = BTreeSet::new();
        let mut live: HashMap<u32, u64> = HashMap::new(); // each timer's current entry
        for seq in 0..20_000u64 {
            let at = q.now() + rng.random_range(0..30);
            let key = rng.random_range(0..20);
            match rng.random_range(0..10) {
                0..=3 => {
                    q.set_timer(key, at);
                    live.insert(key, seq);
                    reference.insert((at, 0, key as u64, seq, Next::Timer(key)));
                }
                4..=5 => {
                    q.schedule(at, key);
                    reference.insert((at, 1, seq, seq, Next::Event(key)));
                }
                _ => {
                    let want = loop {
                        let Some((at, _, _, seq, what)) = reference.pop_first() else { break None };
                        match what {
                            Next::Timer(k) if live.get(&k) != Some(&seq) => continue,
                            Next::Timer(k) => {
                                live.remove(&k);
                            }
                            Next::Event(_) => {}
                        }
                        break Some((at, what));
                    };
                    assert_eq!(q.pop(), want);
                }
            }
        }
    }
}
