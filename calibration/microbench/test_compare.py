"""Tests for compare.py (pure Python: no GPU, no PyTorch).

Run: cd calibration/microbench && python3 -m unittest -v
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import compare  # noqa: E402

MEASURED_H100 = HERE.parent / "data" / "h100-sxm-torch"
CHECKS = HERE.parent / "data" / "h100-sxm-torch-checks"
DATA_DIR = Path(os.environ.get("PDSIM_CALIBRATION_DATA", HERE.parents[2] / "shared" / "calibration-data"))
AICONF = DATA_DIR / "aiconfigurator-h100"

GEMM_HEADER = "framework,version,device,op_name,kernel_source,gemm_dtype,m,n,k,latency\n"
ATTN_HEADER = ("framework,version,device,op_name,kernel_source,batch_size,isl,num_heads,num_key_value_heads,head_dim,"
               "window_size,beam_width,attn_dtype,kv_cache_dtype,step,latency\n")  # fmt: skip


def gemm_rows(rows: list[tuple[str, int, int, int, float]]) -> str:
    return GEMM_HEADER + "".join(f"x,1,H100,gemm,x,{d},{m},{n},{k},{ms}\n" for d, m, n, k, ms in rows)


def gen_row(batch: int, step: int, ms: float, window: int = 0, beam: int = 1, kv: str = "bfloat16") -> str:
    return f"x,1,H100,generation_attention,x,{batch},1,8,1,128,{window},{beam},bfloat16,{kv},{step},{ms}\n"


def write(d: Path, name: str, text: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(text)
    return d / name


def run_main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = compare.main(list(argv))
    return rc, out.getvalue(), err.getvalue()


class Matching(unittest.TestCase):
    def test_gemm_ratios_per_dtype_and_regime(self):
        with tempfile.TemporaryDirectory() as t:
            mine, ref = Path(t) / "mine", Path(t) / "ref"
            # three small-m shapes 1.2x, 1.4x, 1.6x slower; one large-m shape equal; one shape unmatched
            write(mine, "gemm_perf.torch-1.csv", gemm_rows([
                ("bfloat16", 1, 1024, 1024, 0.012), ("bfloat16", 8, 1024, 1024, 0.014),
                ("bfloat16", 64, 1024, 1024, 0.016), ("bfloat16", 4096, 1024, 1024, 0.5),
                ("bfloat16", 2, 1024, 1024, 0.01)]))  # fmt: skip
            write(ref, "gemm_perf.trtllm-9.csv", gemm_rows([
                ("bfloat16", 1, 1024, 1024, 0.01), ("bfloat16", 8, 1024, 1024, 0.01),
                ("bfloat16", 64, 1024, 1024, 0.01), ("bfloat16", 4096, 1024, 1024, 0.5),
                ("fp8", 1, 1024, 1024, 0.01)]))  # fmt: skip
            [m], [r] = compare.read_dir(mine), compare.read_dir(ref)
            self.assertEqual((m.label, r.label), ("torch-1", "trtllm-9"))
            summaries, unmatched = compare.compare(m, r)
            self.assertEqual(unmatched, 1)
            by_band = {s.band: s for s in summaries}
            small = by_band["m <= 256, weight < L2 (50 MiB)"]
            self.assertEqual((small.dtype, small.n), ("bfloat16", 3))
            self.assertAlmostEqual(small.median, 1.4)
            self.assertAlmostEqual(small.p10, 1.24)  # linear interpolation between 1.2 and 1.4
            self.assertAlmostEqual(small.p90, 1.56)
            self.assertAlmostEqual(by_band["m > 2048"].median, 1.0)
            text = compare.report([m], [r])
            row = "| gemm | torch-1 | trtllm-9 | bfloat16 | m <= 256, weight < L2 (50 MiB) | 3 | 1.40 | 1.24 | 1.56 |"
            self.assertIn(row, text)
            self.assertIn("4 of 5 measured shapes have a reference row", text)

    def test_weight_size_splits_the_memory_bound_regime(self):
        band = compare.gemm_band
        self.assertEqual(band(("bfloat16", 16, 2560, 5120))[1], "m <= 256, weight < L2 (50 MiB)")  # 25 MiB
        self.assertEqual(band(("bfloat16", 16, 5120, 5120))[1], "m <= 256, weight >= L2")  # 50 MiB
        self.assertEqual(band(("fp8", 16, 5120, 5120))[1], "m <= 256, weight < L2 (50 MiB)")  # 25 MiB in fp8
        self.assertEqual(band(("fp8", 16, 5120, 5120), l2_mib=20)[1], "m <= 256, weight >= L2")
        self.assertEqual(band(("bfloat16", 257, 1, 1)), (2, "256 < m <= 2048"))

    def test_decode_rows_match_on_cached_step_and_skip_windows_and_beams(self):
        with tempfile.TemporaryDirectory() as t:
            mine, ref = Path(t) / "mine", Path(t) / "ref"
            write(mine, "generation_attention_perf.torch-1.csv", ATTN_HEADER + gen_row(16, 1023, 0.02)
                  + gen_row(16, 1024, 0.05))  # fmt: skip
            write(ref, "generation_attention_perf.trtllm-9.csv", ATTN_HEADER + gen_row(16, 1023, 0.01)
                  + gen_row(16, 1024, 0.01, window=128) + gen_row(16, 1024, 0.01, beam=2)
                  + gen_row(16, 1024, 0.01, kv="fp8"))  # fmt: skip
            [m], [r] = compare.read_dir(mine), compare.read_dir(ref)
            self.assertEqual(len(r.rows), 2)  # the window and beam rows are not comparable shapes
            summaries, unmatched = compare.compare(m, r)
            self.assertEqual(unmatched, 1)  # a bf16-KV step 1024 row has no reference
            [s] = summaries
            self.assertEqual((s.dtype, s.n, s.median), ("KV bfloat16", 1, 2.0))
            # 16 sequences x (1023 cached + 1 new) K/V tokens x 1 KV head x 128 x 2 (K, V) x 2 bytes = 8 MiB
            self.assertEqual(s.band, "8 MiB <= KV < 256 MiB")


class Errors(unittest.TestCase):
    def check_error(self, text: str, *needles: str):
        with tempfile.TemporaryDirectory() as t:
            d = Path(t)
            write(d, "gemm_perf.bad.csv", text)
            write(d / "ref", "gemm_perf.ref.csv", gemm_rows([("bfloat16", 1, 2, 3, 0.1)]))
            rc, out, err = run_main(str(d), str(d / "ref"))
            self.assertEqual((rc, out), (2, ""))
            for n in needles:
                self.assertIn(n, err)

    def test_bad_rows_name_file_and_line(self):
        self.check_error(gemm_rows([("bfloat16", 1, 2, 3, 0.1), ("bfloat16", 1, 2, 4, 0)]), "gemm_perf.bad.csv:3",
                         "not a positive time")  # fmt: skip
        self.check_error(gemm_rows([("bfloat16", 1, 2, 3, "nan")]), "gemm_perf.bad.csv:2")
        self.check_error(gemm_rows([("bfloat16", "x", 2, 3, 0.1)]), "gemm_perf.bad.csv:2", "not an integer")
        self.check_error("framework,gemm_dtype,m,n,latency\nx,bfloat16,1,2,0.1\n", "gemm_perf.bad.csv:2", "'k'")
        self.check_error("m,n,k\n1,2,3\n", "gemm_perf.bad.csv:1", "latency")
        self.check_error(gemm_rows([("bfloat16", 1, 2, 3, "0.1,9")]), "gemm_perf.bad.csv:2", "10 fields expected")
        self.check_error(GEMM_HEADER + "x,1,H100,gemm,x,bfloat16,1,2\n", "gemm_perf.bad.csv:2", "10 fields expected")

    def test_duplicates_are_counted_and_the_first_row_counts(self):
        with tempfile.TemporaryDirectory() as t:
            d = Path(t)
            write(d / "a", "gemm_perf.a.csv", gemm_rows([("bfloat16", 1, 2, 3, 0.2), ("bfloat16", 1, 2, 3, 0.9)]))
            write(d / "b", "gemm_perf.b.csv", gemm_rows([("bfloat16", 1, 2, 3, 0.1)]))
            rc, out, _ = run_main(str(d / "a"), str(d / "b"))
            self.assertEqual(rc, 0)
            self.assertIn("| 1 | 2.00 | 2.00 | 2.00 |", out)
            self.assertIn("- a gemm: 1 rows repeat an earlier row's shape; the first one counts", out)

    def test_unreadable_csv_names_the_file(self):
        with tempfile.TemporaryDirectory() as t:
            d = Path(t)
            (d / "a").mkdir()
            (d / "a" / "gemm_perf.a.csv").write_bytes(GEMM_HEADER.encode() + b"x,1,H,gemm,x,bfloat16,1,2,3,\xff\xfe\n")
            write(d / "b", "gemm_perf.b.csv", gemm_rows([("bfloat16", 1, 2, 3, 0.1)]))
            rc, _, err = run_main(str(d / "a"), str(d / "b"))
            self.assertEqual(rc, 2)
            self.assertIn("gemm_perf.a.csv: not UTF-8 text", err)

    def test_nothing_to_compare(self):
        with tempfile.TemporaryDirectory() as t:
            d = Path(t)
            rc, _, err = run_main(str(d), str(d))
            self.assertEqual(rc, 2)
            self.assertIn("no gemm_perf", err)
            write(d / "a", "gemm_perf.a.csv", gemm_rows([("bfloat16", 1, 2, 3, 0.1)]))
            write(d / "b", "generation_attention_perf.b.csv", ATTN_HEADER + gen_row(1, 15, 0.01))
            rc, _, err = run_main(str(d / "a"), str(d / "b"))
            self.assertEqual(rc, 2)
            self.assertIn("no operation is in both directories", err)
            write(d / "c", "gemm_perf.c.csv", gemm_rows([("bfloat16", 7, 2, 3, 0.1)]))
            rc, _, err = run_main(str(d / "a"), str(d / "c"))
            self.assertEqual(rc, 2)
            self.assertIn("no shape is in both directories", err)

    def test_out_file(self):
        with tempfile.TemporaryDirectory() as t:
            d = Path(t)
            write(d / "a", "gemm_perf.a.csv", gemm_rows([("bfloat16", 1, 2, 3, 0.2)]))
            write(d / "b", "gemm_perf.b.csv", gemm_rows([("bfloat16", 1, 2, 3, 0.1)]))
            rc, out, _ = run_main(str(d / "a"), str(d / "b"), "--out", str(d / "r.md"))
            self.assertEqual((rc, out), (0, ""))
            self.assertIn("| 1 | 2.00 | 2.00 | 2.00 |", (d / "r.md").read_text())


class CommittedH100Data(unittest.TestCase):
    """The H100 measurements committed under calibration/data (README there)."""

    @staticmethod
    def gemm(directory: Path) -> compare.Table:
        [g] = [t for t in compare.read_dir(directory) if t.op == "gemm"]
        return g

    def medians(self, measured: Path, reference: compare.Table) -> dict[tuple[str, str], float]:
        return {(s.dtype, s.band): s.median for s in compare.compare(self.gemm(measured), reference)[0]}

    def test_repeats_reproduce_the_main_run(self):
        # the check script's read-flush GEMMs against collect.py's, minutes apart on one machine
        summaries, unmatched = compare.compare(self.gemm(CHECKS / "bf16-read-flush"), self.gemm(MEASURED_H100))
        self.assertEqual((unmatched, sum(s.n for s in summaries)), (0, 96))
        for s in summaries:
            self.assertLess(abs(s.median - 1.0), 0.03, s)
        # no flush, two machines
        ref = self.gemm(CHECKS / "bf16-no-flush-other-machine")
        for s in compare.compare(self.gemm(CHECKS / "bf16-no-flush"), ref)[0]:
            self.assertLess(abs(s.median - 1.0), 0.03, s)

    def test_a_zeroing_flush_slows_what_follows(self):
        # the superseded rows, flushed with zero_(): decode-sized GEMMs paid for writing L2 back
        zero = {(s.dtype, s.band): s.median for s in compare.compare(self.gemm(CHECKS / "zero-flush"),
                                                                       self.gemm(MEASURED_H100))[0]}  # fmt: skip
        self.assertGreater(zero[("bfloat16", "m <= 256, weight >= L2")], 1.15)
        self.assertLess(abs(zero[("bfloat16", "m > 2048")] - 1.0), 0.03)

    def test_against_aiconfigurator(self):
        if not AICONF.is_dir():
            self.skipTest(f"{AICONF} is absent (../shared not beside the repo)")
        [trt] = [t for t in compare.read_dir(AICONF) if t.op == "gemm" and t.label.startswith("trtllm")]
        full = self.medians(MEASURED_H100, trt)
        # compute-bound GEMMs and weights L2 cannot hold: the same speed
        self.assertLess(abs(full[("bfloat16", "m > 2048")] - 1.0), 0.05)
        self.assertLess(abs(full[("bfloat16", "m <= 256, weight >= L2")] - 1.0), 0.05)
        # weights L2 can hold: slower with L2 flushed, the same without (aiconfigurator does not flush)
        self.assertGreater(full[("bfloat16", "m <= 256, weight < L2 (50 MiB)")], 1.1)
        warm = self.medians(CHECKS / "bf16-no-flush", trt)
        self.assertLess(abs(warm[("bfloat16", "m <= 256, weight < L2 (50 MiB)")] - 1.0), 0.05)
        # fp8: TensorRT-LLM's fp8 Linear is slower than _scaled_mm, with or without the input cast
        cast = self.medians(CHECKS / "fp8-cast-input", trt)
        small = ("fp8", "m <= 256, weight < L2 (50 MiB)")
        self.assertLess(full[small], cast[small])
        self.assertLess(cast[small], 0.9)


if __name__ == "__main__":
    unittest.main()
