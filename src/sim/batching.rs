//! The batching policy of a decode-side worker (the seam per-engine schedulers plug into): which
//! waiting request it admits, which running sequence it preempts when KV memory runs out, and what
//! one step is made of. One variant per scheduler, chosen when the worker is built; `match` keeps
//! the dispatch static.
//!
//! Each serving engine's default scheduler is a variant, chosen by the deployment's backend in
//! [`BatchingPolicy::for_deployment`]; a new scheduler is a variant here plus its rule there.

use super::*;
use crate::spec::deployment::EngineVersion;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BatchingPolicy {
    /// vLLM V1's scheduler: every step decodes the running batch first, then fills the rest of
    /// `max_num_batched_tokens` with FIFO prefill chunks; admission on the KV the request needs now
    /// (its prompt, plus the batch's next tokens); when KV runs out, recompute preemption of the
    /// newest sequence (vLLM docs, "Optimization and Tuning": chunked prefill and preemption; V1
    /// `Scheduler.schedule`).
    Mixed,
    /// TensorRT-LLM's default capacity scheduler, `GUARANTEED_NO_EVICT`: a request is admitted only
    /// when the KV of its whole life (prompt plus its maximum output) fits beside what the admitted
    /// requests have reserved, so nothing is ever preempted; with chunked context off (the default,
    /// `enable_chunked_context=False`) a prompt that does not fit whole in what the step's
    /// `max_num_tokens` leaves after the generation tokens waits for a later step (TensorRT-LLM docs,
    /// "Scheduler": capacity scheduler policies; "Useful Build-Time Flags": `max_num_tokens`).
    ///
    /// `overlap`: the PyTorch backend's overlap scheduler, on by default ("At step n, the system
    /// launches GPU computation for step n+1 without waiting for CPU tasks ... from step n ... The
    /// optimization introduces one extra decoding step", TensorRT-LLM docs, "Overlap Scheduler";
    /// its `PyExecutor` loop schedules and launches step n+1, then processes step n's results).
    /// So step n+1's batch is fixed when step n starts: a request that becomes ready while a step
    /// runs joins the step after the next (unless that next step would be empty), and a request
    /// whose last token step n produced is still in step n+1, holding its slot and KV and writing
    /// one token more, while its answer has already gone out at the end of step n (`extra_step`).
    /// TensorRT-LLM 1.2 skips that extra step for requests stopped by length (PR #8587, "early
    /// exit", opened 2025-10-22, in the 1.2 release candidates after it such as 1.2.0rc6), as every
    /// pdsim request is; pdsim drops it from 1.2.0 on, and an unset `backendVersion` means 1.0,
    /// which most measured rows ran. Only decode-side workers run this policy: TensorRT-LLM's
    /// disaggregated context servers run without the overlap scheduler ("not yet supported in
    /// disaggregated context server architectures", TensorRT-LLM docs, "Disaggregated Serving").
    GuaranteedNoEvict { chunked_context: bool, overlap: bool, extra_step: bool },
    /// SGLang's default scheduling: a step either prefills (waiting prompts first) or decodes,
    /// never both (its `enable_mixed_chunk` is off by default). Admission and preemption as `Mixed`.
    PrefillFirst,
}

/// The first TensorRT-LLM release whose overlap scheduler skips the extra step of a request that
/// reaches its length limit (PR #8587).
const TRTLLM_EARLY_EXIT: EngineVersion = EngineVersion::new(1, 2, 0);

impl BatchingPolicy {
    /// The policy a deployment's decode-side workers run: the backend's default scheduler
    /// (SGLang's prefill-first batches only where prefills and decodes share a worker, aggregated;
    /// its decode workers, disaggregated, only decode).
    pub(super) fn for_deployment(c: &ClusterConfig) -> BatchingPolicy {
        match c.backend {
            Backend::Trtllm => {
                let overlap = !match &c.topology {
                    Topology::Aggregated(a) => a.disable_overlap_scheduler,
                    Topology::Disaggregated { decode, .. } => decode.disable_overlap_scheduler,
                };
                BatchingPolicy::GuaranteedNoEvict {
                    chunked_context: c.topology.aggregated().is_some_and(|a| a.enable_chunked_context),
                    overlap,
                    extra_step: overlap && c.backend_version.is_none_or(|v| v < TRTLLM_EARLY_EXIT),
                }
            }
            Backend::Vllm => BatchingPolicy::Mixed,
            Backend::Sglang if matches!(c.topology, Topology::Aggregated(_)) => BatchingPolicy::PrefillFirst,
            Backend::Sglang => BatchingPolicy::Mixed,
        }
    }

    /// Whether a request needing `need_tok` of KV now, and `life_tok` at its longest, can join `w`:
    /// a batch slot is free and either (vLLM, SGLang) besides it the next token of every sequence in
    /// the batch, this one included, still fits (so an admitted sequence is not preempted by the very
    /// step it joins), or (TensorRT-LLM) its whole life fits beside every admitted request's.
    #[inline]
    pub(super) fn admits(self, w: &GenWorker, need_tok: u64, life_tok: u64) -> bool {
        let occupied = w.occupied();
        if occupied >= w.max_batch as u64 {
            return false;
        }
        match self {
            // `+ occupied + 1 <= cap`: the batch with this sequence adds `occupied + 1` tokens next step
            BatchingPolicy::Mixed | BatchingPolicy::PrefillFirst => w.used_tok + need_tok + occupied < w.cap_tok,
            BatchingPolicy::GuaranteedNoEvict { .. } => w.committed_tok + life_tok <= w.cap_tok,
        }
    }

