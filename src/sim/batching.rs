//! The batching policy of a decode-side worker (the seam per-engine schedulers plug into): which
//! waiting request it admits, which running sequence it preempts when KV memory runs out, and what
//! one step is made of. One variant per scheduler, chosen when the worker is built; `match` keeps
//! the dispatch static.
//!
//! Today's two variants are the generic scheduler pdsim has always run. Engine-specific ones
//! (TensorRT-LLM's `GUARANTEED_NO_EVICT`, vLLM V1, SGLang with retraction) add variants here and
//! a rule in [`BatchingPolicy::for_deployment`].

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BatchingPolicy {
    /// Every step decodes the running batch and fills the rest of its token budget with FIFO
    /// prefill chunks; admission on the prompt's KV (plus the batch's next tokens); recompute
    /// preemption of the newest sequence first (vLLM's recompute policy).
    Mixed,
    /// SGLang's default scheduling: a step either prefills (waiting prompts first) or decodes,
    /// never both (its `enable_mixed_chunk` is off by default). Admission and preemption as `Mixed`.
    PrefillFirst,
}

impl BatchingPolicy {
    /// The policy a deployment's decode-side workers run: SGLang's prefill-first batches where
    /// prefills and decodes share a worker (aggregated), the mixed batches otherwise.
    pub(super) fn for_deployment(c: &ClusterConfig) -> BatchingPolicy {
        if matches!(c.topology, Topology::Aggregated(_)) && c.backend == Backend::Sglang {
            BatchingPolicy::PrefillFirst
        } else {
            BatchingPolicy::Mixed
        }
    }

    /// Whether a request needing `need_tok` of KV can join `w`: a batch slot is free and, besides
    /// it, the next token of every sequence in the batch, this one included, still fits (so an
    /// admitted sequence is not preempted by the very step it joins).
    #[inline]
    pub(super) fn admits(self, w: &GenWorker, need_tok: u64) -> bool {
        match self {
            BatchingPolicy::Mixed | BatchingPolicy::PrefillFirst => {
                let occupied = w.occupied();
                // `+ occupied + 1 <= cap`: the batch with this sequence adds `occupied + 1` tokens next step
                occupied < w.max_batch as u64 && w.used_tok + need_tok + occupied < w.cap_tok
            }
        }
    }

    /// The index in `running` of the sequence to preempt: the most recently admitted.
    #[inline]
    pub(super) fn preemption_victim(self, running: &[u32], reqs: &[Req]) -> usize {
        match self {
            BatchingPolicy::Mixed | BatchingPolicy::PrefillFirst => {
                let (idx, _) = running
                    .iter()
                    .enumerate()
                    .max_by_key(|(_, &s)| reqs[s as usize].admit_seq)
                    .expect("running is not empty");
                idx
            }
        }
    }

    /// Whether the next step decodes the running batch (`prefills_pending`: local prefills wait).
    #[inline]
    pub(super) fn step_decodes(self, prefills_pending: bool) -> bool {
        match self {
            BatchingPolicy::Mixed => true,
            BatchingPolicy::PrefillFirst => !prefills_pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::deployment::{KvBackend, Mode};

    #[test]
    fn sglang_prefills_first_only_where_prefill_and_decode_share_a_worker() {
        for (mode, backend, want) in [
            (Mode::Aggregated, Backend::Sglang, BatchingPolicy::PrefillFirst),
            (Mode::Disaggregated, Backend::Sglang, BatchingPolicy::Mixed),
            (Mode::Aggregated, Backend::Vllm, BatchingPolicy::Mixed),
            (Mode::Aggregated, Backend::Trtllm, BatchingPolicy::Mixed),
        ] {
            let c = ClusterConfig { backend, ..super::super::tests::cluster(mode, KvBackend::Nixl) };
            assert_eq!(BatchingPolicy::for_deployment(&c), want, "{mode:?} {backend:?}");
        }
        assert!(BatchingPolicy::Mixed.step_decodes(true));
        assert!(!BatchingPolicy::PrefillFirst.step_decodes(true));
        assert!(BatchingPolicy::PrefillFirst.step_decodes(false));
    }

    #[test]
    fn the_newest_admitted_sequence_is_preempted() {
        let mut reqs = vec![Req::empty(), Req::empty(), Req::empty()];
        for (r, seq) in reqs.iter_mut().zip([5, 9, 7]) {
            r.admit_seq = seq;
        }
        assert_eq!(BatchingPolicy::Mixed.preemption_victim(&[0, 1, 2], &reqs), 1);
        assert_eq!(BatchingPolicy::Mixed.preemption_victim(&[2, 0], &reqs), 0);
    }
}
