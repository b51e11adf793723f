//! Regression tests for prefix-cache and routing bugs found in review: each failed before its fix.

mod common;

use std::sync::Arc;

use pdsim::metrics::Outcome;
use pdsim::sim::prefix_cache::PrefixCache;
use pdsim::sim::{simulate, SimInput, SimOutput, SlaTargets, Traffic};
use pdsim::spec::deployment::*;
use pdsim::spec::hardware::HardwareProfile;
use pdsim::spec::model::{Dtype, ModelSpec};
use pdsim::spec::workload::RequestSpec;

const S: u64 = 1_000_000_000;

/// Dynamo's defaults except: a frontend that never rejects, two decode workers, NCCL with 64 transfers in
/// flight, and 0.9 of GPU memory on every worker.
fn cluster(mode: Mode) -> ClusterConfig {
    let d = ClusterConfig::dynamo_defaults(mode);
    let topology = match d.topology {
        Topology::Disaggregated { prefill, decode, kv_transfer } => Topology::Disaggregated {
            prefill,
            decode: DecodePoolConfig { replicas: 2, kv_cache_memory_fraction: 0.9, ..decode },
            kv_transfer: KvTransferConfig { backend: KvBackend::Nccl, max_in_flight_transfers: 64, ..kv_transfer },
        },
        Topology::Aggregated(a) => Topology::Aggregated(AggregatedPoolConfig { kv_cache_memory_fraction: 0.9, ..a }),
    };
    ClusterConfig { frontend: FrontendConfig { max_concurrent_requests: 100_000, ..d.frontend }, topology, ..d }
}

fn run(c: &ClusterConfig, reqs: Vec<RequestSpec>) -> SimOutput {
    let m = ModelSpec::preset("llama-3.1-8b").unwrap();
    let hw = HardwareProfile::h100_sxm();
    let input = SimInput {
        model: &m,
        hardware: &hw,
        weights_dtype: Dtype::Bf16,
        kv_dtype: Dtype::Bf16,
        cluster: c,
        sla: SlaTargets::default(),
        timeseries_interval_ns: 0,
        record_requests: true,
        seed: 1,
        autoscaler: None,
        scrape_interval_ns: 0,
        decode_runs: true,
    };
    simulate(&input, Traffic::Open(Box::new(reqs.into_iter())))
}

fn req(t: u64, isl: u32, osl: u32, blocks: Option<Vec<u64>>) -> RequestSpec {
    RequestSpec { arrival_ns: t, input_tok: isl, output_tok: osl, blocks: blocks.map(Arc::from) }
}

fn decode_counts(out: &SimOutput, n: usize) -> Vec<usize> {
    let mut c = vec![0; n];
    for r in &out.requests {
        if let Some(d) = r.decode_worker {
            c[d as usize] += 1;
        }
    }
    c
}

/// Conditional disaggregation pre-assigns the decode worker at arrival, but a request on its way
/// through remote prefill is not counted in that worker's load (`used_tok + queued_tok` for
/// KV-aware, `load()` for least-loaded) until its prefill finishes. A burst therefore lands on one
/// decode worker. Without conditional disaggregation (routing at prefill end) the same burst is split.
#[test]
fn conditional_disagg_burst_is_spread_over_decode_workers() {
    // 16 distinct 4000-token prompts (no blocks), 1 us apart: all arrive before any prefill ends
    let burst = || (0..16u64).map(|i| req(i * 1000, 4000, 32, None)).collect::<Vec<_>>();
    let mut bad = Vec::new();
    for policy in [RouterPolicy::KvAware, RouterPolicy::LeastLoaded] {
        let mut c = cluster(Mode::Disaggregated);
        c.router = policy;
        let base = decode_counts(&run(&c, burst()), 2);
        c.kv_router.max_local_prefill_tok = 1; // every 4000-token miss still prefills remotely
        let cond = decode_counts(&run(&c, burst()), 2);
        eprintln!("{policy:?}: routing at prefill end {base:?}, conditional disagg {cond:?}");
        assert!(base.iter().all(|&n| n >= 4), "{policy:?} baseline {base:?}");
        if !cond.iter().all(|&n| n >= 4) {
            bad.push((policy, cond));
        }
    }
    assert!(bad.is_empty(), "conditional disaggregation herds the burst onto one decode worker: {bad:?}");
}

/// The LRU evicts a prompt's *first* block before its later ones (blocks are pushed to the front in
/// prompt order, so block 0 is the least recent of the chain). Matching must be contiguous from
/// block 0, so evicting the root makes every remaining block of the chain dead weight.
#[test]
fn lru_eviction_keeps_the_usable_prefix() {
    let mut c = PrefixCache::new(Some(4));
    c.insert(&[1, 2, 3]);
    c.insert(&[10, 11]); // one block must go
    assert_eq!(c.len(), 4);
    // evicting 3 would keep 2 usable blocks of [1, 2, 3]; evicting 1 keeps none
    assert_eq!(c.matched(&[1, 2, 3]), 2, "the chain's root was evicted; 2 and 3 are unreachable but still cached");

    // a prompt longer than the cache keeps its unmatchable tail
    let mut c = PrefixCache::new(Some(3));
    c.insert(&[1, 2, 3, 4, 5]);
    assert_eq!(c.matched(&[1, 2, 3, 4, 5]), 3, "cache holds [3, 4, 5], which can never match");
}