    /// Whether step n+1 is scheduled while step n runs (TensorRT-LLM's overlap scheduler).
    #[inline]
    pub(super) fn overlaps(self) -> bool {
        matches!(self, BatchingPolicy::GuaranteedNoEvict { overlap: true, .. })
    }

    /// Whether a finished sequence stays in the batch one step more (the overlap scheduler before
    /// TensorRT-LLM 1.2's early exit).
    #[inline]
    pub(super) fn extra_step(self) -> bool {
        matches!(self, BatchingPolicy::GuaranteedNoEvict { extra_step: true, .. })
    }

    /// KV tokens a request holds at its longest beyond its prompt and output: the token the
    /// overlap scheduler's extra step writes.
    #[inline]
    pub(super) fn extra_life_tok(self) -> u64 {
        self.extra_step() as u64
    }

    /// Whether a local prefill may run in chunks: TensorRT-LLM's chunked context is off by default,
    /// so its prompts run whole.
    #[inline]
    pub(super) fn chunks_prefill(self) -> bool {
        match self {
            BatchingPolicy::Mixed | BatchingPolicy::PrefillFirst => true,
            BatchingPolicy::GuaranteedNoEvict { chunked_context, .. } => chunked_context,
        }
    }

    /// The index in `running` of the sequence to preempt: the most recently admitted.
    #[inline]
    pub(super) fn preemption_victim(self, running: &[u32], reqs: &[Req]) -> usize {
        match self {
            BatchingPolicy::Mixed | BatchingPolicy::PrefillFirst | BatchingPolicy::GuaranteedNoEvict { .. } => {
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
            BatchingPolicy::Mixed | BatchingPolicy::GuaranteedNoEvict { .. } => true,
            BatchingPolicy::PrefillFirst => !prefills_pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::deployment::{KvBackend, Mode};

    #[test]
    fn each_backend_runs_its_engines_scheduler() {
        let trt = BatchingPolicy::GuaranteedNoEvict { chunked_context: false, overlap: true, extra_step: true };
        for (mode, backend, want) in [
            (Mode::Aggregated, Backend::Sglang, BatchingPolicy::PrefillFirst),
            (Mode::Disaggregated, Backend::Sglang, BatchingPolicy::Mixed),
            (Mode::Aggregated, Backend::Vllm, BatchingPolicy::Mixed),
            (Mode::Disaggregated, Backend::Vllm, BatchingPolicy::Mixed),
            (Mode::Aggregated, Backend::Trtllm, trt),
            (Mode::Disaggregated, Backend::Trtllm, trt),
        ] {
            let c = ClusterConfig { backend, ..super::super::tests::cluster(mode, KvBackend::Nixl) };
            assert_eq!(BatchingPolicy::for_deployment(&c), want, "{mode:?} {backend:?}");
        }
        let mut c = super::super::tests::cluster(Mode::Aggregated, KvBackend::Nixl);
        c.topology.aggregated_mut().unwrap().enable_chunked_context = true;
        assert_eq!(
            BatchingPolicy::for_deployment(&c),
            BatchingPolicy::GuaranteedNoEvict { chunked_context: true, overlap: true, extra_step: true }
        );
        c.topology.aggregated_mut().unwrap().disable_overlap_scheduler = true;
        let no_overlap = BatchingPolicy::for_deployment(&c);
        assert_eq!(
            no_overlap,
            BatchingPolicy::GuaranteedNoEvict { chunked_context: true, overlap: false, extra_step: false }
        );
        assert!(trt.overlaps() && !no_overlap.overlaps() && !BatchingPolicy::Mixed.overlaps());
        assert_eq!((trt.extra_life_tok(), no_overlap.extra_life_tok()), (1, 0));
        // TensorRT-LLM 1.2 keeps the overlap scheduler but drops the extra step; 1.0 and unset keep it
        c.topology.aggregated_mut().unwrap().disable_overlap_scheduler = false;
        for (version, extra) in
            [(None, true), (Some("1.0.0rc3"), true), (Some("1.2.0rc6"), false), (Some("1.3"), false)]
        {
            c.backend_version = version.map(|v| EngineVersion::parse(v).unwrap());
            let p = BatchingPolicy::for_deployment(&c);
            assert!(p.overlaps(), "{version:?}");
            assert_eq!((p.extra_step(), p.extra_life_tok()), (extra, extra as u64), "{version:?}");
        }
        // SGLang's batches prefill only; the others decode every step
        assert!(BatchingPolicy::Mixed.step_decodes(true));
        assert!(trt.step_decodes(true));
        assert!(!BatchingPolicy::PrefillFirst.step_decodes(true));
        assert!(BatchingPolicy::PrefillFirst.step_decodes(false));
        assert!(!trt.chunks_prefill() && BatchingPolicy::Mixed.chunks_prefill());
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
