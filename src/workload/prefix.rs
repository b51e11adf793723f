//! Prefix structure of synthetic prompts: shared system prompts and multi-turn sessions, expressed as the
//! hash ids of each prompt's [`PREFIX_BLOCK_TOK`]-token blocks ([`RequestSpec::blocks`]), exactly like the
//! `hash_ids` of a Mooncake trace: equal ids mean equal prefix blocks.
//!
//! # Prompt layout
//!
//! A request's prompt is `[system prompt][conversation]`:
//! - **System prompts** (`system_prompts: N`, `system_prompt_tok: T`): each session picks one of `N` system
//!   prompts, uniformly (`system_prompt_zipf: 0`, the default) or Zipf-distributed with exponent `s`
//!   (`P(j) ~ 1 / (j + 1)^s`, prompt 0 the most popular), and its prompt starts with that system prompt's
//!   `T` tokens. The sampled input length is the user text *after* it (aiperf/genai-perf's convention for
//!   `--prefix-prompt-length`: the prefix is prepended), so `input_tok = T + isl` on a first turn.
//! - **Sessions** (`sessions: {turns: M, think_time: D}`): a session has a geometric number of turns on
//!   1, 2, ... with mean `M`; turn k+1's prompt is turn k's prompt + turn k's answer (its output length) +
//!   a new user message (a fresh `isl` draw), so `input_tok` grows turn by turn.
//!
//! # Block ids
//!
//! Block `i` covers prompt tokens `[512 i, 512 (i + 1))` (the last block may be partial). A block lying
//! entirely inside system prompt `j` has id `block_id(seed, SYSTEM, j, i, 512)`, shared by every request
//! with that system prompt; every other block belongs to its session `c` and has id
//! `block_id(seed, SESSION, c, i, fill)` where `fill` is the number of tokens in the block. So:
//! - all requests with system prompt `j` share exactly its `floor(T / 512)` full blocks; a block that mixes
//!   the system prompt's tail with user text is the session's own (as in real hashing of token blocks;
//!   choose `T` a multiple of 512 to share all of it);
//! - turn k+1 starts with all of turn k's *full* blocks; turn k's partial last block, completed in turn
//!   k+1, gets a new id. This is what the Mooncake conversation trace shows: among its 21,330 request pairs
//!   where a later prompt extends an earlier one whose length is not a multiple of 512, the earlier
//!   prompt's last (partial) block id never reappears, since the block's content changed.
//!
//! Ids are a 64-bit mix ([`block_id`]) of (seed, namespace, content id, block index, fill): deterministic
//! per seed, and unrelated content collides only with probability ~2^-64 per pair.
//!
//! # Timing (open loop)
//!
//! Session starts follow the scenario's arrival process with every rate divided by the mean turns, so the
//! long-run *request* rate is the configured `rate`. Turn k+1 arrives an exponential think time (mean `D`)
//! after turn k *arrived*. A real client waits for turn k's answer first; an open-loop source cannot
//! know when that comes, so this approximation spaces turns by think time alone (choose `D` at least
//! the expected response time for a faithful picture: a turn that arrives before its predecessor ends
//! simply finds less of its prefix cached). All of a session's lengths are drawn when it starts, so the
//! length sequence for a seed does not depend on the arrival process or rate.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::RngExt;
use rand_distr::Exp1;
use rand_pcg::Pcg64;

use super::synthetic::{rng_stream, splitmix64, ArrivalGen, LengthSampler, STREAM_ARRIVALS};
use crate::spec::workload::{Arrival, LengthDist, PrefixSpec, RequestSpec, PREFIX_BLOCK_TOK};

/// Stream id of the system-prompt choice.
pub const STREAM_SYSTEM_PROMPTS: u64 = 0x7379_735f_7072_6f6d; // "sys_prom"
/// Stream id of session turn counts and think times.
pub const STREAM_SESSIONS: u64 = 0x7365_7373_696f_6e73; // "sessions"

/// Namespace of system-prompt blocks in [`block_id`].
pub const NS_SYSTEM: u64 = 0x5359_5354_454d_0001;
/// Namespace of session (conversation) blocks in [`block_id`].
pub const NS_SESSION: u64 = 0x5345_5353_494f_4e02;

/// Turns per session are capped here (a geometric draw is unbounded).
pub const MAX_TURNS: u32 = 10_000;

