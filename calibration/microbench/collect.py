#!/usr/bin/env python3
"""GPU microbenchmarks for `pdsim calibrate`, written in the aiconfigurator CSV schemas.

Run this on the GPU node whose cost profile you want (one GPU is enough; `--device N` picks it):

    python3 collect.py --out data/            # full sweep (see README.md for the run time)
    python3 collect.py --out data/ --quick    # small subset, about 2 minutes on one H100
    python3 collect.py --list-shapes          # print the plan; needs no GPU and no PyTorch

It measures, one GPU, one CUDA stream:

* GEMM `[m x k] @ [k x n]` for the per-GPU projection shapes of pdsim's preset models (QKV, O,
  gate+up, down, lm_head at TP 1/2/4/8, plus any `--model-config config.json`) over m = 1..32768,
  in bf16 (`torch.matmul`, i.e. cuBLAS/cuBLASLt) and fp8 e4m3 with per-tensor scales
  (`torch._scaled_mm`), skipped with a warning where the GPU or the PyTorch build has no fp8 GEMM.
* Prefill ("context") attention: causal `torch.nn.functional.scaled_dot_product_attention` with the
  flash backend over batch x isl x (heads, kv heads, head_dim) per GPU, bf16 Q/K/V.
* Decode ("generation") attention: one query token per sequence attending over its own K/V and the
  tokens cached before it (non-causal SDPA, flash backend), bf16 KV cache. The `step` column is
  aiconfigurator's: the tokens cached before the new one, so a row with `step` = 255 attended over 256.

This measures PyTorch's kernels (cuBLAS and PyTorch's SDPA), NOT the serving framework's own kernels
(TensorRT-LLM's FMHA/XQA, vLLM's FlashAttention-3/FlashInfer, CUTLASS fp8 GEMMs). The rows therefore
say `framework=torch`, `kernel_source=torch`, so they are never taken for TensorRT-LLM or vLLM data.
Attention with an fp8 KV cache and sliding windows is not measured (SDPA has no fp8 KV path).

Timing: CUDA events around every iteration, a few warm-up calls first, the MEDIAN of the timed
iterations is written, in milliseconds. For shapes whose operands fit in a few times the L2 cache
(50 MB on H100), L2 is flushed (a 256 MiB+ buffer is read) before every timed iteration, outside
the timed region: in a real forward pass the next layer's weights are never already in L2, so a warm
L2 would make small GEMMs and short decode attention look faster than they are in serving. Before the
timed loop a `torch.cuda._sleep` kernel holds the GPU while the CPU queues all iterations, so CPU
launch overhead does not leak into short kernels. `--flush always|never` changes the L2 policy.

Output (`--out DIR`), one CSV per op family with exactly the aiconfigurator columns:
    gemm_perf.torch-<version>.csv, context_attention_perf.torch-<version>.csv,
    generation_attention_perf.torch-<version>.csv
plus `microbench-info.json` (versions, clocks, flags, skipped shapes). Rows are appended and flushed as
they are measured, so an interrupted run keeps what it measured; `--resume` skips shapes already in
the CSVs.

Everything above the "GPU code" section is pure Python (planning, CSV writing) and is unit-tested
without PyTorch (test_collect.py). PyTorch is imported only inside the GPU code paths.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib
import itertools
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# --------------------------------------------------------------------------------------------------
# CSV schemas: exactly the columns of the aiconfigurator H100 data pdsim already reads
# (../shared/calibration-data/aiconfigurator-h100/*.trtllm-*.csv). Latency is in milliseconds.
# --------------------------------------------------------------------------------------------------

GEMM_COLUMNS = ["framework", "version", "device", "op_name", "kernel_source", "gemm_dtype", "m", "n", "k", "latency"]
ATTENTION_COLUMNS = [
    "framework", "version", "device", "op_name", "kernel_source", "batch_size", "isl", "num_heads",
    "num_key_value_heads", "head_dim", "window_size", "beam_width", "attn_dtype", "kv_cache_dtype", "step", "latency",
]  # fmt: skip

OPS = ("gemm", "context_attention", "generation_attention")
COLUMNS = {"gemm": GEMM_COLUMNS, "context_attention": ATTENTION_COLUMNS, "generation_attention": ATTENTION_COLUMNS}
FILE_PREFIX = {"gemm": "gemm_perf", "context_attention": "context_attention_perf",
               "generation_attention": "generation_attention_perf"}  # fmt: skip
FRAMEWORK = "torch"
KERNEL_SOURCE = "torch"
# `gemm_dtype` / `attn_dtype` / `kv_cache_dtype` values as aiconfigurator writes them.
DTYPE_NAMES = {"bf16": "bfloat16", "fp8": "fp8"}

# --------------------------------------------------------------------------------------------------
# Models: the presets pdsim ships (src/spec/model.rs, from each model's Hugging Face config.json).
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelShape:
    name: str
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int


PRESETS = {
    "llama-3.1-8b": ModelShape("Llama-3.1-8B", 4096, 32, 8, 128, 14336, 128256),
    "llama-3.1-70b": ModelShape("Llama-3.1-70B", 8192, 64, 8, 128, 28672, 128256),
    "llama-3.1-405b": ModelShape("Llama-3.1-405B", 16384, 128, 8, 128, 53248, 128256),
    "llama-2-70b": ModelShape("Llama-2-70B", 8192, 64, 8, 128, 28672, 32000),
    # Qwen3-32B sets head_dim 128 explicitly (64 x 128 != 5120).
    "qwen3-32b": ModelShape("Qwen3-32B", 5120, 64, 8, 128, 25600, 151936),
}
QUICK_MODELS = ("llama-3.1-8b", "llama-3.1-70b")
DEFAULT_TPS = (1, 2, 4, 8)
QUICK_TPS = (1, 4)


class PlanError(ValueError):
    """A bad flag or model config; reported as one line and exit code 2."""


def model_from_hf_config(path: str | os.PathLike) -> ModelShape:
    """Reads a dense decoder's Hugging Face `config.json` (or a directory holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    try:
        cfg = json.loads(p.read_text())
    except OSError as e:
        raise PlanError(f"{p}: cannot read: {e}") from e
    except json.JSONDecodeError as e:
        raise PlanError(f"{p}:{e.lineno}:{e.colno}: not a valid config.json: {e.msg}") from e
    if not isinstance(cfg, dict):
        raise PlanError(f"{p}: not a valid config.json: expected a JSON object")
    if "hidden_size" not in cfg and isinstance(cfg.get("text_config"), dict):
        cfg = {**cfg["text_config"], "_name_or_path": cfg.get("_name_or_path")}  # multimodal wrappers
    for moe in ("num_local_experts", "num_experts", "n_routed_experts"):
        if cfg.get(moe) not in (None, 0):
            raise PlanError(f"{p}: '{moe}' is present: mixture-of-experts models are not supported, "
                            "only dense decoders")  # fmt: skip

    def need(key: str) -> int:
        v = cfg.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise PlanError(f"{p}: field '{key}': expected a positive integer, got {v!r}")
        return v

    hidden, heads = need("hidden_size"), need("num_attention_heads")
    kv = need("num_key_value_heads") if cfg.get("num_key_value_heads") is not None else heads
    head_dim = need("head_dim") if cfg.get("head_dim") is not None else hidden // heads
    if heads % kv:
        raise PlanError(f"{p}: field 'num_key_value_heads': must divide num_attention_heads ({heads}), got {kv}")
    name = cfg.get("_name_or_path") or p.resolve().parent.name or "custom"
    return ModelShape(str(name).rsplit("/", 1)[-1], hidden, heads, kv, head_dim, need("intermediate_size"),
                      need("vocab_size"))  # fmt: skip


