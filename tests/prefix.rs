//! Prefix caching and KV-aware routing on the real Mooncake trace (its `hash_ids` name every
//! 512-token prompt block, so hits can be checked exactly).

mod common;
use common::*;

use std::collections::HashSet;

/// A deployment of Llama-3.1-8B at TP1 big enough that nothing is rejected or times out.
fn mooncake_scenario(dir: &std::path::Path, trace: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let yaml = format!(
        r#"
kind: Scenario
name: mooncake
model: llama-3.1-8b
workload:
  kind: trace
  trace: {}
{extra}
seed: 3
---
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeploymentRequest
metadata: {{name: mooncake}}
spec:
  components:
    frontend:
      config: {{maxConcurrentRequests: 100000, requestTimeoutMs: 100000000}}
    prefill:
      replicas: 1
      config: {{tensorParallelSize: 2, maxBatchSize: 16, maxBatchTokens: 65536}}
    decode:
      replicas: 2
      config: {{tensorParallelSize: 2, maxBatchSize: 256, kvCacheMemoryFraction: 0.9}}
    kvTransfer:
      backend: nccl
"#,
        trace.display()
    );
    write(dir, "mooncake.yaml", &yaml)
}

/// Share of prompt blocks whose hash appeared in an earlier request of the trace, in arrival order
/// (stable by timestamp), computed straight from the JSONL.
fn seen_earlier_share(trace: &std::path::Path) -> f64 {
    let text = std::fs::read_to_string(trace).unwrap();
    let mut rows: Vec<(f64, Vec<u64>)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let ids = v["hash_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
            (v["timestamp"].as_f64().unwrap(), ids)
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut seen, mut hit, mut total) = (HashSet::new(), 0u64, 0u64);
    for (_, ids) in rows {
        total += ids.len() as u64;
        hit += ids.iter().filter(|h| seen.contains(*h)).count() as u64;
        seen.extend(ids);
    }
    hit as f64 / total as f64
}

#[test]
fn unbounded_cache_hits_exactly_the_blocks_seen_before() {
    let Some(trace) = shared("traces/mooncake/conversation_trace.jsonl") else { return };
    let dir = scratch("prefix");
    let f = mooncake_scenario(&dir, &trace, "");
    // one prompt at a time, so every block of an earlier prompt is computed (and cached) before a
    // later prompt looks it up
    let v = run_json(&[&f], &["--set", "prefixCache.capacity=unbounded", "--set", "prefill.maxBatchSize=1"]);
    assert_eq!(v["requests"]["rejected"], 0);
    assert_eq!(v["requests"]["timed_out"], 0);
    let expected = seen_earlier_share(&trace);
    let got = v["kv_cache"]["hit_ratio"].as_f64().unwrap();
    // the summary rounds to 4 decimals
    assert!((got - expected).abs() < 1e-4, "hit ratio {got}, blocks seen earlier {expected}");
    assert!(expected > 0.3, "the trace reuses prefixes: {expected}");

    let bounded = run_json(&[&f], &["--set", "prefixCache.capacity=2000", "--set", "prefill.maxBatchSize=1"]);
    let b = bounded["kv_cache"]["hit_ratio"].as_f64().unwrap();
    assert!(b < got - 0.05, "a 2000-block cache hits {b}, unbounded {got}");
    let off = run_json(&[&f], &["--set", "prefixCache.capacity=off", "--set", "prefill.maxBatchSize=1"]);
    assert_eq!(off["kv_cache"]["hit_ratio"], 0.0);
    // cache hits skip prefill work: TTFT falls
    assert!(v["ttft_ms"]["mean"].as_f64().unwrap() < off["ttft_ms"]["mean"].as_f64().unwrap());
}

#[test]
fn kv_aware_routing_beats_round_robin_across_workers() {
    let Some(trace) = shared("traces/mooncake/conversation_trace.jsonl") else { return };
    let dir = scratch("kvroute");
    let f = mooncake_scenario(&dir, &trace, "  speedup: 3");
    let common = ["--set", "prefill.replicas=4", "--set", "prefill.tp=1", "--set", "prefixCache.capacity=20000"];
    let mut rr_args = common.to_vec();
    rr_args.extend(["--set", "router.policy=round_robin"]);
    let mut kv_args = common.to_vec();
    kv_args.extend(["--set", "router.policy=kv_aware"]);
    let rr = run_json(&[&f], &rr_args);
    let kv = run_json(&[&f], &kv_args);
    let hit = |v: &serde_json::Value| v["kv_cache"]["hit_ratio"].as_f64().unwrap();
    let ttft = |v: &serde_json::Value| v["ttft_ms"]["mean"].as_f64().unwrap();
    assert!(hit(&kv) > hit(&rr) + 0.05, "hit ratio: kv-aware {} vs round robin {}", hit(&kv), hit(&rr));
    assert!(ttft(&kv) < ttft(&rr), "TTFT: kv-aware {} vs round robin {}", ttft(&kv), ttft(&rr));
}