/// The id of block `index` of content `content` in namespace `ns` holding `fill` tokens, for `seed`: each
/// word is folded into a splitmix64 state in turn, so every input bit changes about half the output bits.
pub fn block_id(seed: u64, ns: u64, content: u64, index: u64, fill: u64) -> u64 {
    let mut h = seed;
    for w in [ns, content, index, fill] {
        let mut s = h.rotate_left(29) ^ w;
        h = splitmix64(&mut s);
    }
    h
}

impl PrefixSpec {
    /// Whether this says anything about prefixes.
    pub fn is_active(&self) -> bool {
        self.system_prompts > 0 || self.sessions.is_some()
    }

    /// Checks the parameters; the message says what was expected.
    pub fn validate(&self) -> Result<(), String> {
        if self.system_prompts > 0 && self.system_prompt_tok < PREFIX_BLOCK_TOK {
            return Err(format!(
                "system_prompt_tok: expected at least {PREFIX_BLOCK_TOK} tokens (one prefix block, or nothing is \
                 shared), got {}",
                self.system_prompt_tok
            ));
        }
        if self.system_prompts == 0 && self.system_prompt_tok > 0 {
            return Err("system_prompt_tok: given without system_prompts: expected system_prompts >= 1".into());
        }
        if !(self.system_prompt_zipf.is_finite() && self.system_prompt_zipf >= 0.0) {
            return Err(format!("system_prompt_zipf: expected a number >= 0, got {}", self.system_prompt_zipf));
        }
        if let Some(s) = self.sessions {
            if !(s.mean_turns.is_finite() && s.mean_turns >= 1.0) {
                return Err(format!("sessions.turns: expected a mean number of turns >= 1, got {}", s.mean_turns));
            }
            if !(s.think_time_s.is_finite() && s.think_time_s >= 0.0) {
                return Err(format!("sessions.think_time: expected a duration >= 0, got {} s", s.think_time_s));
            }
        }
        Ok(())
    }
}

/// One generated request with its session bookkeeping.
#[derive(Debug, Clone)]
pub struct Turn {
    pub req: RequestSpec,
    pub session: u64,
    pub turn: u32,
    /// The system prompt, if any.
    pub system: Option<u32>,
}

#[derive(Debug, Clone)]
struct Pending(Turn, u64);

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        self.key() == o.key()
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key().cmp(&o.key())
    }
}
impl Pending {
    fn key(&self) -> (u64, u64) {
        (self.0.req.arrival_ns, self.1)
    }
}

/// Open-loop source of synthetic requests with prefix blocks (see the module docs).
#[derive(Debug, Clone)]
pub struct PrefixGen {
    arrivals: ArrivalGen,
    arrival_rng: Pcg64,
    lengths: LengthSampler,
    seed: u64,
    system_prompt_tok: u32,
    /// Cumulative choice probabilities of the system prompts (empty: none).
    system_cdf: Vec<f64>,
    system_rng: Pcg64,
    /// `(mean turns, mean think time ns)`.
    sessions: Option<(f64, f64)>,
    session_rng: Pcg64,
    next_session: u64,
    next_start: Option<u64>,
    arrivals_done: bool,
    pending: BinaryHeap<Reverse<Pending>>,
    seq: u64,
}

impl PrefixGen {
    /// Validates and builds the source. Offline arrival with sessions is refused: every session would start
    /// at t = 0 forever and no second turn would ever come out.
    pub fn new(
        arrival: &Arrival,
        isl: &LengthDist,
        osl: &LengthDist,
        prefix: &PrefixSpec,
        seed: u64,
    ) -> Result<PrefixGen, String> {
        if prefix.sessions.is_some() && matches!(arrival, Arrival::Offline) {
            return Err("sessions: expected an open-loop arrival process with a rate (poisson, gamma, diurnal, \
                        step, ramp), got offline"
                .into());
        }
        Self::build(arrival, isl, osl, prefix, seed)
    }

    /// The prompts (system prompts, sessions) of closed-loop clients, which send them themselves:
    /// no arrival times.
    pub fn for_clients(
        isl: &LengthDist,
        osl: &LengthDist,
        prefix: &PrefixSpec,
        seed: u64,
    ) -> Result<PrefixGen, String> {
        Self::build(&Arrival::Offline, isl, osl, prefix, seed)
    }

