#!/usr/bin/env python3
"""Write the pdsim scenario (YAML on stdout) for one deployment that aiconfigurator reported, so
pdsim simulates exactly that configuration as a closed-loop benchmark.

    # aggregated: replicas x TP, max batch size
    scripts/peers/pdsim_scenario.py --model qwen3-32b --isl 4000 --osl 1000 --concurrency 320 \
        --agg 2x4 --bs 160 > /tmp/peers/sc/c1-agg.yaml
    # disaggregated: prefill workers x TP, decode workers x TP, prefill / decode batch sizes
    scripts/peers/pdsim_scenario.py --model qwen3-32b --isl 4000 --osl 1000 --concurrency 168 \
        --prefill 4x1 --prefill-bs 1 --decode 1x4 --bs 168 > /tmp/peers/sc/c1-disagg.yaml

Engine settings follow `pdsim validate` (src/validate.rs): step token budget 8192
(prefill: max(8192, ISL)), KV-cache memory fraction 0.9, KV moved with NIXL (64 in flight),
round-robin routing. Requests offered: --rounds (default 20) x concurrency.
"""
import argparse


def pool(s):
    n, tp = s.lower().split("x")
    return int(n), int(tp)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--name", default="peer")
    p.add_argument("--model", required=True, help="pdsim preset: qwen3-32b, llama-3.1-70b")
    p.add_argument("--backend", default="trtllm")
    p.add_argument("--weights-dtype", default="bf16")
    p.add_argument("--kv-dtype", default="bf16")
    p.add_argument("--isl", type=int, required=True)
    p.add_argument("--osl", type=int, required=True)
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--agg", type=pool, help="REPLICASxTP of the aggregated pool")
    p.add_argument("--prefill", type=pool, help="WORKERSxTP of the prefill pool")
    p.add_argument("--decode", type=pool, help="WORKERSxTP of the decode pool")
    p.add_argument("--bs", type=int, required=True, help="max batch size of the aggregated / decode workers")
    p.add_argument("--prefill-bs", type=int, default=1)
    p.add_argument("--step-tokens", type=int, default=8192)
    p.add_argument("--mem-fraction", type=float, default=0.9)
    a = p.parse_args()
    if bool(a.agg) == bool(a.prefill and a.decode):
        p.error("give either --agg or both --prefill and --decode")

    out = [
        "kind: Scenario",
        f"name: {a.name}",
        f"model: {a.model}",
        "hardware: h100-sxm",
        f"backend: {a.backend}",
        f"weights_dtype: {a.weights_dtype}",
        f"kv_dtype: {a.kv_dtype}",
        f"workload: {{kind: closed_loop, concurrency: {a.concurrency}, isl: {a.isl}, osl: {a.osl}}}",
        f"requests: {a.rounds * a.concurrency}",
        "seed: 42",
        "---",
        "apiVersion: nvidia.com/v1alpha1",
        "kind: DynamoGraphDeploymentRequest",
        f"metadata: {{name: {a.name}}}",
        "spec:",
        f"  backend: {a.backend}",
        "  components:",
        "    frontend:",
        "      replicas: 1",
        f"      config: {{maxConcurrentRequests: {max(a.concurrency, 1)}, requestTimeoutMs: 3600000, routerPolicy: round_robin}}",
    ]
    if a.agg:
        n, tp = a.agg
        out += [
            "    aggregated:",
            f"      replicas: {n}",
            f"      resources: {{gpu: {tp}}}",
            f"      config: {{tensorParallelSize: {tp}, maxBatchSize: {a.bs}, maxBatchTokens: {a.step_tokens}, "
            f"maxInputLength: {a.isl}, maxOutputLength: {a.osl}, kvCacheMemoryFraction: {a.mem_fraction}}}",
        ]
    else:
        (pn, ptp), (dn, dtp) = a.prefill, a.decode
        out += [
            "    prefill:",
            f"      replicas: {pn}",
            f"      resources: {{gpu: {ptp}}}",
            f"      config: {{tensorParallelSize: {ptp}, maxBatchSize: {a.prefill_bs}, "
            f"maxBatchTokens: {max(a.step_tokens, a.isl)}, maxInputLength: {a.isl}}}",
            "    decode:",
            f"      replicas: {dn}",
            f"      resources: {{gpu: {dtp}}}",
            f"      config: {{tensorParallelSize: {dtp}, maxBatchSize: {a.bs}, maxOutputLength: {a.osl}, "
            f"kvCacheMemoryFraction: {a.mem_fraction}}}",
            "    kvTransfer: {backend: nixl, compression: none, maxInFlightTransfers: 64, blockSizeKB: 512}",
        ]
    print("\n".join(out))


if __name__ == "__main__":
    main()