def resolve_models(names: list[str], configs: list[str]) -> list[ModelShape]:
    out = []
    for n in names:
        key = n.strip().lower().rsplit("/", 1)[-1].removesuffix("-instruct").removeprefix("meta-")
        if key not in PRESETS:
            raise PlanError(f"unknown model '{n}': expected one of {', '.join(PRESETS)} (or use --model-config)")
        out.append(PRESETS[key])
    out.extend(model_from_hf_config(c) for c in configs)
    return out


# --------------------------------------------------------------------------------------------------
# Shape planning (pure Python).
# --------------------------------------------------------------------------------------------------


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _aiconfigurator_m_values() -> list[int]:
    """m = tokens in the step: 1..16 one by one (decode batches), then 16-steps to 256, then a
    log-ish ladder to 32768, as in aiconfigurator's GEMM sweep."""
    ms = list(range(1, 17))
    ms += list(range(32, 257, 16))
    ms += [384, 512, 768, 1024, 1536, 2048, 2560, 3072, 3584, 4096, 6144, 8192, 12288, 16384, 24576, 32768]
    return ms


GEMM_M_FULL = _aiconfigurator_m_values()
GEMM_M_QUICK = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
# lm_head runs on one row per sequence in the step (the logits), never on every prompt token.
LM_HEAD_MAX_M = 4096


def layer_gemms(model: ModelShape, tp: int) -> list[tuple[str, int, int]]:
    """Per-GPU `(label, n, k)` of one layer's projections plus lm_head at tensor parallelism `tp`,
    rounded up as pdsim's cost model does (src/perf/step.rs)."""
    t = max(1, tp)
    h = model.hidden
    return [
        ("qkv", _ceil_div((model.heads + 2 * model.kv_heads) * model.head_dim, t), h),
        ("o", h, _ceil_div(model.heads * model.head_dim, t)),
        ("gate_up", 2 * _ceil_div(model.intermediate, t), h),
        ("down", h, _ceil_div(model.intermediate, t)),
        ("lm_head", _ceil_div(model.vocab, t), h),
    ]


@dataclass(frozen=True)
class GemmShape:
    dtype: str  # "bf16" | "fp8"
    m: int
    n: int
    k: int


@dataclass(frozen=True)
class AttnShape:
    op: str  # "context_attention" | "generation_attention"
    batch: int
    isl: int  # prompt length (context); 1 (generation)
    heads: int  # query heads on this GPU
    kv_heads: int  # KV heads on this GPU
    head_dim: int
    # Generation: K/V tokens each sequence's query attends over, its own included (the K/V length
    # SDPA is given); 0 for context. Rows record aiconfigurator's `step`, the tokens cached BEFORE
    # this one (`num_cached_tokens_per_seq`), i.e. this minus one: see `cached_step`.
    kv_len: int


@dataclass
class Plan:
    gemm: list[GemmShape] = field(default_factory=list)
    context_attention: list[AttnShape] = field(default_factory=list)
    generation_attention: list[AttnShape] = field(default_factory=list)
    # (n, k) -> ["Llama-3.1-70B tp4 qkv", ...]; (heads, kv, head_dim) -> [...]
    gemm_sources: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    head_sources: dict[tuple[int, int, int], list[str]] = field(default_factory=dict)

    def shapes(self, op: str) -> list:
        return getattr(self, op)

    def count(self) -> dict[str, int]:
        return {op: len(self.shapes(op)) for op in OPS}


def plan_gemm_nk(models: list[ModelShape], tps: list[int]) -> dict[tuple[int, int], list[str]]:
    """Distinct `(n, k)` pairs, in first-seen order, with the projections they come from."""
    out: dict[tuple[int, int], list[str]] = {}
    for model in models:
        for tp in tps:
            for label, n, k in layer_gemms(model, tp):
                out.setdefault((n, k), []).append(f"{model.name} tp{tp} {label}")
    return out


def plan_gemms(nk: dict[tuple[int, int], list[str]], m_values: list[int], dtypes: list[str],
               lm_head_max_m: int = LM_HEAD_MAX_M) -> list[GemmShape]:  # fmt: skip
    """All `(dtype, n, k, m)`, grouped by `(dtype, n, k)` so the weights are allocated once per group.
    An `(n, k)` used only as lm_head stops at `lm_head_max_m`."""
    shapes = []
    for dtype in dtypes:
        for (n, k), sources in nk.items():
            only_lm_head = all(s.endswith(" lm_head") for s in sources)
            for m in m_values:
                if only_lm_head and m > lm_head_max_m:
                    continue
                shapes.append(GemmShape(dtype, m, n, k))
    return shapes


def attention_head_configs(models: list[ModelShape], tps: list[int]) -> dict[tuple[int, int, int], list[str]]:
    """Distinct per-GPU `(heads, kv_heads, head_dim)` with their sources; heads split over TP, KV heads
    rounded up (replicated when fewer than TP ranks), as pdsim's cost model does."""
    out: dict[tuple[int, int, int], list[str]] = {}
    for model in models:
        for tp in tps:
            cfg = (_ceil_div(model.heads, tp), _ceil_div(model.kv_heads, tp), model.head_dim)
            out.setdefault(cfg, []).append(f"{model.name} tp{tp}")
    return out


CTX_BATCHES_FULL = [1, 2, 4, 8, 16, 32, 64, 128, 256]
CTX_ISL_FULL = [16, 32, 64, 128, 256, 512, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 32768]
CTX_MAX_TOKENS_FULL = 131072
CTX_BATCHES_QUICK = [1, 4, 16]
CTX_ISL_QUICK = [256, 1024, 4096, 16384]
CTX_MAX_TOKENS_QUICK = 65536

GEN_BATCHES_FULL = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
GEN_STEPS_FULL = [16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072]
GEN_BATCHES_QUICK = [1, 8, 64, 256]
GEN_STEPS_QUICK = [256, 2048, 16384, 65536]
GEN_MAX_TOKENS = 1 << 22  # batch x step
GEN_MAX_KV_GIB = 16.0