    fn build(
        arrival: &Arrival,
        isl: &LengthDist,
        osl: &LengthDist,
        prefix: &PrefixSpec,
        seed: u64,
    ) -> Result<PrefixGen, String> {
        prefix.validate()?;
        let mean_turns = prefix.sessions.map_or(1.0, |s| s.mean_turns);
        let arrivals = ArrivalGen::new(&arrival.scaled(1.0 / mean_turns))?;
        let n = prefix.system_prompts as usize;
        let mut system_cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for j in 0..n {
            acc += (j as f64 + 1.0).powf(-prefix.system_prompt_zipf);
            system_cdf.push(acc);
        }
        for c in &mut system_cdf {
            *c /= acc;
        }
        Ok(PrefixGen {
            arrivals,
            arrival_rng: rng_stream(seed, STREAM_ARRIVALS),
            lengths: LengthSampler::new(isl.clone(), osl.clone(), seed),
            seed,
            system_prompt_tok: prefix.system_prompt_tok,
            system_cdf,
            system_rng: rng_stream(seed, STREAM_SYSTEM_PROMPTS),
            sessions: prefix.sessions.map(|s| (s.mean_turns, s.think_time_s * 1e9)),
            session_rng: rng_stream(seed, STREAM_SESSIONS),
            next_session: 0,
            next_start: None,
            arrivals_done: false,
            pending: BinaryHeap::new(),
            seq: 0,
        })
    }

    /// Whether the source ends (its session starts end).
    pub fn ends(&self) -> bool {
        self.arrivals.ends()
    }

    /// The blocks of a prompt of `input` tokens whose first `sys_tok` tokens are system prompt `system`.
    fn blocks(&self, input: u32, system: Option<u32>, sys_tok: u32, session: u64) -> Vec<u64> {
        let b = u64::from(PREFIX_BLOCK_TOK);
        let (input, sys_tok) = (u64::from(input), u64::from(sys_tok));
        (0..input.div_ceil(b))
            .map(|i| {
                let end = ((i + 1) * b).min(input);
                match system {
                    Some(j) if (i + 1) * b <= sys_tok => block_id(self.seed, NS_SYSTEM, u64::from(j), i, b),
                    _ => block_id(self.seed, NS_SESSION, session, i, end - i * b),
                }
            })
            .collect()
    }

    /// Draws a whole session starting at `t0` and queues its turns, each an exponential think time
    /// after the one before arrived.
    fn start_session(&mut self, t0: u64) {
        let mut c = self.new_session();
        let mut t = t0;
        while c.turns_left > 0 {
            let (mut turn, think_ns) = self.next_turn_of(&mut c);
            turn.req.arrival_ns = t;
            self.pending.push(Reverse(Pending(turn, self.seq)));
            self.seq += 1;
            t = t.saturating_add(think_ns);
        }
    }

    /// Starts a session: its system prompt and number of turns.
    fn new_session(&mut self) -> SessionCursor {
        let session = self.next_session;
        self.next_session += 1;
        let system = if self.system_cdf.is_empty() {
            None
        } else {
            let u: f64 = self.system_rng.random();
            let j = self.system_cdf.partition_point(|&c| c <= u).min(self.system_cdf.len() - 1);
            Some(j as u32)
        };
        let sys_tok = if system.is_some() { self.system_prompt_tok } else { 0 };
        let turns = match self.sessions {
            None => 1,
            Some((mean, _)) if mean <= 1.0 => 1,
            Some((mean, _)) => {
                let u: f64 = self.session_rng.random();
                let k = ((1.0 - u).ln() / (1.0 - 1.0 / mean).ln()).floor();
                // Saturating cast; the cap keeps a pathological draw finite.
                (k as u32).saturating_add(1).min(MAX_TURNS)
            }
        };
        SessionCursor { session, system, sys_tok, turn: 0, turns_left: turns, prev_in: sys_tok, prev_out: 0 }
    }

    /// The session's next turn (arrival time 0), and the think time before the one after it (0
    /// when none follows). The think time is drawn before the turn's lengths, in the order the
    /// turns' draws have always come.
    fn next_turn_of(&mut self, c: &mut SessionCursor) -> (Turn, u64) {
        debug_assert!(c.turns_left > 0);
        let (user, out_tok) = self.lengths.sample();
        let input = c.prev_in.saturating_add(c.prev_out).saturating_add(user);
        let blocks = self.blocks(input, c.system, c.sys_tok, c.session);
        let req = RequestSpec { arrival_ns: 0, input_tok: input, output_tok: out_tok, blocks: Some(blocks.into()) };
        let turn = Turn { req, session: c.session, turn: c.turn, system: c.system };
        (c.prev_in, c.prev_out) = (input, out_tok);
        c.turn += 1;
        c.turns_left -= 1;
        let mut think = 0;
        if c.turns_left > 0 {
            let think_ns = self.sessions.map_or(0.0, |(_, t)| t);
            let e: f64 = self.session_rng.sample(Exp1);
            think = (e * think_ns).round() as u64;
        }
        (turn, think)
    }