/// `prefill_worker` is now set at arrival (0 for the shared queue), so a request that times out
/// while still queued for prefill is recorded with a prefill worker it never ran on (before the
/// change it was `None`). With conditional disaggregation `decode_worker` is likewise recorded.
#[test]
fn timed_out_in_prefill_queue_has_no_worker_in_record() {
    let mut c = cluster(Mode::Disaggregated);
    c.topology.prefill_mut().unwrap().max_batch_size = 1;
    c.frontend.request_timeout_ns = S / 20; // 50 ms
    let reqs: Vec<_> = (0..40u64).map(|i| req(i, 16000, 8, None)).collect();
    let mut bad = Vec::new();
    for max_local in [0, 1] {
        c.kv_router.max_local_prefill_tok = max_local;
        let out = run(&c, reqs.clone());
        let never_prefilled: Vec<_> =
            out.requests.iter().filter(|r| r.outcome == Outcome::TimedOut && r.prefill_start_ns.is_none()).collect();
        assert!(!never_prefilled.is_empty());
        for r in never_prefilled {
            if r.prefill_worker.is_some() || r.decode_worker.is_some() {
                bad.push((max_local, r.id, r.prefill_worker, r.decode_worker));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "(max_local, id, prefill_worker, decode_worker) of requests that never left the prefill queue: {:?}",
        &bad[..bad.len().min(4)]
    );
}

/// Blocks are inserted into a prefill worker's cache when its batch *starts*, so a second request
/// in the same batch "hits" blocks the first is computing in that very step (and skips their
/// compute). Same for local prefill: blocks are inserted at admission, before they are computed.
#[test]
fn blocks_computed_in_the_same_step_are_not_hits() {
    let blocks: Vec<u64> = (1..=8).collect(); // 4096 tokens
    let reqs = || vec![req(0, 4096, 8, Some(blocks.clone())), req(0, 4096, 8, Some(blocks.clone()))];
    // disaggregated: a filler keeps the prefill worker busy, then both wait and share one batch
    let mut two = reqs();
    two[0].arrival_ns = 1;
    two[1].arrival_ns = 2;
    let mut with_filler = vec![req(0, 4096, 8, None)];
    with_filler.extend(two);
    let out = run(&cluster(Mode::Disaggregated), with_filler);
    let m = &out.metrics;
    eprintln!("disagg: hit {} of {}", m.prefix_blocks_hit, m.prefix_blocks_total);
    let mut starts: Vec<_> = out.requests.iter().map(|r| (r.id, r.prefill_start_ns.unwrap())).collect();
    starts.sort();
    assert_eq!(starts[1].1, starts[2].1, "both in one batch");
    let disagg_hit = m.prefix_blocks_hit;
    // aggregated: both admitted at t=0, chunked prefill runs them together
    let out = run(&cluster(Mode::Aggregated), reqs());
    let m = &out.metrics;
    eprintln!("agg: hit {} of {}", m.prefix_blocks_hit, m.prefix_blocks_total);
    assert_eq!((disagg_hit, m.prefix_blocks_hit), (0, 0), "hits on blocks not yet computed (disagg, agg)");
}

/// A decode worker that already holds a prompt's prefix pulls only the blocks it lacks.
#[test]
fn transfer_skips_blocks_the_decode_worker_holds() {
    let mut c = cluster(Mode::Disaggregated);
    c.topology.decode_mut().unwrap().replicas = 1;
    let blocks: Vec<u64> = (0..16).collect();
    let reqs = vec![req(0, 8192, 4, Some(blocks.clone())), req(60 * S, 8192, 4, Some(blocks))];
    let out = run(&c, reqs);
    let xfer: Vec<u64> =
        out.requests.iter().map(|r| r.kv_transfer_end_ns.unwrap() - r.kv_transfer_start_ns.unwrap()).collect();
    assert_eq!(out.requests.len(), 2);
    assert!(xfer[1] * 5 < xfer[0], "second transfer {} ns, first {} ns", xfer[1], xfer[0]);
}

/// With `auto` capacity a cache only holds KV memory that running requests leave free.
#[test]
fn auto_cache_gives_way_to_running_requests() {
    // a prompt is cached, then a dozen long requests fill most of the KV memory, then it returns
    let shared: Vec<u64> = (0..8).collect();
    let mut reqs = vec![req(0, 4096, 4, Some(shared.clone()))];
    for i in 0..12u64 {
        reqs.push(req(10 * S + i, 4000, 2000, Some((1000 + i * 100..1000 + i * 100 + 8).collect())));
    }
    reqs.push(req(11 * S, 4096, 4, Some(shared)));
    let hits = |cap: PrefixCacheCapacity| {
        let mut c = cluster(Mode::Aggregated);
        // vLLM's fraction of the total: 0.3 of an H100 leaves the running requests little room
        c.backend = Backend::Vllm;
        c.topology.aggregated_mut().unwrap().kv_cache_memory_fraction = 0.3;
        c.prefix_cache = cap;
        let out = run(&c, reqs.clone());
        assert_eq!(out.metrics.completed, 14);
        out.metrics.prefix_blocks_hit
    };
    // a fixed cache as large keeps the prompt (its 104 blocks fit); the auto cache gave its memory
    // to the running requests
    assert_eq!(hits(PrefixCacheCapacity::Blocks(10_000)), 8);
    assert_eq!(hits(PrefixCacheCapacity::Auto), 0);
}
