#!/usr/bin/env python3
"""Estimate every measured row of an aiconfigurator-style silicon CSV with aiconfigurator's
single-point estimator (`aiconfigurator cli estimate`, called through its Python API so the
performance database is loaded once), and write one CSV row per measured row.

Run it with the interpreter of the venv made by install-aiconfigurator.sh:

    /tmp/aic-venv/bin/python scripts/peers/aic_estimate_rows.py \
        ../shared/validation-dev/silicon_h100_qwen3_32b.csv /tmp/peers/aic_rows.csv

Each row is estimated as the deployment it measured, with the same conventions as
`pdsim validate` (src/validate.rs):
  * agg rows: `--estimate-mode agg --batch-size <batch_size> --tp <tp_size>` (aiconfigurator's own
    gap analysis uses batch_size = client concurrency, which is what these rows record);
  * disagg rows: prefill/decode TP, batch size and worker counts from the row;
  * GEMM quantization from `gemm_quant_mode` (empty -> bfloat16), KV cache fp8 for per-tensor `fp8`
    rows (ModelOpt FP8 checkpoints quantize the KV cache), bfloat16 otherwise;
  * aiconfigurator's default (newest) performance database of each backend: the measured engine
    versions (trtllm 1.0.0rc3, sglang 0.5.1, vllm 0.12.0, ...) are not shipped in aiconfigurator
    0.12.0, so the version it simulates is written into `aic_version`.
"""
import csv
import logging
import sys
import time
import warnings

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

from aiconfigurator.cli.api import cli_estimate  # noqa: E402


def num(x, default=None):
    x = (x or "").strip()
    return int(float(x)) if x else default


# aiconfigurator model configs (bundled in aiconfigurator_core/model_configs) per GEMM quantization:
# its memory check uses the checkpoint's own dtype, so FP8 rows need an FP8 checkpoint.
MODEL_FOR_GEMM = {
    "bfloat16": "Qwen/Qwen3-32B",
    "fp8": "Qwen/Qwen3-32B-FP8-Static-PerTensor",  # ModelOpt per-tensor FP8, FP8 KV cache
    "fp8_block": "Qwen/Qwen3-32B-FP8",  # block-scaled FP8, bf16 KV cache
}


def main(src, dst, system="h100_sxm"):
    rows = list(csv.DictReader(open(src, newline="")))
    out = open(dst, "w", newline="")
    w = csv.writer(out)
    w.writerow(["line", "id", "backend", "backend_version", "mode", "isl", "osl", "tp", "batch",
                "gemm", "kv", "aic_model", "aic_version", "measured_ttft_ms", "measured_tpot_ms",
                "aic_ttft_ms", "aic_tpot_ms", "aic_tok_s_gpu", "aic_concurrency", "wall_s", "error"])
    t_all = time.time()
    for i, r in enumerate(rows):
        gemm = (r.get("gemm_quant_mode") or "").strip() or "bfloat16"
        kv = "fp8" if gemm == "fp8" else "bfloat16"
        kw = dict(mode=r["mode"], backend_name=r["backend"], isl=int(r["isl"]), osl=int(r["osl"]),
                  gemm_quant_mode=gemm, kvcache_quant_mode=kv)
        if r["mode"] == "agg":
            kw.update(batch_size=num(r["batch_size"], 1), tp_size=num(r["tp_size"], 1))
        else:
            kw.update(prefill_tp_size=num(r["prefill_tp_size"], 1), prefill_batch_size=num(r["prefill_batch_size"], 1),
                      prefill_num_workers=num(r["prefill_num_workers"], 1), decode_tp_size=num(r["decode_tp_size"], 1),
                      decode_batch_size=num(r["decode_batch_size"], 1), decode_num_workers=num(r["decode_num_workers"], 1))
        t = time.time()
        ttft = tpot = tps = conc = ver = ""
        err = ""
        try:
            e = cli_estimate(MODEL_FOR_GEMM[gemm], system, **kw)
            ttft, tpot, ver = f"{e.ttft:.3f}", f"{e.tpot:.3f}", e.backend_version
            raw = e.raw if isinstance(e.raw, dict) else {}
            tps = raw.get("tokens/s/gpu", "")
            conc = raw.get("concurrency", "")
        except Exception as ex:  # record why aiconfigurator could not estimate the row
            err = f"{type(ex).__name__}: {ex}".replace("\n", " ")[:300]
        w.writerow([i + 2, r["id"], r["backend"], r["backend_version"], r["mode"], r["isl"], r["osl"],
                    r.get("tp_size", ""), r.get("batch_size", ""), gemm, kv, MODEL_FOR_GEMM[gemm], ver,
                    r["silicon_ttft_ms"], r["silicon_tpot_ms"], ttft, tpot, tps, conc,
                    f"{time.time() - t:.3f}", err])
        out.flush()
    out.close()
    print(f"estimated {len(rows)} rows in {time.time() - t_all:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:])
