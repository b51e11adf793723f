"""Tests for collect.py that need neither a GPU nor PyTorch.

Run: cd calibration/microbench && python3 -m unittest -v

The GPU code paths run here against a fake `torch` (FakeTorch below) whose CUDA events read a
simulated GPU clock that each fake kernel advances by a known number of milliseconds. That checks the
control flow, the CSV rows and the units end to end; it does not check PyTorch's real API, which only
a run on a GPU node does (README.md, "Checking a run").
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import types
import unittest
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import collect  # noqa: E402

# The aiconfigurator H100 data pdsim reads (read-only; only header lines are read here).
DATA_DIR = Path(os.environ.get("PDSIM_CALIBRATION_DATA", HERE.parents[2] / "shared" / "calibration-data"))
AICONF = DATA_DIR / "aiconfigurator-h100"

AICONF_GEMM_HEADER = "framework,version,device,op_name,kernel_source,gemm_dtype,m,n,k,latency"
AICONF_ATTN_HEADER = (
    "framework,version,device,op_name,kernel_source,batch_size,isl,num_heads,num_key_value_heads,head_dim,"
    "window_size,beam_width,attn_dtype,kv_cache_dtype,step,latency"
)


def plan_args(*argv: str) -> argparse.Namespace:
    return collect.parse_args(list(argv))


class ModelShapes(unittest.TestCase):
    def test_llama_3_1_70b_tp4(self):
        shapes = {label: (n, k) for label, n, k in collect.layer_gemms(collect.PRESETS["llama-3.1-70b"], 4)}
        self.assertEqual(shapes["qkv"], (2560, 8192))  # (64 + 2*8) * 128 / 4
        self.assertEqual(shapes["o"], (8192, 2048))  # 64 * 128 / 4
        self.assertEqual(shapes["gate_up"], (14336, 8192))  # 2 * 28672 / 4
        self.assertEqual(shapes["down"], (8192, 7168))  # 28672 / 4
        self.assertEqual(shapes["lm_head"], (32064, 8192))  # 128256 / 4

    def test_presets_match_pdsim(self):
        # src/spec/model.rs presets.
        p = collect.PRESETS
        self.assertEqual(set(p), {"llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "llama-2-70b", "qwen3-32b"})
        self.assertEqual(p["qwen3-32b"].head_dim, 128)
        self.assertEqual(p["llama-3.1-405b"].intermediate, 53248)
        self.assertEqual(p["llama-2-70b"].vocab, 32000)

    def test_qwen3_32b_tp8(self):
        shapes = {label: (n, k) for label, n, k in collect.layer_gemms(collect.PRESETS["qwen3-32b"], 8)}
        self.assertEqual(shapes["qkv"], (1280, 5120))  # (64 + 16) * 128 / 8
        self.assertEqual(shapes["o"], (5120, 1024))  # 64 * 128 / 8 (not hidden / 8)
        self.assertEqual(shapes["lm_head"], (18992, 5120))

    def test_full_plan_covers_all_presets_and_tps(self):
        plan = collect.build_plan(plan_args())
        nk = {(s.n, s.k) for s in plan.gemm}
        for model in collect.PRESETS.values():
            for tp in (1, 2, 4, 8):
                for label, n, k in collect.layer_gemms(model, tp):
                    self.assertIn((n, k), nk, f"{model.name} tp{tp} {label}")
        self.assertIn("Llama-3.1-70B tp4 qkv", plan.gemm_sources[(2560, 8192)])
        self.assertEqual({s.dtype for s in plan.gemm}, {"bf16", "fp8"})
        # (n, k) pairs are measured once even when several models share them.
        self.assertEqual(len(plan.gemm), len(set(plan.gemm)))

    def test_gemm_m_values(self):
        ms = collect.GEMM_M_FULL
        self.assertEqual(ms, sorted(set(ms)))
        self.assertEqual(ms[0], 1)
        self.assertEqual(ms[-1], 32768)
        for m in list(range(1, 17)) + [32, 48, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768]:
            self.assertIn(m, ms)
        plan = collect.build_plan(plan_args())
        qkv_ms = {s.m for s in plan.gemm if (s.n, s.k) == (2560, 8192) and s.dtype == "bf16"}
        self.assertEqual(qkv_ms, set(ms))
        # lm_head-only shapes stop at LM_HEAD_MAX_M (logits rows are sequences, not tokens).
        lm_ms = {s.m for s in plan.gemm if (s.n, s.k) == (32064, 8192)}
        self.assertEqual(max(lm_ms), collect.LM_HEAD_MAX_M)

    def test_model_config(self):
        with tempfile.TemporaryDirectory() as d:
            cfg = Path(d) / "config.json"
            cfg.write_text(json.dumps({
                "_name_or_path": "org/My-Model-14B", "hidden_size": 5120, "num_attention_heads": 40,
                "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 17408, "vocab_size": 151936,
            }))  # fmt: skip
            m = collect.model_from_hf_config(d)  # a directory holding config.json works too
            self.assertEqual(m.name, "My-Model-14B")
            self.assertEqual((m.heads, m.kv_heads, m.head_dim), (40, 8, 128))
            plan = collect.build_plan(plan_args("--models", "", "--model-config", str(cfg), "--tp", "2"))
            self.assertIn((40 + 16) * 128 // 2, {s.n for s in plan.gemm})
            self.assertEqual(list(plan.head_sources), [(20, 4, 128)])
            self.assertEqual(plan.gemm_sources[(2 * 8704, 5120)], ["My-Model-14B tp2 gate_up"])

            # head_dim defaults to hidden / heads, kv heads to heads.
            cfg.write_text(json.dumps({"hidden_size": 4096, "num_attention_heads": 32, "intermediate_size": 11008,
                                       "vocab_size": 32000}))  # fmt: skip
            m = collect.model_from_hf_config(cfg)
            self.assertEqual((m.kv_heads, m.head_dim), (32, 128))

            cfg.write_text(json.dumps({"hidden_size": 4096, "num_attention_heads": 32, "intermediate_size": 1,
                                       "vocab_size": 1, "num_local_experts": 8}))  # fmt: skip
            with self.assertRaisesRegex(collect.PlanError, "mixture-of-experts"):
                collect.model_from_hf_config(cfg)
            cfg.write_text("{ not json")
            with self.assertRaisesRegex(collect.PlanError, r"config.json:1:"):
                collect.model_from_hf_config(cfg)

    def test_bad_flags(self):
        for argv, msg in [
            (["--models", "gpt-5"], "unknown model"),
            (["--ops", "gemm,softmax"], "unknown op"),
            (["--tp", "0"], "--tp"),
            (["--dtypes", "int4"], "unknown dtype"),
        ]:
            with self.assertRaisesRegex(collect.PlanError, msg):
                collect.build_plan(plan_args(*argv))


class AttentionShapes(unittest.TestCase):
    def test_heads_per_gpu(self):
        heads = collect.attention_head_configs([collect.PRESETS["llama-3.1-70b"]], [1, 2, 4, 8])
        self.assertEqual(list(heads), [(64, 8, 128), (32, 4, 128), (16, 2, 128), (8, 1, 128)])

    def test_context_plan(self):
        plan = collect.build_plan(plan_args("--ops", "context_attention", "--models", "llama-3.1-70b", "--tp", "4"))
        self.assertEqual(plan.gemm, [])
        self.assertEqual(plan.generation_attention, [])
        self.assertTrue(plan.context_attention)
        for s in plan.context_attention:
            self.assertEqual((s.heads, s.kv_heads, s.head_dim, s.kv_len), (16, 2, 128, 0))
            self.assertLessEqual(s.batch * s.isl, collect.CTX_MAX_TOKENS_FULL)
        self.assertIn((1, 32768), {(s.batch, s.isl) for s in plan.context_attention})

    def test_generation_plan(self):
        plan = collect.build_plan(plan_args("--ops", "generation_attention", "--models", "llama-3.1-8b"))
        self.assertTrue(plan.generation_attention)
        for s in plan.generation_attention:
            self.assertEqual(s.isl, 1)
            self.assertLessEqual(collect.kv_cache_bytes(s), collect.GEN_MAX_KV_GIB * 2**30)
            self.assertLessEqual(s.batch * s.kv_len, collect.GEN_MAX_TOKENS)
        steps = {s.kv_len for s in plan.generation_attention if s.batch == 1}
        self.assertEqual(max(steps), 131072)

    def test_ops_parsing(self):
        self.assertEqual(collect.parse_ops("gemm,attention"), ["gemm", "context_attention", "generation_attention"])
        self.assertEqual(collect.parse_ops("attention,gemm"), ["context_attention", "generation_attention", "gemm"])
        self.assertEqual(collect.parse_ops("all"), list(collect.OPS))


class Estimates(unittest.TestCase):
    def test_kernel_estimates_are_seconds(self):
        # aiconfigurator gemm_perf.trtllm: bf16 8192^3 = 1.40 ms, m=1 n=k=8192 = 0.049 ms.
        big = collect.estimate_kernel_s(collect.GemmShape("bf16", 8192, 8192, 8192))
        self.assertGreater(big, 1.0e-3)
        self.assertLess(big, 2.5e-3)
        small = collect.estimate_kernel_s(collect.GemmShape("bf16", 1, 8192, 8192))
        self.assertGreater(small, 0.02e-3)
        self.assertLess(small, 0.1e-3)

    def test_quick_fits_two_minutes(self):
        args = plan_args("--quick")
        plan = collect.build_plan(args)
        est = sum(collect.estimate_run_seconds(plan, args.warmup, args.iters, args.min_iters,
                                               args.shape_budget_ms).values())  # fmt: skip
        self.assertLess(est, 90)  # leaves room for the estimate being optimistic
        full = collect.build_plan(plan_args())
        for op in collect.OPS:
            self.assertTrue(plan.shapes(op))
            self.assertLess(len(plan.shapes(op)), len(full.shapes(op)))

    def test_iterations(self):
        self.assertEqual(collect.iterations_for(0.01, 30, 5, 200), 30)
        self.assertEqual(collect.iterations_for(20, 30, 5, 200), 10)
        self.assertEqual(collect.iterations_for(500, 30, 5, 200), 5)


class CsvOutput(unittest.TestCase):
    def test_headers_are_aiconfigurators(self):
        self.assertEqual(",".join(collect.GEMM_COLUMNS), AICONF_GEMM_HEADER)
        self.assertEqual(",".join(collect.ATTENTION_COLUMNS), AICONF_ATTN_HEADER)

    @unittest.skipUnless(AICONF.is_dir(), f"{AICONF} not present")
    def test_headers_equal_the_shared_data_files(self):
        def header(name: str) -> list[str]:
            with (AICONF / name).open() as f:
                return f.readline().strip().split(",")

        self.assertEqual(collect.GEMM_COLUMNS, header("gemm_perf.trtllm-1.3.0rc20.csv"))
        self.assertEqual(collect.GEMM_COLUMNS, header("gemm_perf.vllm-0.19.0.csv"))
        self.assertEqual(collect.ATTENTION_COLUMNS, header("context_attention_perf.trtllm-1.3.0rc20.csv"))
        self.assertEqual(collect.ATTENTION_COLUMNS, header("generation_attention_perf.trtllm-1.3.0rc20.csv"))

    def test_written_file(self):
        meta = collect.RunMeta("2.6.0a0+ecf3bae40a.nv25.01", "NVIDIA H100 80GB HBM3")
        with tempfile.TemporaryDirectory() as d:
            path = collect.csv_path(d, "gemm", meta.version)
            self.assertEqual(path.name, "gemm_perf.torch-2.6.0a0_ecf3bae40a.nv25.01.csv")
            sink = collect.CsvSink(path, "gemm")
            sink.write(collect.make_row(meta, collect.GemmShape("bf16", 8192, 8192, 8192), 1.4048))
            sink.write(collect.make_row(meta, collect.GemmShape("fp8", 1, 2560, 8192), 0.0123))
            sink.close()
            lines = path.read_text().splitlines()
            self.assertEqual(lines[0], AICONF_GEMM_HEADER)
            self.assertEqual(lines[1], "torch,2.6.0a0+ecf3bae40a.nv25.01,NVIDIA H100 80GB HBM3,gemm,torch,bfloat16,"
                                       "8192,8192,8192,1.4048")  # fmt: skip
            self.assertEqual(lines[2].split(",")[5:], ["fp8", "1", "2560", "8192", "0.0123"])

            apath = collect.csv_path(d, "generation_attention", meta.version)
            sink = collect.CsvSink(apath, "generation_attention")
            shape = collect.AttnShape("generation_attention", 64, 1, 16, 2, 128, 4096)
            sink.write(collect.make_row(meta, shape, 0.05))
            sink.close()
            with apath.open() as f:
                row = next(csv.DictReader(f))
            self.assertEqual(row["op_name"], "generation_attention")
            # aiconfigurator's step: the 4095 tokens cached before the one that attends over 4096
            self.assertEqual((row["batch_size"], row["isl"], row["step"]), ("64", "1", "4095"))
            self.assertEqual((row["num_heads"], row["num_key_value_heads"], row["head_dim"]), ("16", "2", "128"))
            self.assertEqual((row["window_size"], row["beam_width"]), ("0", "1"))
            self.assertEqual((row["attn_dtype"], row["kv_cache_dtype"]), ("bfloat16", "bfloat16"))

    def test_latency_is_ms_and_positive(self):
        self.assertEqual(collect.format_latency(0.0123), "0.0123")
        for bad in (0.0, -1.0, float("nan"), float("inf")):
            with self.assertRaises(ValueError):
                collect.format_latency(bad)

    def test_resume_keys_survive_a_torn_line(self):
        meta = collect.RunMeta("2.5.1", "NVIDIA H100 80GB HBM3")
        with tempfile.TemporaryDirectory() as d:
            path = collect.csv_path(d, "gemm", meta.version)
            sink = collect.CsvSink(path, "gemm")
            sink.write(collect.make_row(meta, collect.GemmShape("bf16", 4, 2560, 8192), 0.02))
            sink.close()
            with path.open("a") as f:
                f.write("torch,2.5.1,NVIDIA H100 80GB HBM3,gemm,torch,bfloat16,8,25")  # killed mid-row
            self.assertEqual(collect.read_done_keys(path, "gemm"), {("bfloat16", 4, 2560, 8192)})
            sink = collect.CsvSink(path, "gemm", append=True)
            sink.write(collect.make_row(meta, collect.GemmShape("bf16", 8, 2560, 8192), 0.03))
            sink.close()
            self.assertEqual(collect.read_done_keys(path, "gemm"),
                             {("bfloat16", 4, 2560, 8192), ("bfloat16", 8, 2560, 8192)})  # fmt: skip


# --------------------------------------------------------------------------------------------------
# A fake torch with a simulated GPU clock, to run the GPU code paths without a GPU.
# --------------------------------------------------------------------------------------------------

FAKE_TFLOPS = 1e15  # fake matmul speed: 2*m*n*k / 1e15 s
FAKE_FLUSH_MS = 0.1
FAKE_CAST_MS_PER_ELEMENT = 1e-9  # fake bf16 -> fp8 cast cost


class _Dtype:
    def __init__(self, name: str, size: int):
        self.name, self.itemsize = name, size

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class FakeTorch:
    """Builds the `torch` module tree collect.Bench uses; `clock_ms` is the simulated GPU time."""

    def __init__(self, capability=(9, 0), has_gqa=True, scaled_mm_needs_m16=False):
        self.clock_ms = 0.0
        self.calls: dict[str, int] = {}
        self.has_gqa = has_gqa
        self.scaled_mm_needs_m16 = scaled_mm_needs_m16
        fake = self
        torch = types.ModuleType("torch")
        torch.__version__ = "2.6.0+fake"
        torch.bfloat16, torch.float32, torch.int8 = _Dtype("bfloat16", 2), _Dtype("float32", 4), _Dtype("int8", 1)
        torch.float8_e4m3fn = _Dtype("float8_e4m3fn", 1)
        torch.device = lambda kind, index=None: f"{kind}:{index}"

        class Tensor:
            def __init__(self, shape, dtype):
                self.shape, self.dtype = tuple(shape), dtype

            def t(self):
                return Tensor(self.shape[::-1], self.dtype)

            def transpose(self, a, b):
                s = list(self.shape)
                s[a], s[b] = s[b], s[a]
                return Tensor(s, self.dtype)

            def to(self, dtype):
                if self.dtype is torch.bfloat16 and dtype is torch.float8_e4m3fn:
                    fake.clock_ms += math.prod(self.shape) * FAKE_CAST_MS_PER_ELEMENT
                    fake.calls["cast"] = fake.calls.get("cast", 0) + 1
                return Tensor(self.shape, dtype)

            def __getitem__(self, sl):
                return Tensor((len(range(self.shape[0])[sl]),) + self.shape[1:], self.dtype)

            def sum(self):
                fake.clock_ms += FAKE_FLUSH_MS
                fake.calls["flush"] = fake.calls.get("flush", 0) + 1
                return Tensor((), torch.float32)

            def repeat_interleave(self, r, dim):
                s = list(self.shape)
                s[dim] *= r
                return Tensor(s, self.dtype)

        def make(*shape, dtype=None, device=None):
            if len(shape) == 1 and isinstance(shape[0], tuple):
                shape = shape[0]
            return Tensor(shape, dtype or torch.float32)

        torch.empty = torch.zeros = torch.ones = torch.randn = make
        torch.manual_seed = lambda seed: None

        def matmul(a, b):
            m, k = a.shape
            k2, n = b.shape
            assert k == k2, (a.shape, b.shape)
            fake.clock_ms += 2 * m * n * k / FAKE_TFLOPS * 1e3
            fake.calls["matmul"] = fake.calls.get("matmul", 0) + 1
            fake.calls.setdefault("matmul_m", set()).add(m)
            return Tensor((m, n), torch.bfloat16)

        def scaled_mm(a, b, *, scale_a, scale_b, out_dtype=None, use_fast_accum=False, **_):
            assert a.dtype is torch.float8_e4m3fn and b.dtype is torch.float8_e4m3fn
            if fake.scaled_mm_needs_m16 and a.shape[0] % 16:
                raise RuntimeError("mat1 dims must be divisible by 16")
            fake.clock_ms += a.shape[0] * b.shape[1] * a.shape[1] / FAKE_TFLOPS * 1e3  # twice as fast
            fake.calls["scaled_mm"] = fake.calls.get("scaled_mm", 0) + 1
            return Tensor((a.shape[0], b.shape[1]), out_dtype)

        torch.matmul, torch._scaled_mm = matmul, scaled_mm

        def sdpa(q, k, v, attn_mask=None, is_causal=False, enable_gqa=False, **_):
            if enable_gqa and not fake.has_gqa:
                raise TypeError("scaled_dot_product_attention() got an unexpected keyword argument 'enable_gqa'")
            b, h, lq, d = q.shape
            if k.shape[1] != h and not enable_gqa:
                raise RuntimeError("query and key heads differ")
            fake.clock_ms += 0.001 * b * h * lq * k.shape[2] * d / 1e6  # 1 us per 1e6 MACs
            fake.calls["sdpa"] = fake.calls.get("sdpa", 0) + 1
            fake.calls.setdefault("sdpa_shapes", []).append((q.shape, k.shape, is_causal, enable_gqa))
            return Tensor(q.shape, q.dtype)

        class Event:
            def __init__(self, enable_timing=False):
                self.t = None

            def record(self, stream=None):
                self.t = fake.clock_ms

            def elapsed_time(self, end):
                return end.t - self.t

        props = types.SimpleNamespace(L2_cache_size=50 * 2**20, total_memory=80 * 2**30)
        cuda = types.SimpleNamespace(
            is_available=lambda: True, device_count=lambda: 1, set_device=lambda i: None,
            get_device_name=lambda i=None: "NVIDIA Fake H100", get_device_properties=lambda d: props,
            get_device_capability=lambda d=None: capability, synchronize=lambda d=None: None,
            mem_get_info=lambda d=None: (79 * 2**30, 80 * 2**30), empty_cache=lambda: None, Event=Event,
            _sleep=lambda cycles: None,
        )  # fmt: skip
        torch.cuda = cuda
        torch.version = types.SimpleNamespace(cuda="12.8")
        torch.backends = types.SimpleNamespace(
            cudnn=types.SimpleNamespace(is_available=lambda: True, version=lambda: 90100),
            cuda=types.SimpleNamespace(sdp_kernel=lambda **kw: contextlib.nullcontext()),
        )
        attention = types.ModuleType("torch.nn.attention")
        attention.SDPBackend = types.SimpleNamespace(FLASH_ATTENTION="flash", EFFICIENT_ATTENTION="efficient",
                                                     CUDNN_ATTENTION="cudnn", MATH="math")  # fmt: skip
        attention.sdpa_kernel = lambda backends: contextlib.nullcontext()
        nn = types.ModuleType("torch.nn")
        nn.functional = types.SimpleNamespace(scaled_dot_product_attention=sdpa)
        nn.attention = attention
        torch.nn = nn
        self.modules = {"torch": torch, "torch.nn": nn, "torch.nn.attention": attention}


def run_fake(fake: FakeTorch, *argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with mock.patch.dict(sys.modules, fake.modules), contextlib.redirect_stderr(err):
        rc = collect.main(list(argv))
    return rc, err.getvalue()


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


class GpuPathsWithFakeTorch(unittest.TestCase):
    def test_gemm_rows_in_ms(self):
        fake = FakeTorch()
        with tempfile.TemporaryDirectory() as d:
            rc, err = run_fake(fake, "--out", d, "--ops", "gemm", "--models", "llama-3.1-70b", "--tp", "4",
                               "--m", "1,16,8192")  # fmt: skip
            self.assertEqual(rc, 0, err)
            rows = read_rows(Path(d) / "gemm_perf.torch-2.6.0_fake.csv")
            # 5 projections x 3 m x {bf16, fp8}, less lm_head at m=8192 > LM_HEAD_MAX_M
            self.assertEqual(len(rows), 5 * 3 * 2 - 2)
            self.assertNotIn(("bfloat16", 8192, 32064, 8192), {(r["gemm_dtype"], int(r["m"]), int(r["n"]), int(r["k"]))
                                                              for r in rows})  # fmt: skip
            got = {(r["gemm_dtype"], int(r["m"]), int(r["n"]), int(r["k"])): float(r["latency"]) for r in rows}
            # The fake GPU clock runs 2*m*n*k / 1e15 seconds per bf16 matmul: the CSV must hold ms.
            self.assertAlmostEqual(got[("bfloat16", 8192, 2560, 8192)], 2 * 8192 * 2560 * 8192 / 1e12, places=9)
            self.assertAlmostEqual(got[("fp8", 16, 2560, 8192)], 16 * 2560 * 8192 / 1e12, places=12)
            self.assertEqual({r["framework"] for r in rows}, {"torch"})
            self.assertEqual({r["kernel_source"] for r in rows}, {"torch"})
            self.assertEqual({r["device"] for r in rows}, {"NVIDIA Fake H100"})
            self.assertEqual({r["version"] for r in rows}, {"2.6.0+fake"})
            self.assertGreater(fake.calls["flush"], 0)  # small shapes flush L2
            info = json.loads((Path(d) / "microbench-info.json").read_text())
            self.assertEqual(info["fp8"], "ok")
            self.assertEqual(info["skipped"], [])
            self.assertEqual(info["timing"]["unit"], "ms")

    def test_fp8_skipped_without_fp8_hardware(self):
        fake = FakeTorch(capability=(8, 0))
        with tempfile.TemporaryDirectory() as d:
            rc, err = run_fake(fake, "--out", d, "--ops", "gemm", "--models", "llama-3.1-8b", "--tp", "8",
                               "--m", "1,64")  # fmt: skip
            self.assertEqual(rc, 0, err)
            self.assertIn("WARNING: skipping fp8 GEMMs", err)
            rows = read_rows(Path(d) / "gemm_perf.torch-2.6.0_fake.csv")
            self.assertEqual({r["gemm_dtype"] for r in rows}, {"bfloat16"})
            self.assertEqual(len(rows), 10)
            info = json.loads((Path(d) / "microbench-info.json").read_text())
            self.assertEqual(len(info["skipped"]), 10)
            self.assertNotIn("scaled_mm", fake.calls)

    def test_fp8_cast_input_is_timed_with_the_gemm(self):
        for flag, cast_ms in (((), 0.0), (("--fp8-cast-input",), 16 * 8192 * FAKE_CAST_MS_PER_ELEMENT)):
            fake = FakeTorch()
            with tempfile.TemporaryDirectory() as d:
                rc, err = run_fake(fake, "--out", d, "--ops", "gemm", "--models", "llama-3.1-70b", "--tp", "4",
                                   "--m", "16", "--dtypes", "fp8", *flag)  # fmt: skip
                self.assertEqual(rc, 0, err)
                got = {(int(r["n"]), int(r["k"])): float(r["latency"])
                       for r in read_rows(Path(d) / "gemm_perf.torch-2.6.0_fake.csv")}  # fmt: skip
                self.assertAlmostEqual(got[(2560, 8192)], 16 * 2560 * 8192 / 1e12 + cast_ms, places=12)
                info = json.loads((Path(d) / "microbench-info.json").read_text())
                self.assertEqual(info["fp8_cast_input"], bool(flag))

    def test_fp8_m_padding_fallback(self):
        fake = FakeTorch(scaled_mm_needs_m16=True)
        with tempfile.TemporaryDirectory() as d:
            rc, err = run_fake(fake, "--out", d, "--ops", "gemm", "--models", "llama-3.1-8b", "--tp", "8",
                               "--m", "1,32", "--dtypes", "fp8")  # fmt: skip
            self.assertEqual(rc, 0, err)
            self.assertIn("padded", err)
            got = {int(r["m"]): float(r["latency"]) for r in read_rows(Path(d) / "gemm_perf.torch-2.6.0_fake.csv")
                   if (r["n"], r["k"]) == ("768", "4096")}  # fmt: skip
            self.assertAlmostEqual(got[1], 16 * 768 * 4096 / 1e12, places=12)  # timed as m=16

    def test_attention_rows(self):
        fake = FakeTorch()
        with tempfile.TemporaryDirectory() as d:
            rc, err = run_fake(fake, "--out", d, "--ops", "attention", "--quick", "--models", "llama-3.1-70b",
                               "--tp", "4")  # fmt: skip
            self.assertEqual(rc, 0, err)
            ctx = read_rows(Path(d) / "context_attention_perf.torch-2.6.0_fake.csv")
            gen = read_rows(Path(d) / "generation_attention_perf.torch-2.6.0_fake.csv")
            self.assertEqual(len(ctx), len(collect.plan_context_attention(
                [(16, 2, 128)], collect.CTX_BATCHES_QUICK, collect.CTX_ISL_QUICK, collect.CTX_MAX_TOKENS_QUICK)))
            self.assertTrue(gen)
            self.assertEqual({(r["num_heads"], r["num_key_value_heads"], r["head_dim"]) for r in ctx + gen},
                             {("16", "2", "128")})  # fmt: skip
            self.assertEqual({r["op_name"] for r in ctx}, {"context_attention"})
            self.assertEqual({r["step"] for r in ctx}, {"0"})
            self.assertEqual({r["isl"] for r in gen}, {"1"})
            r = next(r for r in gen if (r["batch_size"], r["step"]) == ("64", "2047"))
            # decode packs the 8 query heads of each KV head as its query rows: b*kv*group*step*d MACs
            self.assertAlmostEqual(float(r["latency"]), 0.001 * 64 * 2 * 8 * 2048 * 128 / 1e6, places=9)
            shapes = fake.calls["sdpa_shapes"]
            self.assertIn(((1, 16, 1024, 128), (1, 2, 1024, 128), True, True), shapes)  # prefill, causal, GQA
            self.assertIn(((64, 2, 8, 128), (64, 2, 2048, 128), False, False), shapes)  # decode

    def test_gqa_fallback_repeats_kv(self):
        fake = FakeTorch(has_gqa=False)
        with tempfile.TemporaryDirectory() as d:
            rc, err = run_fake(fake, "--out", d, "--ops", "context_attention", "--quick", "--models",
                               "llama-3.1-8b", "--tp", "8")  # fmt: skip
            self.assertEqual(rc, 0, err)
            self.assertIn("repeat_interleave", err)
            self.assertTrue(read_rows(Path(d) / "context_attention_perf.torch-2.6.0_fake.csv"))
            self.assertIn(((1, 4, 256, 128), (1, 4, 256, 128), True, False), fake.calls["sdpa_shapes"])

    def test_resume_skips_measured_shapes(self):
        with tempfile.TemporaryDirectory() as d:
            argv = ["--out", d, "--ops", "gemm", "--models", "llama-3.1-8b", "--tp", "8", "--dtypes", "bf16"]
            rc, _ = run_fake(FakeTorch(), *argv, "--m", "1,2")
            self.assertEqual(rc, 0)
            fake = FakeTorch()
            rc, err = run_fake(fake, *argv, "--m", "1,2,4", "--resume")
            self.assertEqual(rc, 0, err)
            rows = read_rows(Path(d) / "gemm_perf.torch-2.6.0_fake.csv")
            self.assertEqual(len(rows), 15)
            self.assertEqual(len(set((r["m"], r["n"], r["k"]) for r in rows)), 15)
            self.assertEqual(fake.calls["matmul_m"], {4})  # only the new m was measured

    def test_resume_skips_measured_decode_shapes(self):
        with tempfile.TemporaryDirectory() as d:
            argv = ["--out", d, "--ops", "generation_attention", "--quick", "--models", "llama-3.1-8b", "--tp", "8"]
            rc, err = run_fake(FakeTorch(), *argv)
            self.assertEqual(rc, 0, err)
            fake = FakeTorch()
            rc, err = run_fake(fake, *argv, "--resume")
            self.assertEqual(rc, 0, err)
            self.assertNotIn("sdpa_shapes", fake.calls)  # every shape was found under its cached step
            rows = read_rows(Path(d) / "generation_attention_perf.torch-2.6.0_fake.csv")
            self.assertTrue(rows and all(int(r["step"]) % 2 == 1 for r in rows))

    def test_resume_refuses_rows_measured_another_way(self):
        with tempfile.TemporaryDirectory() as d:
            argv = ["--out", d, "--models", "llama-3.1-8b", "--tp", "8", "--m", "1,2", "--quick"]
            self.assertEqual(run_fake(FakeTorch(), *argv)[0], 0)
            settings = json.loads((Path(d) / collect.SETTINGS_NAME).read_text())
            self.assertEqual(settings["gemm_perf.torch-2.6.0_fake.csv"]["flush_method"], "read")
            self.assertEqual(settings["context_attention_perf.torch-2.6.0_fake.csv"]["attn_backend"], "flash")
            cases = ((("--fp8-cast-input",), "fp8_cast_input False"), (("--flush", "never"), "flush 'small'"),
                     (("--attn-backend", "auto"), "attn_backend 'flash'"))
            for flags, what in cases:
                fake = FakeTorch()
                rc, err = run_fake(fake, *argv, "--resume", *flags)
                self.assertEqual(rc, 2, err)
                self.assertIn(what, err)
                self.assertNotIn("matmul", fake.calls)
            # a setting of one family does not hold up another
            rc, err = run_fake(FakeTorch(), *argv, "--ops", "attention", "--resume", "--fp8-cast-input")
            self.assertEqual(rc, 0, err)
            # CSVs from before the record: their rows were timed after a zeroing flush
            (Path(d) / collect.SETTINGS_NAME).unlink()
            rc, err = run_fake(FakeTorch(), *argv, "--resume")
            self.assertEqual(rc, 2)
            self.assertIn("no record in microbench-settings.json", err)
            (Path(d) / collect.SETTINGS_NAME).write_text("[1, 2]")
            rc, err = run_fake(FakeTorch(), *argv, "--resume")
            self.assertEqual(rc, 2)
            self.assertIn("expected {csv file name", err)
            # a fresh run replaces what it overwrites
            self.assertEqual(run_fake(FakeTorch(), *argv)[0], 0)
            self.assertEqual(run_fake(FakeTorch(), *argv, "--resume")[0], 0)

    def test_resume_measures_a_torn_last_row_again(self):
        with tempfile.TemporaryDirectory() as d:
            argv = ["--out", d, "--ops", "generation_attention", "--quick", "--models", "llama-3.1-8b", "--tp", "8"]
            self.assertEqual(run_fake(FakeTorch(), *argv)[0], 0)
            path = Path(d) / "generation_attention_perf.torch-2.6.0_fake.csv"
            lines = path.read_text().splitlines(keepends=True)
            # cut inside the step of the last row (e.g. 65535 -> 6): no latency, so not done
            last = lines[-1]
            cut = last[: last.rindex(",", 0, last.rindex(",")) + 2]
            path.write_text("".join(lines[:-1]) + cut)
            fake = FakeTorch()
            rc, err = run_fake(fake, *argv, "--resume")
            self.assertEqual(rc, 0, err)
            self.assertEqual(len(set(fake.calls["sdpa_shapes"])), 1)  # only the torn row's shape

    def test_resume_refuses_decode_rows_of_the_old_step_meaning(self):
        with tempfile.TemporaryDirectory() as d:
            argv = ["--out", d, "--ops", "generation_attention", "--quick", "--models", "llama-3.1-8b", "--tp", "8"]
            self.assertEqual(run_fake(FakeTorch(), *argv)[0], 0)
            path = Path(d) / "generation_attention_perf.torch-2.6.0_fake.csv"
            row = "torch,2.6.0+fake,NVIDIA Fake H100,generation_attention,torch,1,1,4,1,128,0,1,bfloat16,bfloat16,256,0.01"
            path.write_text(f"{AICONF_ATTN_HEADER}\n{row}\n")
            rc, err = run_fake(FakeTorch(), *argv, "--resume")
            self.assertEqual(rc, 2)
            self.assertIn(f"{path}:2: --resume: step 256 is a K/V length", err)


class CommandLine(unittest.TestCase):
    """collect.py as a program, with a `torch` on the path that fails when imported."""

    def run_cli(self, *argv: str) -> subprocess.CompletedProcess:
        with tempfile.TemporaryDirectory() as d:
            poison = Path(d) / "torch"
            poison.mkdir()
            (poison / "__init__.py").write_text("raise ImportError('torch must not be imported here')\n")
            env = {**os.environ, "PYTHONPATH": d, "PYTHONDONTWRITEBYTECODE": "1"}
            return subprocess.run([sys.executable, str(HERE / "collect.py"), *argv], capture_output=True, text=True,
                                  env=env, timeout=120)  # fmt: skip

    def test_list_shapes_without_torch(self):
        p = self.run_cli("--list-shapes")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("gemm dtype=bfloat16 m=1 n=2560 k=8192", p.stdout)
        self.assertIn("gemm dtype=fp8 m=32768 n=2560 k=8192", p.stdout)
        self.assertIn("#   n=2560 k=8192: Llama-3.1-70B tp4 qkv", p.stdout)
        self.assertIn("context_attention batch=1 isl=4096 heads=16 kv_heads=2 head_dim=128", p.stdout)
        self.assertIn("generation_attention batch=64 step=8191 heads=16 kv_heads=2 head_dim=128", p.stdout)
        self.assertRegex(p.stdout.splitlines()[1], r"^# estimated GPU time on one H100 SXM: \d+")

    def test_list_shapes_quick(self):
        p = self.run_cli("--list-shapes", "--quick")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("(--quick)", p.stdout.splitlines()[0])
        self.assertIn("m=16384 n=2560 k=8192", p.stdout)

    def test_help_without_torch(self):
        p = self.run_cli("--help")
        self.assertEqual(p.returncode, 0, p.stderr)
        for flag in ("--out", "--ops", "--quick", "--list-shapes", "--device", "--model-config"):
            self.assertIn(flag, p.stdout)

    def test_measuring_without_torch_says_so(self):
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "data"
            p = self.run_cli("--out", str(out), "--quick")
            self.assertEqual(p.returncode, 2)
            self.assertIn("PyTorch is not installed", p.stderr)
            self.assertFalse(out.exists())

    def test_bad_flag_exit_2(self):
        p = self.run_cli("--list-shapes", "--models", "gpt-5")
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown model 'gpt-5'", p.stderr)


FAKE_NCCL_TEST = """#!/usr/bin/env bash
# a stand-in for an nccl-tests binary: prints its arguments and a table in nccl-tests' format
echo "# nThread 1 nGpus $8 minBytes 8 maxBytes 8589934592 step: 2(factor) warmup iters: 5 iters: 20"
echo "#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong"
echo "           8             2     float     sum      -1    15.60    0.00    0.00      0    15.50    0.00    0.00      0"
echo "# args: $*"
if [[ $(basename "$0") == sendrecv_perf && $8 == 4 ]]; then echo "fake failure" >&2; exit 3; fi
echo "# Avg bus bandwidth    : 1.234"
"""

FAKE_NVIDIA_SMI = """#!/usr/bin/env bash
if [[ $1 == -L ]]; then for i in 0 1 2 3; do echo "GPU $i: NVIDIA H100 80GB HBM3 (UUID: GPU-$i)"; done; exit 0; fi
echo "nvidia-smi $*"
"""


@unittest.skipUnless(Path("/bin/bash").exists() or Path("/usr/bin/bash").exists(), "needs bash")
class NcclScript(unittest.TestCase):
    def test_syntax(self):
        p = subprocess.run(["bash", "-n", str(HERE / "nccl.sh")], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_runs_and_names_logs(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            bin_dir, tests_dir, out = d / "bin", d / "build", d / "out"
            bin_dir.mkdir()
            tests_dir.mkdir()
            (bin_dir / "nvidia-smi").write_text(FAKE_NVIDIA_SMI)
            (bin_dir / "nvidia-smi").chmod(0o755)
            for t in ("all_reduce_perf", "all_gather_perf", "sendrecv_perf"):
                (tests_dir / t).write_text(FAKE_NCCL_TEST)
                (tests_dir / t).chmod(0o755)
            env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
            env.update(PATH=f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}", NCCL_TESTS_BIN=str(tests_dir))
            p = subprocess.run(["bash", str(HERE / "nccl.sh"), str(out)], capture_output=True, text=True, env=env,
                               timeout=60)  # fmt: skip
            self.assertEqual(p.returncode, 1, p.stderr)  # the one failing run is reported
            self.assertIn("skipping 8 GPUs: only 4 visible", p.stderr)
            logs = sorted(f.name for f in (out / "nccl-tests").iterdir())
            self.assertEqual(logs, [
                "all_gather_perf.1node.2gpu.log", "all_gather_perf.1node.4gpu.log",
                "all_reduce_perf.1node.2gpu.log", "all_reduce_perf.1node.4gpu.log",
                "sendrecv_perf.1node.2gpu.log", "sendrecv_perf.1node.4gpu.log.failed",
            ])  # fmt: skip
            text = (out / "nccl-tests" / "all_reduce_perf.1node.4gpu.log").read_text()
            self.assertIn("# args: -b 8 -e 8G -f 2 -g 4", text)
            # Added lines are '#' comments; the nccl-tests output follows unchanged.
            lines = text.splitlines()
            self.assertTrue(all(line.startswith("#") for line in lines[:3]))
            self.assertIn("           8             2     float     sum      -1    15.60", text)

    def test_usage(self):
        p = subprocess.run(["bash", str(HERE / "nccl.sh")], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage", p.stderr)


class KubernetesJob(unittest.TestCase):
    def test_job_manifest(self):
        try:
            import yaml
        except ImportError:
            self.skipTest("PyYAML not installed")
        docs = [d for d in yaml.safe_load_all((HERE / "k8s-job.yaml").read_text()) if d]
        kinds = {d["kind"]: d for d in docs}
        self.assertEqual(set(kinds), {"Job", "PersistentVolumeClaim"})
        job = kinds["Job"]
        self.assertEqual(job["apiVersion"], "batch/v1")
        pod = job["spec"]["template"]["spec"]
        self.assertEqual(pod["restartPolicy"], "Never")
        (c,) = pod["containers"]
        self.assertTrue(c["image"].startswith("nvcr.io/nvidia/pytorch:"))
        self.assertEqual(c["resources"]["limits"]["nvidia.com/gpu"], 8)
        script = c["args"][0]
        self.assertIn("python3 collect.py --out", script)
        self.assertIn('bash nccl.sh "$OUT"', script)
        volumes = {v["name"]: v for v in pod["volumes"]}
        self.assertEqual(volumes["scripts"]["configMap"]["name"], "pdsim-microbench")
        self.assertEqual(volumes["results"]["persistentVolumeClaim"]["claimName"],
                         kinds["PersistentVolumeClaim"]["metadata"]["name"])  # fmt: skip
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        self.assertEqual(mounts["scripts"], c["workingDir"])
        self.assertIn("kubectl create configmap pdsim-microbench --from-file=calibration/microbench/",
                      (HERE / "k8s-job.yaml").read_text())  # fmt: skip


if __name__ == "__main__":
    unittest.main()