def kv_cache_bytes(shape: AttnShape, kv_bytes: int = 2) -> int:
    """K and V of one layer on one GPU."""
    tokens = shape.batch * (shape.kv_len if shape.op == "generation_attention" else shape.isl)
    return 2 * tokens * shape.kv_heads * shape.head_dim * kv_bytes


def plan_context_attention(heads: list[tuple[int, int, int]], batches: list[int], isls: list[int],
                           max_tokens: int) -> list[AttnShape]:  # fmt: skip
    return [
        AttnShape("context_attention", b, isl, h, kv, d, 0)
        for (h, kv, d) in heads
        for b in batches
        for isl in isls
        if b * isl <= max_tokens
    ]


def plan_generation_attention(heads: list[tuple[int, int, int]], batches: list[int], steps: list[int],
                              max_tokens: int, max_kv_gib: float) -> list[AttnShape]:  # fmt: skip
    out = []
    for h, kv, d in heads:
        for b in batches:
            for s in steps:
                shape = AttnShape("generation_attention", b, 1, h, kv, d, s)
                if b * s <= max_tokens and kv_cache_bytes(shape) <= max_kv_gib * 2**30:
                    out.append(shape)
    return out


def parse_ops(text: str) -> list[str]:
    ops: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        expand = {"gemm": ["gemm"], "attention": ["context_attention", "generation_attention"],
                  "context_attention": ["context_attention"], "generation_attention": ["generation_attention"],
                  "all": list(OPS)}.get(part)  # fmt: skip
        if expand is None:
            raise PlanError(f"--ops: unknown op '{part}': expected gemm, attention, context_attention, "
                            "generation_attention or all")  # fmt: skip
        ops += [o for o in expand if o not in ops]
    if not ops:
        raise PlanError("--ops: nothing to measure")
    return ops


def parse_int_list(text: str, flag: str) -> list[int]:
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise PlanError(f"{flag}: expected comma-separated positive integers, got '{text}'") from e
    if not vals or any(v <= 0 for v in vals):
        raise PlanError(f"{flag}: expected comma-separated positive integers, got '{text}'")
    return vals


def build_plan(args: argparse.Namespace) -> Plan:
    quick = args.quick
    names = args.models.split(",") if args.models is not None else list(QUICK_MODELS if quick else PRESETS)
    names = [n for n in names if n.strip()]
    models = resolve_models(names, args.model_config or [])
    if not models:
        raise PlanError("no models: give --models and/or --model-config")
    tps = parse_int_list(args.tp, "--tp") if args.tp else list(QUICK_TPS if quick else DEFAULT_TPS)
    ops = parse_ops(args.ops)
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    for d in dtypes:
        if d not in DTYPE_NAMES:
            raise PlanError(f"--dtypes: unknown dtype '{d}': expected bf16, fp8")
    plan = Plan()
    plan.gemm_sources = plan_gemm_nk(models, tps)
    plan.head_sources = attention_head_configs(models, tps)
    heads = list(plan.head_sources)
    if "gemm" in ops:
        ms = parse_int_list(args.m, "--m") if args.m else (GEMM_M_QUICK if quick else GEMM_M_FULL)
        plan.gemm = plan_gemms(plan.gemm_sources, ms, dtypes)
    if "context_attention" in ops:
        plan.context_attention = plan_context_attention(
            heads, CTX_BATCHES_QUICK if quick else CTX_BATCHES_FULL, CTX_ISL_QUICK if quick else CTX_ISL_FULL,
            args.max_prefill_tokens or (CTX_MAX_TOKENS_QUICK if quick else CTX_MAX_TOKENS_FULL))
    if "generation_attention" in ops:
        plan.generation_attention = plan_generation_attention(
            heads, GEN_BATCHES_QUICK if quick else GEN_BATCHES_FULL, GEN_STEPS_QUICK if quick else GEN_STEPS_FULL,
            GEN_MAX_TOKENS, args.max_kv_gib)
    return plan


# --------------------------------------------------------------------------------------------------
# Run-time estimate (pure Python, a rough H100 SXM roofline; only for --list-shapes and progress).
# --------------------------------------------------------------------------------------------------

_EST_FLOPS = {"bf16": 700e12, "fp8": 1200e12}
_EST_ATTN_FLOPS = 350e12
_EST_BYTES_PER_S = 2.8e12
_EST_FLOOR_S = 8e-6
_EST_SHAPE_OVERHEAD_S = 0.02  # Python, allocation, events, synchronisation
_EST_FLUSH_S = 1e-4
_EST_SLEEP_PER_ITER_S = 6e-5  # the torch.cuda._sleep that lets the CPU queue short kernels


def estimate_kernel_s(shape: GemmShape | AttnShape) -> float:
    if isinstance(shape, GemmShape):
        el = 1 if shape.dtype == "fp8" else 2
        flops = 2.0 * shape.m * shape.n * shape.k
        bytes_ = el * (shape.m * shape.k + shape.n * shape.k) + 2 * shape.m * shape.n
        return max(flops / _EST_FLOPS[shape.dtype], bytes_ / _EST_BYTES_PER_S, _EST_FLOOR_S)
    if shape.op == "context_attention":
        flops = 4.0 * shape.batch * shape.isl * shape.isl * shape.heads * shape.head_dim / 2  # causal
    else:
        flops = 4.0 * shape.batch * shape.kv_len * shape.heads * shape.head_dim
    return max(flops / _EST_ATTN_FLOPS, kv_cache_bytes(shape) / _EST_BYTES_PER_S, _EST_FLOOR_S)


def iterations_for(est_ms: float, iters: int, min_iters: int, budget_ms: float) -> int:
    """Timed iterations for a kernel of `est_ms`: `iters`, fewer for long kernels so one shape takes
    about `budget_ms` of GPU time, never fewer than `min_iters`."""
    if est_ms <= 0:
        return iters
    return max(min_iters, min(iters, int(budget_ms / est_ms)))


def estimate_run_seconds(plan: Plan, warmup: int = 3, iters: int = 30, min_iters: int = 5,
                         budget_ms: float = 200.0) -> dict[str, float]:  # fmt: skip
    out = {}
    for op in OPS:
        total = 0.0
        for shape in plan.shapes(op):
            k = estimate_kernel_s(shape)
            timed = iterations_for(k * 1e3, iters, min_iters, budget_ms)
            short = k < 1e-3
            total += (_EST_SHAPE_OVERHEAD_S + (warmup + timed) * k
                      + (timed * (_EST_FLUSH_S + _EST_SLEEP_PER_ITER_S) if short else 0.0))
        out[op] = total
    return out


