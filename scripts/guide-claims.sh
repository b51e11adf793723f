#!/usr/bin/env bash
# The deployment guide's "default vs tuned" claims: the default deployment, the tuned one, and each of
# the five changes alone, under each load given as an argument (extra `pdsim run` flags), e.g.
#   cargo build --release
#   scripts/guide-claims.sh "--requests 20000" \
#       "--requests 20000 --set workload.kind=closed_loop --set workload.concurrency=1024"
set -euo pipefail
cd "$(dirname "$0")/.."
P=./target/release/pdsim
D=scenarios/llama70b-default.yaml
T=scenarios/llama70b-production.yaml
row() { # name file extra...
  local name=$1; shift
  $P run "$@" --json | python3 -c "
import json,sys; s=json.load(sys.stdin)
p=s['pools']; pu=p['prefill']; du=p['decode']
util=(pu['utilization']*pu['gpus']+du['utilization']*du['gpus'])/(pu['gpus']+du['gpus'])
print('| %-34s | %8.0f | %6.1f | %6.0f | %7.2f | %4.0f%% | %5.2f | %s |'%('$name', s['ttft_ms']['p99'], s['tpot_ms']['p99'], s['throughput']['output_tok_s'], s['kv_transfer_ms']['mean'], util*100, s['cost']['usd_per_1m_output_tok'], s['requests']['timed_out']+s['requests']['rejected']))"
}
for load in "$@"; do
echo "load: $load"
echo "| config | TTFT p99 ms | TPOT p99 ms | out tok/s | KV xfer mean ms | GPU busy | \$/1M tok | lost |"
row "default (8+8, b8/b64, 0.8, tcp)" $D $load
row "tcp -> nccl" $D $load --set kvTransfer.backend=nccl
row "prefill batch 8 -> 32" $D $load --set prefill.maxBatchSize=32
row "decode batch 64 -> 256" $D $load --set decode.maxBatchSize=256
row "pools 1:1 -> 1:3 (4+12)" $D $load --set prefill.replicas=1 --set decode.replicas=3
row "kvCacheMemoryFraction 0.8 -> 0.92" $D $load --set decode.kvCacheMemoryFraction=0.92
row "tuned (all five)" $T $load
done