#[test]
fn conditional_disaggregation_prefills_short_misses_on_the_decode_worker() {
    let Some(trace) = shared("traces/mooncake/conversation_trace.jsonl") else { return };
    let dir = scratch("cond");
    let f = mooncake_scenario(&dir, &trace, "");
    let out = dir.join("out");
    let o = pdsim([
        "run".as_ref(),
        f.as_os_str(),
        "--set".as_ref(),
        "router.maxLocalPrefillLength=2048".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "--json".as_ref(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(out.join("requests.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    let h = rdr.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (mut local, mut remote) = (0, 0);
    for r in rdr.records() {
        let r = r.unwrap();
        if r[col("outcome")].eq("completed") {
            if r[col("kv_transfer_start_ns")].is_empty() {
                local += 1;
            } else {
                remote += 1;
            }
        }
    }
    assert!(local > 100 && remote > 100, "local {local}, remote {remote}");
}

#[test]
fn closed_loop_clients_share_system_prompts() {
    let dir = scratch("clsys");
    let yaml = SMALL.replace(
        "  kind: poisson\n  rate: 20\n  isl: 512\n  osl: 64\n",
        "  kind: closed_loop\n  concurrency: 16\n  isl: 256\n  osl: 32\n  system_prompts: 2\n  system_prompt_tok: 2048\n",
    );
    let f = write(&dir, "cl.yaml", &yaml);
    let v = run_json(&[&f], &["--set", "mode=aggregated"]);
    assert_eq!(v["requests"]["completed"], 300);
    // 4 of each prompt's ~5 blocks are a shared system prompt: most are hits after warm-up
    let hit = v["kv_cache"]["hit_ratio"].as_f64().unwrap();
    assert!(hit > 0.6, "{hit}");
    let off = run_json(&[&f], &["--set", "mode=aggregated", "--set", "prefixCache.capacity=off"]);
    assert!(v["ttft_ms"]["mean"].as_f64().unwrap() < off["ttft_ms"]["mean"].as_f64().unwrap());
}

#[test]
fn closed_loop_conversations_wait_for_each_answer() {
    let dir = scratch("clsess");
    let yaml = SMALL.replace(
        "  kind: poisson\n  rate: 20\n  isl: 512\n  osl: 64\n",
        "  kind: closed_loop\n  concurrency: 1\n  isl: {dist: uniform, min: 50, max: 400}\n  \
         osl: {dist: uniform, min: 20, max: 200}\n  system_prompts: 2\n  system_prompt_tok: 1024\n  \
         sessions: {turns: 4, think_time: 2s}\n",
    );
    let f = write(&dir, "cs.yaml", &yaml);
    let out = dir.join("out");
    let o = pdsim([
        "run".as_ref(),
        f.as_os_str(),
        "--requests".as_ref(),
        "600".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut rows: Vec<(u64, u64, u64, u64)> = std::fs::read_to_string(out.join("requests.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            assert_eq!(c[1], "completed", "{l}");
            (c[2].parse().unwrap(), c[3].parse().unwrap(), c[4].parse().unwrap(), c[10].parse().unwrap())
        })
        .collect();
    assert_eq!(rows.len(), 600);
    rows.sort();
    // one client: each request goes out when the one before has ended, at once when it starts a
    // conversation and a think time later when it continues one, its prompt the previous prompt +
    // answer + at least the shortest user message
    let (mut turns, mut think_ns) = (0u64, 0u64);
    for w in rows.windows(2) {
        let ((_, in0, out0, end0), (arr1, in1, ..)) = (w[0], w[1]);
        assert!(arr1 >= end0, "{w:?}");
        if arr1 > end0 {
            turns += 1;
            think_ns += arr1 - end0;
            assert!(in1 >= in0 + out0 + 50, "{w:?}");
        }
    }
    // 4 turns per conversation on average: 3 of 4 requests continue one; think time 2 s on average
    let share = turns as f64 / 599.0;
    assert!((share - 0.75).abs() < 0.05, "{share}");
    let mean_s = think_ns as f64 / turns as f64 / 1e9;
    assert!((mean_s - 2.0).abs() < 0.2, "{mean_s}");
}