# --------------------------------------------------------------------------------------------------
# CSV writing (pure Python).
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunMeta:
    version: str  # torch.__version__
    device: str  # torch.cuda.get_device_name()


def csv_path(out_dir: str | os.PathLike, op: str, version: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", version)
    return Path(out_dir) / f"{FILE_PREFIX[op]}.{FRAMEWORK}-{safe}.csv"


def format_latency(ms: float) -> str:
    """Milliseconds, full float precision (as aiconfigurator writes them)."""
    if not (isinstance(ms, (int, float)) and math.isfinite(ms) and ms > 0):
        raise ValueError(f"latency must be a positive finite number of ms, got {ms!r}")
    return repr(float(ms))


def gemm_row(meta: RunMeta, shape: GemmShape, latency_ms: float) -> dict[str, str]:
    return {
        "framework": FRAMEWORK, "version": meta.version, "device": meta.device, "op_name": "gemm",
        "kernel_source": KERNEL_SOURCE, "gemm_dtype": DTYPE_NAMES[shape.dtype], "m": str(shape.m),
        "n": str(shape.n), "k": str(shape.k), "latency": format_latency(latency_ms),
    }  # fmt: skip


def cached_step(shape: AttnShape) -> int:
    """aiconfigurator's `step` for a shape: tokens already cached when the new token attends.

    A decode query attends over the cached tokens plus its own K/V, so a measurement over `step`
    K/V tokens is aiconfigurator's `step - 1` (its generation grid 1, 3, 7, ..., 2^k - 1 attends
    over 2, 4, 8, ..., 2^k). Context rows have no cached prefix: 0."""
    return shape.kv_len - 1 if shape.op == "generation_attention" else 0


def attention_row(meta: RunMeta, shape: AttnShape, latency_ms: float) -> dict[str, str]:
    return {
        "framework": FRAMEWORK, "version": meta.version, "device": meta.device, "op_name": shape.op,
        "kernel_source": KERNEL_SOURCE, "batch_size": str(shape.batch), "isl": str(shape.isl),
        "num_heads": str(shape.heads), "num_key_value_heads": str(shape.kv_heads), "head_dim": str(shape.head_dim),
        "window_size": "0", "beam_width": "1", "attn_dtype": "bfloat16", "kv_cache_dtype": "bfloat16",
        "step": str(cached_step(shape)), "latency": format_latency(latency_ms),
    }  # fmt: skip


def make_row(meta: RunMeta, shape: GemmShape | AttnShape, latency_ms: float) -> dict[str, str]:
    return gemm_row(meta, shape, latency_ms) if isinstance(shape, GemmShape) else attention_row(meta, shape, latency_ms)


def shape_key(op: str, row: dict[str, str]) -> tuple:
    """The identity of a measured row, to skip it on --resume."""
    if op == "gemm":
        return (row["gemm_dtype"], int(row["m"]), int(row["n"]), int(row["k"]))
    return (int(row["batch_size"]), int(row["isl"]), int(row["num_heads"]), int(row["num_key_value_heads"]),
            int(row["head_dim"]), int(row["step"]), row["kv_cache_dtype"])  # fmt: skip


def key_of(shape: GemmShape | AttnShape) -> tuple:
    meta = RunMeta("x", "x")
    op = "gemm" if isinstance(shape, GemmShape) else shape.op
    return shape_key(op, make_row(meta, shape, 1.0))


def read_done_keys(path: str | os.PathLike, op: str) -> set[tuple]:
    p = Path(path)
    if not p.exists():
        return set()
    with p.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != COLUMNS[op]:
            raise PlanError(f"{p}: --resume: header {reader.fieldnames} is not the {op} schema")
        keys = set()
        for row in reader:
            try:
                key = shape_key(op, row)
                complete = math.isfinite(float(row["latency"])) and float(row["latency"]) > 0
            except (KeyError, TypeError, ValueError):
                complete = False
            if not complete:
                continue  # a truncated last line of an interrupted run: measured again
            if op == "generation_attention" and key[5] % 2 == 0:
                # every planned K/V length is even, so aiconfigurator's step (one less) is odd
                raise PlanError(f"{p}:{reader.line_num}: --resume: step {key[5]} is a K/V length, as collect.py "
                                "wrote it before 2026-11-26 (now: the tokens cached before the new one, one "
                                "less); start a fresh --out")  # fmt: skip
            keys.add(key)
        return keys


# How `Bench.time_ms` flushes L2 (by reading a buffer), recorded so that --resume never mixes rows
# timed one way with rows timed another.
FLUSH_METHOD = "read"
# Beside the CSVs: for each CSV, the settings its rows were measured with (written before measuring,
# so a killed run leaves it too).
SETTINGS_NAME = "microbench-settings.json"


def csv_settings(args: argparse.Namespace, op: str, device: str) -> dict:
    """What decides how `op`'s rows are timed, besides the torch version in the CSV's name."""
    out = {"device": device, "flush": args.flush, "flush_method": FLUSH_METHOD}
    if op == "gemm":
        out.update(fp8_cast_input=args.fp8_cast_input, fp8_fast_accum=args.fp8_fast_accum)
    else:
        out["attn_backend"] = args.attn_backend
    return out


def read_settings(out_dir: str | os.PathLike) -> dict:
    p = Path(out_dir) / SETTINGS_NAME
    if not p.exists():
        return {}
    try:
        recorded = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise PlanError(f"{p}: unreadable: {e}") from None
    if not isinstance(recorded, dict) or not all(isinstance(v, dict) for v in recorded.values()):
        raise PlanError(f"{p}: expected {{csv file name: {{setting: value}}}}")
    return recorded


def resume_conflict(out_dir: str | os.PathLike, wanted: dict[str, dict]) -> str | None:
    """Why this run must not add rows to the CSVs it would resume (`wanted`: CSV name -> this run's
    settings for it), or None. A CSV without a record was written by an older collect.py."""
    recorded = read_settings(out_dir)
    for name, settings in wanted.items():
        path = Path(out_dir) / name
        if not path.exists():
            continue
        before = recorded.get(name)
        if before is None:
            return (f"{path}: no record in {SETTINGS_NAME} of how its rows were measured (written by a collect.py "
                    "before 2026-11-26, whose L2 flush slowed small shapes?); use a fresh --out")  # fmt: skip
        diffs = [f"{k} {before.get(k, 'not recorded')!r} (this run: {v!r})" for k, v in settings.items()
                 if before.get(k, "not recorded") != v]  # fmt: skip
        if diffs:
            return (f"{path}: its rows were measured with {', '.join(diffs)}; adding to them would mix two "
                    "kinds of rows. Use the same flags, or a fresh --out")  # fmt: skip
    return None


def record_settings(out_dir: str | os.PathLike, entries: dict[str, dict]) -> None:
    """Adds or replaces the records of `entries`' CSVs (an unreadable file is replaced)."""
    try:
        recorded = read_settings(out_dir)
    except PlanError:
        recorded = {}
    recorded.update(entries)
    (Path(out_dir) / SETTINGS_NAME).write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")


class CsvSink:
    """One op family's CSV: header first, each row flushed as soon as it is measured."""

    def __init__(self, path: str | os.PathLike, op: str, append: bool = False):
        self.path = Path(path)
        self.op = op
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not (append and self.path.exists() and self.path.stat().st_size > 0)
        if not fresh:
            with self.path.open("rb") as f:  # an interrupted run may have left half a line
                f.seek(-1, os.SEEK_END)
                ends_clean = f.read(1) == b"\n"
            if not ends_clean:
                with self.path.open("a", newline="") as f:
                    f.write("\n")
        self._f = self.path.open("w" if fresh else "a", newline="")
        self._w = csv.DictWriter(self._f, fieldnames=COLUMNS[op], lineterminator="\n")
        if fresh:
            self._w.writeheader()
            self._f.flush()
        self.rows = 0

    def write(self, row: dict[str, str]) -> None:
        self._w.writerow(row)
        self._f.flush()
        self.rows += 1

    def close(self) -> None:
        self._f.close()


# --------------------------------------------------------------------------------------------------
# --list-shapes (pure Python).
# --------------------------------------------------------------------------------------------------


def _fmt_duration(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def describe_shape(shape: GemmShape | AttnShape) -> str:
    if isinstance(shape, GemmShape):
        return f"gemm dtype={DTYPE_NAMES[shape.dtype]} m={shape.m} n={shape.n} k={shape.k}"
    if shape.op == "context_attention":
        return (f"context_attention batch={shape.batch} isl={shape.isl} heads={shape.heads} "
                f"kv_heads={shape.kv_heads} head_dim={shape.head_dim}")  # fmt: skip
    return (f"generation_attention batch={shape.batch} step={cached_step(shape)} heads={shape.heads} "
            f"kv_heads={shape.kv_heads} head_dim={shape.head_dim}")  # fmt: skip


def list_shapes(plan: Plan, args: argparse.Namespace, out=sys.stdout) -> None:
    counts = plan.count()
    est = estimate_run_seconds(plan, args.warmup, args.iters, args.min_iters, args.shape_budget_ms)
    print(f"# pdsim microbench plan{' (--quick)' if args.quick else ''}: "
          + ", ".join(f"{counts[op]} {op}" for op in OPS) + " shapes", file=out)  # fmt: skip
    print(f"# estimated GPU time on one H100 SXM: {_fmt_duration(sum(est.values()))} ("
          + ", ".join(f"{op} {_fmt_duration(est[op])}" for op in OPS)
          + "); a rough roofline guess, slower GPUs take longer", file=out)  # fmt: skip
    if plan.gemm:
        print("# gemm (n, k) pairs, per GPU, and the projections they come from:", file=out)
        for (n, k), src in plan.gemm_sources.items():
            print(f"#   n={n} k={k}: {', '.join(src)}", file=out)
    if plan.context_attention or plan.generation_attention:
        print("# attention (heads, kv_heads, head_dim) per GPU and where they come from:", file=out)
        for (h, kv, d), src in plan.head_sources.items():
            print(f"#   heads={h} kv_heads={kv} head_dim={d}: {', '.join(src)}", file=out)
    for op in OPS:
        for shape in plan.shapes(op):
            print(describe_shape(shape), file=out)


# --------------------------------------------------------------------------------------------------
# GPU code. Everything below needs PyTorch with CUDA; `torch` is imported in `run()` only.
# --------------------------------------------------------------------------------------------------


class Skip(Exception):
    """A shape that cannot run here (unsupported, out of memory); recorded, then the sweep goes on."""


class Bench:
    """Times GEMMs and SDPA on one GPU with CUDA events."""

    def __init__(self, torch, args: argparse.Namespace, log):
        self.torch = torch
        self.args = args
        self.log = log
        self.dev = torch.device("cuda", args.device)
        props = torch.cuda.get_device_properties(self.dev)
        self.l2_bytes = int(getattr(props, "L2_cache_size", 0) or 50 * 2**20)
        # Flushed by READING it: writing it (zero_) would leave L2 full of dirty lines that the timed
        # kernel then writes back to HBM, 3-9 us per GEMM on an H100, which no kernel pays in a forward pass.
        self.flush_buf = torch.zeros(max(4 * self.l2_bytes, 256 * 2**20), dtype=torch.int8, device=self.dev)
        self.warned: set[str] = set()
        self.scale_one = torch.ones((), dtype=torch.float32, device=self.dev)  # per-tensor fp8 scale
        self.fp8_reason = self._probe_fp8()
        self.fp8_pad_m = False  # set when this torch's _scaled_mm wants m % 16 == 0
        self.gqa_mode: str | None = None  # "enable_gqa" | "repeat", decided on the first GQA prefill
        self.backend_name = args.attn_backend

    # -- helpers --

    def warn_once(self, key: str, msg: str) -> None:
        if key not in self.warned:
            self.warned.add(key)
            self.log(f"WARNING: {msg}")

    def _probe_fp8(self) -> str | None:
        """None when fp8 GEMMs work here, else why not."""
        torch = self.torch
        if not hasattr(torch, "float8_e4m3fn") or not hasattr(torch, "_scaled_mm"):
            return f"torch {torch.__version__} has no float8_e4m3fn/_scaled_mm"
        cap = torch.cuda.get_device_capability(self.dev)
        if tuple(cap) < (8, 9):
            return f"compute capability {cap[0]}.{cap[1]} < 8.9 has no fp8 tensor cores"
        try:
            a = torch.zeros(16, 16, device=self.dev).to(torch.float8_e4m3fn)
            b = torch.zeros(16, 16, device=self.dev).to(torch.float8_e4m3fn).t()
            self._scaled_mm(a, b)
            torch.cuda.synchronize(self.dev)
        except Exception as e:  # noqa: BLE001 - any failure means "no fp8 here"
            return f"torch._scaled_mm failed on a 16x16x16 probe: {type(e).__name__}: {str(e).splitlines()[0]}"
        return None

    def _scaled_mm(self, a, b):
        torch = self.torch
        # Keywords work for both signatures: torch<=2.3 (keyword-only scales, returns (out, amax)) and
        # torch>=2.4 (positional scales, returns out). The scales are allocated once, outside the timing.
        return torch._scaled_mm(a, b, scale_a=self.scale_one, scale_b=self.scale_one, out_dtype=torch.bfloat16,
                                use_fast_accum=self.args.fp8_fast_accum)  # fmt: skip

    def _flush_needed(self, working_set_bytes: int) -> bool:
        policy = self.args.flush
        if policy == "always":
            return True
        if policy == "never":
            return False
        return working_set_bytes < 4 * self.l2_bytes

    def time_ms(self, fn, flush: bool) -> float:
        """Median milliseconds of `fn()` over the timed iterations."""
        torch, a = self.torch, self.args
        Event = torch.cuda.Event
        torch.cuda.synchronize(self.dev)

        def timed_call() -> float:
            s, e = Event(enable_timing=True), Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            torch.cuda.synchronize(self.dev)
            return s.elapsed_time(e)

        # Warm-up: the first call pays one-time costs (cuBLAS heuristics, kernel loading); the last
        # warm-up call's time picks the number of timed iterations. Long kernels get one warm-up call.
        est = timed_call()
        if a.warmup > 1 and est <= 50.0:
            for _ in range(a.warmup - 2):
                fn()
            est = timed_call()
        n = iterations_for(est, a.iters, a.min_iters, a.shape_budget_ms)
        starts = [Event(enable_timing=True) for _ in range(n)]
        ends = [Event(enable_timing=True) for _ in range(n)]
        sleep = getattr(torch.cuda, "_sleep", None)
        if sleep is not None and est < 1.0:
            # Hold the GPU (~60 us x n at ~1.7 GHz) while the CPU queues every iteration, so short
            # kernels run back to back instead of waiting on Python launch overhead.
            sleep(int(min(n * 100_000, 50_000_000)))
        for i in range(n):
            if flush:
                self.flush_buf.sum()
            starts[i].record()
            fn()
            ends[i].record()
        torch.cuda.synchronize(self.dev)
        return statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends))

    def _check_memory(self, need_bytes: int, what: str) -> None:
        torch = self.torch
        free, _total = torch.cuda.mem_get_info(self.dev)
        if need_bytes > 0.9 * free:
            raise Skip(f"{what} needs {need_bytes / 2**30:.1f} GiB, {free / 2**30:.1f} GiB free")

    def _randn(self, shape, dtype):
        torch = self.torch
        if dtype == "fp8":
            return torch.randn(*shape, device=self.dev, dtype=torch.bfloat16).to(torch.float8_e4m3fn)
        return torch.randn(*shape, device=self.dev, dtype=torch.bfloat16)

    # -- GEMM --

    def gemm_group(self, dtype: str, n: int, k: int, ms: list[int]):
        """Yields `(m, latency_ms | None, skip_reason | None)` for one weight `[n, k]`."""
        torch = self.torch
        if dtype == "fp8":
            if self.fp8_reason:
                self.warn_once("fp8", f"skipping fp8 GEMMs: {self.fp8_reason}")
                for m in ms:
                    yield m, None, f"fp8 unsupported: {self.fp8_reason}"
                return
            if n % 16 or k % 16:
                for m in ms:
                    yield m, None, "fp8 _scaled_mm needs n and k divisible by 16"
                return
        el = 1 if dtype == "fp8" else 2
        # --fp8-cast-input: the activation stays bf16 and its cast to fp8 is timed with the GEMM, as an
        # fp8 linear layer of a serving framework (and aiconfigurator's fp8 rows) quantizes its input.
        cast = dtype == "fp8" and self.args.fp8_cast_input
        a_el = 2 if cast else el

        def quantize(t):
            return t.to(torch.float8_e4m3fn) if cast else t

        mmax = _ceil_div(max(ms), 16) * 16
        try:
            scratch = 2 * max(mmax, n) * k if dtype == "fp8" else 0  # bf16 sources of the fp8 casts
            self._check_memory(a_el * mmax * k + el * n * k + 2 * mmax * n + scratch, f"gemm n={n} k={k} m<={mmax}")
            w = self._randn((n, k), dtype)  # [n, k] row-major like nn.Linear.weight
            a_all = self._randn((mmax, k), "bf16" if cast else dtype)
        except (Skip, RuntimeError) as e:
            torch.cuda.empty_cache()
            for m in ms:
                yield m, None, f"allocation: {_short(e)}"
            return
        wt = w.t()  # [k, n] column-major: what cuBLAS and _scaled_mm want for x @ W^T
        try:
            for m in ms:
                try:
                    if dtype == "fp8":
                        a = a_all[: _ceil_div(m, 16) * 16] if self.fp8_pad_m else a_all[:m]
                        if m % 16 and not self.fp8_pad_m:
                            try:  # older torch builds want every _scaled_mm dimension divisible by 16
                                self._scaled_mm(quantize(a), wt)
                            except RuntimeError as e:
                                if "16" not in str(e):
                                    raise
                                self.fp8_pad_m = True
                                self.warn_once("fp8pad", "this torch's _scaled_mm needs m % 16 == 0: fp8 GEMMs whose "
                                               "m is not a multiple of 16 are timed padded up to one")  # fmt: skip
                                a = a_all[: _ceil_div(m, 16) * 16]

                        def fn(a=a, wt=wt):
                            return self._scaled_mm(quantize(a), wt)
                    else:
                        a = a_all[:m]

                        def fn(a=a, wt=wt):
                            return torch.matmul(a, wt)

                    ws = a_el * m * k + el * n * k + 2 * m * n
                    yield m, self.time_ms(fn, self._flush_needed(ws)), None
                except RuntimeError as e:  # includes torch.cuda.OutOfMemoryError
                    torch.cuda.empty_cache()
                    yield m, None, _short(e)
        finally:
            w = wt = a_all = a = fn = None  # drop every reference before handing the memory back
            torch.cuda.empty_cache()

    # -- attention --

    def _sdpa_context(self):
        """The context manager that restricts SDPA to `--attn-backend`."""
        torch, name = self.torch, self.backend_name
        if name == "auto":
            return contextlib.nullcontext()
        try:
            attn = importlib.import_module("torch.nn.attention")
            backend = {"flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION", "cudnn": "CUDNN_ATTENTION",
                       "math": "MATH"}[name]  # fmt: skip
            return attn.sdpa_kernel([getattr(attn.SDPBackend, backend)])
        except (ImportError, AttributeError):
            if name == "cudnn":
                raise Skip("this torch has no cuDNN SDPA backend") from None
            # torch < 2.3
            return torch.backends.cuda.sdp_kernel(enable_flash=name == "flash", enable_math=name == "math",
                                                  enable_mem_efficient=name == "efficient")  # fmt: skip

    def attention(self, shape: AttnShape) -> float:
        torch = self.torch
        sdpa = torch.nn.functional.scaled_dot_product_attention
        b, h, kv, d = shape.batch, shape.heads, shape.kv_heads, shape.head_dim
        if h % kv:
            raise Skip(f"heads {h} not a multiple of kv_heads {kv}")
        group = h // kv
        if shape.op == "context_attention":
            s = shape.isl
            need = 2 * b * s * d * (2 * h + 2 * kv)  # q, out, k, v in bf16
            if group > 1:
                need += 4 * b * s * h * d  # room for the repeat_interleave fallback
            self._check_memory(need, describe_shape(shape))
            # Physical layout [batch, seq, heads, head_dim] as serving frameworks keep it; SDPA sees
            # [batch, heads, seq, head_dim] views.
            q = torch.randn(b, s, h, d, device=self.dev, dtype=torch.bfloat16).transpose(1, 2)
            k = torch.randn(b, s, kv, d, device=self.dev, dtype=torch.bfloat16).transpose(1, 2)
            v = torch.randn(b, s, kv, d, device=self.dev, dtype=torch.bfloat16).transpose(1, 2)
            kwargs = {"is_causal": True}
            with self._sdpa_context():
                if group > 1:
                    if self.gqa_mode is None:  # first GQA shape: does this torch/backend take enable_gqa?
                        try:
                            sdpa(q, k, v, enable_gqa=True, **kwargs)
                            self.gqa_mode = "enable_gqa"
                        except (TypeError, RuntimeError) as e:
                            if "out of memory" in str(e).lower():
                                raise
                            self.gqa_mode = "repeat"
                            self.warn_once("gqa", f"SDPA enable_gqa unavailable ({_short(e)}): prefill K/V are "
                                           "repeat_interleave'd to all query heads before timing")  # fmt: skip
                    if self.gqa_mode == "enable_gqa":
                        kwargs["enable_gqa"] = True
                    else:
                        k = k.repeat_interleave(group, dim=1)
                        v = v.repeat_interleave(group, dim=1)
                ws = 2 * b * s * d * (2 * h + 2 * kv)
                return self.time_ms(lambda: sdpa(q, k, v, **kwargs), self._flush_needed(ws))
        # Decode: one new token per sequence over `kv_len` K/V tokens. The `group` query heads that
        # share a KV head are laid out as that head's query rows ([b, kv, group, d]), so each KV head is
        # read once, as GQA decode kernels (and FlashAttention's own seqlen_q=1 GQA path) do; no mask is
        # needed since a single query position sees the whole cache.
        s = shape.kv_len
        self._check_memory(kv_cache_bytes(shape) + 4 * b * h * d, describe_shape(shape))
        q = torch.randn(b, kv, group, d, device=self.dev, dtype=torch.bfloat16)
        k = torch.randn(b, s, kv, d, device=self.dev, dtype=torch.bfloat16).transpose(1, 2)
        v = torch.randn(b, s, kv, d, device=self.dev, dtype=torch.bfloat16).transpose(1, 2)
        ws = kv_cache_bytes(shape) + 4 * b * h * d
        with self._sdpa_context():
            return self.time_ms(lambda: sdpa(q, k, v), self._flush_needed(ws))


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200] if text else ''}"