    /// The next request in arrival order with its session and turn.
    pub fn next_turn(&mut self) -> Option<Turn> {
        loop {
            if self.next_start.is_none() && !self.arrivals_done {
                self.next_start = self.arrivals.next_ns(&mut self.arrival_rng);
                self.arrivals_done = self.next_start.is_none();
            }
            let head = self.pending.peek().map(|p| p.0 .0.req.arrival_ns);
            match (head, self.next_start) {
                (Some(h), Some(s)) if h <= s => return self.pending.pop().map(|p| p.0 .0),
                (Some(_), None) => return self.pending.pop().map(|p| p.0 .0),
                (_, Some(s)) => {
                    self.next_start = None;
                    self.start_session(s);
                }
                (None, None) => return None,
            }
        }
    }
}

impl Iterator for PrefixGen {
    type Item = RequestSpec;

    fn next(&mut self) -> Option<RequestSpec> {
        self.next_turn().map(|t| t.req)
    }
}

/// Closed-loop clients that hold conversations: each client sends its session's turns one after
/// the other, turn k+1 an exponential think time (mean `think_time`) after turn k's answer came, and
/// starts its next session as soon as one ends (as closed-loop clients send their next request).
/// A turn that fails (rejected or timed out) ends its session: the user gives up on it.
pub struct SessionClients {
    gen: PrefixGen,
    /// Each client's conversation in progress, drawn turn by turn as it is sent.
    sessions: Vec<Option<SessionCursor>>,
}

/// Where a session is: what its next turn builds on.
struct SessionCursor {
    session: u64,
    system: Option<u32>,
    sys_tok: u32,
    turn: u32,
    turns_left: u32,
    prev_in: u32,
    prev_out: u32,
}

impl SessionClients {
    /// `concurrency` clients drawing their sessions (and system prompts) from `gen`'s streams.
    pub fn new(gen: PrefixGen, concurrency: u32) -> SessionClients {
        SessionClients { gen, sessions: (0..concurrency).map(|_| None).collect() }
    }
}

impl crate::spec::workload::ClosedLoopSource for SessionClients {
    /// The client's next turn; the next one follows a think time after its answer (none when a
    /// new session follows).
    fn next_request(&mut self, client: u32) -> (RequestSpec, u64) {
        let slot = &mut self.sessions[client as usize];
        let mut c = match slot.take() {
            Some(c) => c,
            None => self.gen.new_session(),
        };
        let (turn, think) = self.gen.next_turn_of(&mut c);
        if c.turns_left > 0 {
            self.sessions[client as usize] = Some(c);
        }
        (turn.req, think)
    }

