#!/usr/bin/env python3
"""Compare microbenchmark CSVs shape by shape with a reference set (e.g. aiconfigurator's H100 data).

    python3 compare.py MEASURED_DIR REFERENCE_DIR [--out report.md] [--l2-mib 50]

Both directories hold aiconfigurator-schema CSVs (`gemm_perf.*.csv`, `context_attention_perf.*.csv`,
`generation_attention_perf.*.csv`), as `collect.py` writes them. For every measured file and every
reference file of the same operation, rows are matched on their full shape (GEMM: dtype, m, n, k;
attention: batch, isl, heads, KV heads, head dim, step, dtypes; full attention and beam width 1
only) and the ratio measured/reference is summarised per regime: a ratio above 1 means the measured
kernels are slower. Unmatched rows are counted, not guessed at: no interpolation.

Pure Python (no PyTorch, no GPU): run it wherever the CSVs are. Tests: test_compare.py.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

OPS = ("gemm", "context_attention", "generation_attention")
H100_L2_MIB = 50  # torch.cuda.get_device_properties().L2_cache_size on an H100 SXM: 52,428,800 bytes
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "fp8": 1, "fp8_block": 1, "int8": 1}


class CompareError(Exception):
    """A file that cannot be compared: names the file, line and what was wrong."""


@dataclass(frozen=True)
class Table:
    op: str
    label: str  # framework-version from the file name, e.g. "trtllm-1.3.0rc20"
    rows: dict  # shape key -> latency_ms
    duplicates: int  # rows whose shape an earlier row of the file already had (the first one counts)


def _label(path: Path, op: str) -> str:
    stem = path.name[: -len(".csv")]
    return stem[len(op) + len("_perf.") :] or stem


def _key(op: str, row: dict, path: Path, line: int) -> tuple | None:
    """The shape a row measured, or None for rows outside what is compared."""
    try:
        if op == "gemm":
            return (row["gemm_dtype"], int(row["m"]), int(row["n"]), int(row["k"]))
        if row.get("window_size", "0") not in ("0", "") or row.get("beam_width", "1") not in ("1", ""):
            return None
        return (
            row["attn_dtype"],
            row["kv_cache_dtype"],
            int(row["batch_size"]),
            int(row["isl"]),
            int(row["num_heads"]),
            int(row["num_key_value_heads"]),
            int(row["head_dim"]),
            int(row["step"]),
        )
    except KeyError as e:
        raise CompareError(f"{path}:{line}: no column {e.args[0]!r}") from None
    except (TypeError, ValueError):
        raise CompareError(f"{path}:{line}: a shape column is not an integer") from None


def read_table(path: Path, op: str) -> Table:
    rows: dict = {}
    duplicates = 0
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        try:
            if not reader.fieldnames or "latency" not in reader.fieldnames:
                raise CompareError(f"{path}:1: expected an aiconfigurator {op} header with a latency column")
            for row in reader:
                line = reader.line_num  # where the record ends (a quoted field may span lines)
                if None in row or None in row.values():
                    raise CompareError(f"{path}:{line}: {len(reader.fieldnames)} fields expected, as in the header")
                key = _key(op, row, path, line)
                if key is None:
                    continue
                try:
                    ms = float(row["latency"])
                except (TypeError, ValueError):
                    raise CompareError(f"{path}:{line}: latency {row.get('latency')!r} is not a number") from None
                if not (math.isfinite(ms) and ms > 0):
                    raise CompareError(f"{path}:{line}: latency {ms} ms is not a positive time")
                if key in rows:
                    duplicates += 1
                else:
                    rows[key] = ms
        except csv.Error as e:
            raise CompareError(f"{path}:{reader.line_num}: not readable as CSV: {e}") from None
        except UnicodeDecodeError as e:  # decoded in blocks: no line number to give
            raise CompareError(f"{path}: not UTF-8 text: {e}") from None
    return Table(op, _label(path, op), rows, duplicates)


def read_dir(directory: Path) -> list[Table]:
    if not directory.is_dir():
        raise CompareError(f"{directory}: not a directory")
    tables = [read_table(p, op) for op in OPS for p in sorted(directory.glob(f"{op}_perf.*.csv"))]
    if not tables:
        raise CompareError(f"{directory}: no gemm_perf/context_attention_perf/generation_attention_perf *.csv")
    return tables


def gemm_band(key: tuple, l2_mib: float = H100_L2_MIB) -> tuple[int, str]:
    """(order, label) of a GEMM's regime: small m streams its weight, which L2 can hold or not."""
    dtype, m, n, k = key
    if m <= 256:
        weight = DTYPE_BYTES.get(dtype, 2) * n * k
        fits = weight < l2_mib * 2**20
        return (0, f"m <= 256, weight < L2 ({l2_mib:g} MiB)") if fits else (1, "m <= 256, weight >= L2")
    return (2, "256 < m <= 2048") if m <= 2048 else (3, "m > 2048")