def _nvidia_smi(*args: str) -> str | None:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        return subprocess.run([exe, *args], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def _smi_id(device: int) -> str:
    """nvidia-smi's id for CUDA device `device` (nvidia-smi ignores CUDA_VISIBLE_DEVICES)."""
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    return visible[device] if device < len(visible) else str(device)


def run(args: argparse.Namespace, plan: Plan) -> int:
    try:
        import torch
    except ImportError:
        print("collect.py: PyTorch is not installed: run this on a GPU node with PyTorch (e.g. an NGC "
              "nvcr.io/nvidia/pytorch container); --list-shapes works without it", file=sys.stderr)  # fmt: skip
        return 2
    if not torch.cuda.is_available():
        print("collect.py: torch.cuda.is_available() is False: no CUDA GPU visible", file=sys.stderr)
        return 2
    if args.device >= torch.cuda.device_count():
        print(f"collect.py: --device {args.device}: only {torch.cuda.device_count()} GPU(s) visible", file=sys.stderr)
        return 2
    torch.cuda.set_device(args.device)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = RunMeta(str(torch.__version__), torch.cuda.get_device_name(args.device))
    wanted = {csv_path(out_dir, op, meta.version).name: csv_settings(args, op, meta.device)
              for op in OPS if plan.shapes(op)}  # fmt: skip
    if args.resume:
        try:
            conflict = resume_conflict(out_dir, wanted)
        except PlanError as e:
            conflict = str(e)
        if conflict:
            print(f"collect.py: --resume: {conflict}", file=sys.stderr)
            return 2
    record_settings(out_dir, wanted)

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    log(f"device {args.device}: {meta.device}, torch {meta.version}, CUDA {torch.version.cuda}")
    torch.manual_seed(0)
    bench = Bench(torch, args, log)
    info = {
        "tool": "pdsim calibration/microbench/collect.py",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": sys.argv[1:],
        "host": platform.node(),
        "device_index": args.device,
        "device": meta.device,
        "capability": list(torch.cuda.get_device_capability(args.device)),
        "torch": meta.version,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "fp8": bench.fp8_reason or "ok",
        "flush": args.flush,
        "flush_method": FLUSH_METHOD,
        "fp8_cast_input": args.fp8_cast_input,
        "fp8_fast_accum": args.fp8_fast_accum,
        "attn_backend": args.attn_backend,
        "l2_bytes": bench.l2_bytes,
        "timing": {"warmup": args.warmup, "iters": args.iters, "min_iters": args.min_iters,
                   "shape_budget_ms": args.shape_budget_ms, "statistic": "median", "unit": "ms"},  # fmt: skip
        "clocks_before": _nvidia_smi("-q", "-d", "CLOCK", "-i", _smi_id(args.device)),
        "shapes": plan.count(),
        "rows": {},
        "skipped": [],
    }
    info_path = out_dir / "microbench-info.json"
    if bench.fp8_reason and any(s.dtype == "fp8" for s in plan.gemm):
        bench.warn_once("fp8", f"skipping fp8 GEMMs: {bench.fp8_reason}")

    est_total = sum(estimate_run_seconds(plan, args.warmup, args.iters, args.min_iters, args.shape_budget_ms).values())
    log(f"plan: {plan.count()}, roughly {_fmt_duration(est_total)} on an H100")
    t0 = time.monotonic()
    total = sum(plan.count().values())
    done = 0
    last_report = t0

    def progress(what: str) -> None:
        nonlocal last_report
        now = time.monotonic()
        if now - last_report >= 15 or done == total:
            last_report = now
            el = now - t0
            eta = el / max(done, 1) * (total - done)
            log(f"{done}/{total} shapes, {_fmt_duration(el)} elapsed, ~{_fmt_duration(eta)} left ({what})")

    def skipped(shape, reason: str) -> None:
        info["skipped"].append({"shape": describe_shape(shape), "reason": reason})

    status = 0
    try:
        for op in OPS:
            shapes = plan.shapes(op)
            if not shapes:
                continue
            path = csv_path(out_dir, op, meta.version)
            try:
                done_keys = read_done_keys(path, op) if args.resume else set()
            except PlanError as e:
                log(f"ERROR: {e}")
                status = 2
                continue
            if not args.resume and path.exists():
                log(f"WARNING: overwriting {path} (use --resume to keep its rows and add to them)")
            sink = CsvSink(path, op, append=args.resume)
            todo = [s for s in shapes if key_of(s) not in done_keys]
            done += len(shapes) - len(todo)
            if done_keys:
                log(f"{op}: --resume: {len(shapes) - len(todo)} shapes already in {path.name}")
            log(f"{op}: {len(todo)} shapes -> {path}")
            try:
                if op == "gemm":
                    for (dtype, n, k), group in itertools.groupby(todo, key=lambda s: (s.dtype, s.n, s.k)):
                        group = list(group)
                        by_m = {s.m: s for s in group}
                        for m, ms, reason in bench.gemm_group(dtype, n, k, [s.m for s in group]):
                            done += 1
                            if ms is None:
                                skipped(by_m[m], reason)
                            else:
                                sink.write(make_row(meta, by_m[m], ms))
                            progress(describe_shape(by_m[m]))
                else:
                    for shape in todo:
                        try:
                            sink.write(make_row(meta, shape, bench.attention(shape)))
                        except (Skip, RuntimeError) as e:
                            torch.cuda.empty_cache()
                            reason = str(e) if isinstance(e, Skip) else _short(e)
                            if "No available kernel" in reason or "sdp_kernel" in reason:
                                bench.warn_once(f"backend-{shape.head_dim}",
                                                f"SDPA backend '{args.attn_backend}' cannot run "
                                                f"{describe_shape(shape)}: {reason}; try --attn-backend auto")
                            skipped(shape, reason)
                        done += 1
                        progress(describe_shape(shape))
            finally:
                info["rows"][path.name] = sink.rows
                sink.close()
    except KeyboardInterrupt:
        log("interrupted: the CSVs hold every shape measured so far (rerun with --resume to continue)")
        status = 130
    finally:
        info["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        info["elapsed_s"] = round(time.monotonic() - t0, 1)
        info["clocks_after"] = _nvidia_smi("-q", "-d", "CLOCK", "-i", _smi_id(args.device))
        info["gqa_prefill"] = bench.gqa_mode
        info["fp8_m_padded_to_16"] = bench.fp8_pad_m
        info_path.write_text(json.dumps(info, indent=1) + "\n")
    if info["skipped"]:
        log(f"{len(info['skipped'])} shapes skipped (reasons in {info_path})")
    log(f"done in {_fmt_duration(time.monotonic() - t0)}: {info['rows']}")
    return status


# --------------------------------------------------------------------------------------------------
# CLI.
# --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="collect.py",
        description="GEMM and attention microbenchmarks on one GPU, written as aiconfigurator-schema CSVs "
        "for `pdsim calibrate --data DIR`. Measures PyTorch's kernels (cuBLAS, SDPA), not a serving "
        "framework's own kernels: rows say framework=torch.",
        epilog="Collectives are measured by nccl.sh (nccl-tests). See README.md.",
    )
    p.add_argument("--out", default="data", help="output directory (default: %(default)s)")
    p.add_argument("--ops", default="gemm,attention",
                   help="comma-separated: gemm, attention, context_attention, generation_attention, all "
                        "(default: %(default)s)")  # fmt: skip
    p.add_argument("--quick", action="store_true",
                   help="a small subset (2 models, TP 1 and 4, 15 m values, few attention shapes): ~2 min on an H100")
    p.add_argument("--list-shapes", action="store_true",
                   help="print the planned shapes and exit (needs no GPU and no torch)")
    p.add_argument("--device", type=int, default=0, help="CUDA device index (default: %(default)s)")
    p.add_argument("--models", default=None,
                   help=f"comma-separated presets, '' for none (default: all: {','.join(PRESETS)}; --quick: "
                        f"{','.join(QUICK_MODELS)})")  # fmt: skip
    p.add_argument("--model-config", action="append", metavar="CONFIG_JSON",
                   help="a Hugging Face config.json (or its directory) of a dense model to add; repeatable")
    p.add_argument("--tp", default=None, help="comma-separated tensor-parallel sizes (default: 1,2,4,8; --quick: 1,4)")
    p.add_argument("--m", default=None, help="comma-separated GEMM m values (default: 1..16,32..256 by 16,...,32768)")
    p.add_argument("--dtypes", default="bf16,fp8", help="GEMM dtypes: bf16, fp8 (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="warm-up calls per shape (default: %(default)s)")
    p.add_argument("--iters", type=int, default=30, help="timed iterations per shape, at most (default: %(default)s)")
    p.add_argument("--min-iters", type=int, default=5,
                   help="timed iterations per shape, at least (default: %(default)s)")
    p.add_argument("--shape-budget-ms", type=float, default=200.0,
                   help="GPU time per shape that caps the iterations of long kernels (default: %(default)s)")
    p.add_argument("--flush", choices=["small", "always", "never"], default="small",
                   help="L2 flush before each timed iteration: only when the operands fit in 4x L2 (small), "
                        "always, or never (default: %(default)s)")  # fmt: skip
    p.add_argument("--attn-backend", choices=["flash", "cudnn", "efficient", "math", "auto"], default="flash",
                   help="SDPA backend (default: %(default)s; auto lets PyTorch choose)")
    p.add_argument("--fp8-fast-accum", action="store_true", help="use_fast_accum=True for fp8 _scaled_mm")
    p.add_argument("--fp8-cast-input", action="store_true",
                   help="time the bf16 activation's cast to fp8 with each fp8 GEMM, as an fp8 linear layer "
                        "(and aiconfigurator's fp8 rows) includes its input quantization (default: the GEMM alone)")
    p.add_argument("--max-prefill-tokens", type=int, default=None,
                   help="cap on batch x isl for prefill attention (default: 131072; --quick: 65536)")
    p.add_argument("--max-kv-gib", type=float, default=GEN_MAX_KV_GIB,
                   help="cap on one decode shape's KV cache in GiB (default: %(default)s)")
    p.add_argument("--resume", action="store_true", help="append to existing CSVs in --out, skipping measured shapes")
    args = p.parse_args(argv)
    if args.warmup < 1 or args.iters < 1 or args.min_iters < 1 or args.min_iters > args.iters:
        p.error("--warmup, --iters, --min-iters must be >= 1 and --min-iters <= --iters")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        plan = build_plan(args)
    except PlanError as e:
        print(f"collect.py: {e}", file=sys.stderr)
        return 2
    if args.list_shapes:
        try:
            list_shapes(plan, args)
        except BrokenPipeError:  # `| head`: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return run(args, plan)


if __name__ == "__main__":
    sys.exit(main())