    /// The rest of the failed turn's session is not sent.
    fn failed(&mut self, client: u32) {
        self.sessions[client as usize] = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::workload::SessionSpec;
    use std::collections::HashMap;

    const NS: u64 = 1_000_000_000;

    fn gen(prefix: PrefixSpec, seed: u64) -> PrefixGen {
        PrefixGen::new(
            &Arrival::Poisson { rate_per_s: 50.0 },
            &LengthDist::Uniform { min: 1, max: 3000 },
            &LengthDist::Uniform { min: 1, max: 800 },
            &prefix,
            seed,
        )
        .unwrap()
    }

    fn sys(n: u32, tok: u32) -> PrefixSpec {
        PrefixSpec { system_prompts: n, system_prompt_tok: tok, ..Default::default() }
    }

    #[test]
    fn session_clients_send_turns_in_order_and_drop_a_failed_session() {
        use crate::spec::workload::ClosedLoopSource;
        let spec = PrefixSpec { sessions: Some(SessionSpec { mean_turns: 50.0, think_time_s: 3.0 }), ..sys(1, 512) };
        let mut c = SessionClients::new(gen(spec, 9), 2);
        let (a0, think_a) = c.next_request(0);
        let (b0, _) = c.next_request(1);
        let (a1, _) = c.next_request(0);
        // client 0's second turn extends its first (prompt + answer + new text); client 1 is
        // another conversation
        assert!(a1.input_tok > a0.input_tok + a0.output_tok);
        let (ab, bb) = (a0.blocks.as_deref().unwrap(), b0.blocks.as_deref().unwrap());
        assert_eq!(a1.blocks.as_deref().unwrap()[..ab.len() - 1], ab[..ab.len() - 1]);
        assert_ne!(ab.last(), bb.last());
        assert!(think_a > 0);
        // a failed turn ends the conversation: the next request starts another (system prompt +
        // user text only)
        c.failed(0);
        let (fresh, _) = c.next_request(0);
        assert!(fresh.input_tok <= 512 + 3000, "{}", fresh.input_tok);
        assert_ne!(fresh.blocks.as_deref().unwrap().last(), a1.blocks.as_deref().unwrap().last());
    }

    fn blocks(t: &Turn) -> &[u64] {
        t.req.blocks.as_deref().unwrap()
    }

    #[test]
    fn same_system_prompt_shares_exactly_its_blocks() {
        // 1300 tokens: 2 full system blocks; block 2 mixes system and user text and is not shared.
        let mut g = gen(sys(3, 1300), 5);
        let turns: Vec<Turn> = (0..3000).map(|_| g.next_turn().unwrap()).collect();
        let mut by_sys: HashMap<u32, Vec<&Turn>> = HashMap::new();
        for t in &turns {
            assert!(t.req.input_tok > 1300);
            assert_eq!(blocks(t).len() as u32, t.req.input_tok.div_ceil(PREFIX_BLOCK_TOK));
            by_sys.entry(t.system.unwrap()).or_default().push(t);
        }
        assert_eq!(by_sys.len(), 3);
        let mut firsts = Vec::new();
        for group in by_sys.values() {
            let head = &blocks(group[0])[..2];
            firsts.push(head[0]);
            for (a, b) in group.iter().zip(group.iter().skip(1)) {
                let (a, b) = (blocks(a), blocks(b));
                assert_eq!(a[..2], b[..2]);
                assert_eq!(&a[..2], head);
                // Nothing after the system prompt is shared between unrelated requests.
                for x in &a[2..] {
                    assert!(!b.contains(x));
                }
            }
        }
        firsts.sort_unstable();
        firsts.dedup();
        assert_eq!(firsts.len(), 3, "different system prompts have different blocks");
        // Uniform choice: each prompt about a third of the requests.
        for group in by_sys.values() {
            assert!((group.len() as f64 / 1000.0 - 1.0).abs() < 0.15, "{}", group.len());
        }
        // A multiple of 512 shares every system block.
        let mut g = gen(sys(1, 1024), 5);
        let (a, b) = (g.next_turn().unwrap(), g.next_turn().unwrap());
        assert_eq!(blocks(&a)[..2], blocks(&b)[..2]);
        assert_ne!(blocks(&a)[2], blocks(&b)[2]);
    }

    #[test]
    fn zipf_prefers_the_first_prompt() {
        let mut g = gen(PrefixSpec { system_prompt_zipf: 1.0, ..sys(4, 512) }, 1);
        let mut count = [0u32; 4];
        for _ in 0..20_000 {
            count[g.next_turn().unwrap().system.unwrap() as usize] += 1;
        }
        // P(j) = (1/(j+1)) / H_4, H_4 = 25/12.
        for (j, c) in count.iter().enumerate() {
            let want = 12.0 / 25.0 / (j as f64 + 1.0);
            assert!((f64::from(*c) / 20_000.0 - want).abs() < 0.015, "prompt {j}: {c}");
        }
    }

    #[test]
    fn session_turns_extend_previous_blocks() {
        let spec = PrefixSpec { sessions: Some(SessionSpec { mean_turns: 4.0, think_time_s: 30.0 }), ..sys(2, 1024) };
        let mut g = gen(spec, 9);
        let turns: Vec<Turn> =
            std::iter::from_fn(|| g.next_turn()).take_while(|t| t.req.arrival_ns < 1_000 * NS).collect();
        let mut last: HashMap<u64, &Turn> = HashMap::new();
        let mut checked = 0;
        let mut prev_t = 0;
        for t in &turns {
            assert!(t.req.arrival_ns >= prev_t, "arrival order");
            prev_t = t.req.arrival_ns;
            if let Some(p) = last.get(&t.session) {
                assert_eq!(t.turn, p.turn + 1, "turns in order");
                assert_eq!(t.system, p.system);
                assert!(t.req.input_tok > p.req.input_tok + p.req.output_tok);
                let full = (p.req.input_tok / PREFIX_BLOCK_TOK) as usize;
                assert_eq!(blocks(t)[..full], blocks(p)[..full], "turn {} keeps turn {}'s full blocks", t.turn, p.turn);
                if p.req.input_tok % PREFIX_BLOCK_TOK != 0 {
                    // The partial block was completed: new content, new id (as in Mooncake traces).
                    assert_ne!(blocks(t)[full], blocks(p)[full]);
                } else {
                    assert!(blocks(t).starts_with(blocks(p)));
                }
                assert!(t.req.arrival_ns >= p.req.arrival_ns);
                checked += 1;
            } else {
                assert_eq!(t.turn, 0);
            }
            last.insert(t.session, t);
        }
        assert!(checked > 10_000, "{checked}");
        // Requests arrive at `rate` although sessions start at rate / turns: measured after the warm-up
        // (sessions "started before 0" are missing early on; by 600 s a session has < 0.5 % chance to last).
        let late = turns.iter().filter(|t| t.req.arrival_ns >= 600 * NS).count();
        let rate = late as f64 / 400.0;
        assert!((rate / 50.0 - 1.0).abs() < 0.04, "request rate {rate}");
        // Mean turns per session, over sessions that started early enough to be complete.
        let early: std::collections::HashSet<u64> =
            turns.iter().filter(|t| t.turn == 0 && t.req.arrival_ns < 300 * NS).map(|t| t.session).collect();
        let n = turns.iter().filter(|t| early.contains(&t.session)).count();
        let mean = n as f64 / early.len() as f64;
        assert!((mean / 4.0 - 1.0).abs() < 0.1, "mean turns {mean}");
    }

    #[test]
    fn deterministic_per_seed_and_seeds_differ() {
        let spec = PrefixSpec { sessions: Some(SessionSpec { mean_turns: 3.0, think_time_s: 5.0 }), ..sys(4, 2048) };
        let a: Vec<RequestSpec> = gen(spec.clone(), 3).take(2000).collect();
        let b: Vec<RequestSpec> = gen(spec.clone(), 3).take(2000).collect();
        assert_eq!(a, b);
        let c: Vec<RequestSpec> = gen(spec, 4).take(2000).collect();
        assert_ne!(a, c);
        let ids = |v: &[RequestSpec]| -> std::collections::HashSet<u64> {
            v.iter().flat_map(|r| r.blocks.as_deref().unwrap().iter().copied()).collect()
        };
        assert!(ids(&a).is_disjoint(&ids(&c)), "different seeds, unrelated ids");
    }

    #[test]
    fn block_id_mixes_every_input() {
        let base = block_id(1, NS_SESSION, 2, 3, 512);
        for other in [
            block_id(2, NS_SESSION, 2, 3, 512),
            block_id(1, NS_SYSTEM, 2, 3, 512),
            block_id(1, NS_SESSION, 3, 3, 512),
            block_id(1, NS_SESSION, 2, 4, 512),
            block_id(1, NS_SESSION, 2, 3, 511),
        ] {
            assert_ne!(base, other);
            assert!((base ^ other).count_ones() > 12);
        }
    }

    #[test]
    fn bad_prefix_specs() {
        let mk = |p: PrefixSpec, a: Arrival| {
            PrefixGen::new(&a, &LengthDist::Fixed(10), &LengthDist::Fixed(10), &p, 1).err().unwrap_or_default()
        };
        let poisson = Arrival::Poisson { rate_per_s: 1.0 };
        assert!(mk(sys(2, 100), poisson.clone()).contains("at least 512"));
        assert!(mk(sys(0, 600), poisson.clone()).contains("without system_prompts"));
        let s = |m, d| PrefixSpec { sessions: Some(SessionSpec { mean_turns: m, think_time_s: d }), ..sys(0, 0) };
        assert!(mk(s(0.5, 1.0), poisson.clone()).contains("turns"));
        assert!(mk(s(2.0, -1.0), poisson).contains("think_time"));
        assert!(mk(s(2.0, 1.0), Arrival::Offline).contains("offline"));
    }
}