def context_band(key: tuple) -> tuple[int, str]:
    tokens = key[2] * key[3]
    if tokens < 4096:
        return 0, "tokens < 4k"
    return (1, "4k <= tokens < 32k") if tokens < 32768 else (2, "tokens >= 32k")


def generation_band(key: tuple) -> tuple[int, str]:
    kv_dtype, batch, kv_heads, head_dim, step = key[1], key[2], key[5], key[6], key[7]
    kv_bytes = 2 * batch * (step + 1) * kv_heads * head_dim * DTYPE_BYTES.get(kv_dtype, 2)
    if kv_bytes < 8 * 2**20:
        return 0, "KV < 8 MiB"
    return (1, "8 MiB <= KV < 256 MiB") if kv_bytes < 256 * 2**20 else (2, "KV >= 256 MiB")


def band_of(op: str, key: tuple, l2_mib: float = H100_L2_MIB) -> tuple[int, str]:
    if op == "gemm":
        return gemm_band(key, l2_mib)
    return {"context_attention": context_band, "generation_attention": generation_band}[op](key)


def dtype_of(op: str, key: tuple) -> str:
    return key[0] if op == "gemm" else f"KV {key[1]}"


def quantile(sorted_xs: list[float], q: float) -> float:
    """Linear-interpolated quantile of sorted values."""
    pos = q * (len(sorted_xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


@dataclass
class Summary:
    op: str
    measured: str
    reference: str
    dtype: str
    band: str
    n: int
    median: float
    p10: float
    p90: float


def compare(measured: Table, reference: Table, l2_mib: float = H100_L2_MIB) -> tuple[list[Summary], int]:
    """Ratio summaries per (dtype, band), and how many measured rows had no reference match."""
    groups: dict[tuple[str, tuple[int, str]], list[float]] = {}
    unmatched = 0
    for key, ms in measured.rows.items():
        ref_ms = reference.rows.get(key)
        if ref_ms is None:
            unmatched += 1
            continue
        groups.setdefault((dtype_of(measured.op, key), band_of(measured.op, key, l2_mib)), []).append(ms / ref_ms)
    out = []
    for (dtype, (_order, band)), ratios in sorted(groups.items()):
        ratios.sort()
        out.append(Summary(measured.op, measured.label, reference.label, dtype, band, len(ratios),
                           statistics.median(ratios), quantile(ratios, 0.1), quantile(ratios, 0.9)))  # fmt: skip
    return out, unmatched


def report(measured: list[Table], reference: list[Table], l2_mib: float = H100_L2_MIB) -> str:
    lines = [
        "| operation | measured | reference | dtype | regime | shapes | median | p10 | p90 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    notes = [f"- {t.label} {t.op}: {t.duplicates} rows repeat an earlier row's shape; the first one counts"
             for t in measured + reference if t.duplicates]  # fmt: skip
    common_ops = False
    for m in measured:
        for r in (r for r in reference if r.op == m.op):
            common_ops = True
            summaries, unmatched = compare(m, r, l2_mib)
            for s in summaries:
                lines.append(f"| {s.op} | {s.measured} | {s.reference} | {s.dtype} | {s.band} | {s.n} | "
                             f"{s.median:.2f} | {s.p10:.2f} | {s.p90:.2f} |")  # fmt: skip
            notes.append(f"- {m.op} {m.label} vs {r.label}: {len(m.rows) - unmatched} of {len(m.rows)} "
                         f"measured shapes have a reference row")  # fmt: skip
    if not common_ops:
        raise CompareError("no operation is in both directories: nothing to compare")
    if len(lines) == 2:
        raise CompareError("no shape is in both directories: nothing to compare")
    head = ("Ratio measured / reference latency per shape (above 1: the measured kernels are slower), "
            "summarised over the shapes both sides measured.\n\n")  # fmt: skip
    return head + "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("measured", type=Path, help="directory of the CSVs to judge (e.g. collect.py --out)")
    ap.add_argument("reference", type=Path, help="directory of reference CSVs (e.g. aiconfigurator-h100)")
    ap.add_argument("--out", type=Path, help="write the Markdown table here instead of stdout")
    ap.add_argument("--l2-mib", type=float, default=H100_L2_MIB,
                    help=f"L2 cache of the measured GPU in MiB; splits decode-sized GEMMs (default {H100_L2_MIB})")
    args = ap.parse_args(argv)
    if not args.l2_mib > 0:
        ap.error("--l2-mib must be positive")
    try:
        text = report(read_dir(args.measured), read_dir(args.reference), args.l2_mib)
    except (CompareError, OSError, csv.Error) as e:
        print(f"compare.py: {e}", file=sys.stderr)
        return 2
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
