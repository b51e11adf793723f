//! The router: which decode-side worker (and, under KV-aware routing, which prefill worker) serves
//! a request: round robin, least loaded, or Dynamo's KV-aware cost.

use super::*;

/// The router's own state: its policy and settings, the round-robin cursor and the random stream
/// of KV-aware routing at a temperature (the seam a new routing policy plugs into).
pub(super) struct Router {
    pub(super) policy: RouterPolicy,
    overlap_weight: f64,
    temperature: f64,
    rr_next: usize,
    rng: rand_pcg::Pcg64,
}

impl Router {
    pub(super) fn new(c: &ClusterConfig, seed: u64) -> Router {
        Router {
            policy: c.router,
            overlap_weight: c.kv_router.overlap_weight,
            temperature: c.kv_router.temperature,
            rr_next: 0,
            rng: crate::core::rng::rng_stream(seed, 0x524f_5554_4552),
        }
    }

    /// Dynamo's KV router cost: `overlap_weight x blocks to prefill + load in blocks`.
    pub(super) fn kv_cost(&self, uncached_tok: u32, load_blocks: f64) -> f64 {
        let w = self.overlap_weight;
        w * uncached_tok.div_ceil(PREFIX_BLOCK_TOK) as f64 + load_blocks
    }

    /// The lowest cost (first on ties), or at a temperature a softmax draw over the costs
    /// normalised to [0, 1].
    pub(super) fn pick(&mut self, costs: &[f64]) -> usize {
        let t = self.temperature;
        // replicas not serving cost infinity: never picked
        let (lo, hi) = costs
            .iter()
            .filter(|c| c.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &c| (a.min(c), b.max(c)));
        let best = costs.iter().position(|&c| c == lo).unwrap_or(0);
        if t <= 0.0 || hi <= lo {
            return best;
        }
        let weights: Vec<f64> =
            costs.iter().map(|&c| if c.is_finite() { (-(c - lo) / (hi - lo) / t).exp() } else { 0.0 }).collect();
        let total: f64 = weights.iter().sum();
        let mut x = self.rng.random::<f64>() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        best
    }
}

impl Sim<'_> {
    /// Tokens of `slot`'s prompt in decode-side worker `d`'s prefix cache.
    pub(super) fn cached_on_gen(&self, d: usize, slot: u32) -> u32 {
        let r = &self.reqs[slot as usize];
        match (&self.gen[d].cache, &r.blocks) {
            (Some(c), Some(b)) => cached_tokens(c.matched(b), r.input_tok),
            _ => 0,
        }
    }

    /// Picks the decode-side worker (decode pool, or the single aggregated pool) for `slot`.
    pub(super) fn route_gen(&mut self, slot: u32) -> usize {
        match self.router.policy {
            RouterPolicy::RoundRobin => {
                let n = self.gen.len();
                for _ in 0..n {
                    let w = self.router.rr_next % n;
                    self.router.rr_next = self.router.rr_next.wrapping_add(1);
                    if self.gen[w].rep.life == Life::Serving {
                        return w;
                    }
                }
                unreachable!("at least one decode-side replica serves")
            }
            RouterPolicy::LeastLoaded => {
                let mut best = usize::MAX;
                for (i, w) in self.gen.iter().enumerate() {
                    if w.rep.life == Life::Serving && (best == usize::MAX || w.load() < self.gen[best].load()) {
                        best = i;
                    }
                }
                best
            }
            RouterPolicy::KvAware => {
                let costs: Vec<f64> = (0..self.gen.len())
                    .map(|d| {
                        let w = &self.gen[d];
                        if w.rep.life != Life::Serving {
                            return f64::INFINITY;
                        }
                        let uncached = self.reqs[slot as usize].input_tok - self.cached_on_gen(d, slot);
                        let load = (w.used_tok + w.queued_tok) as f64 / PREFIX_BLOCK_TOK as f64;
                        self.router.kv_cost(uncached, load)
                    })
                    .collect();
                self.router.pick(&costs)
            }
        }
    }

    /// Picks the prefill worker for `slot` (KV-aware routing; otherwise the shared queue decides).
    pub(super) fn route_prefill(&mut self, slot: u32) -> usize {
        if self.router.policy != RouterPolicy::KvAware {
            return 0;
        }
        let r = &self.reqs[slot as usize];
        let costs: Vec<f64> = self
            .prefill
            .iter()
            .map(|w| {
                if w.rep.life != Life::Serving {
                    return f64::INFINITY;
                }
                let cached = match (&w.cache, &r.blocks) {
                    (Some(c), Some(b)) => cached_tokens(c.matched(b), r.input_tok),
                    _ => 0,
                };
                let load = (w.queued_tok + w.held_tok) as f64 / PREFIX_BLOCK_TOK as f64;
                self.router.kv_cost(r.input_tok - cached, load)
            })
            .collect();
        self.router.pick(&costs)
    }

    pub(super) fn queue_of(&self, prefill_worker: usize) -> usize {
        if self.prefill_queues.len() > 1 {
            prefill_worker
        } else {
            0
        }
    }
}
