"""What measured the CSVs beside this file (README.md one level up): is the gap between PyTorch's and
aiconfigurator's GEMM timings L2 warmth (bf16) and the activation's quantization (fp8)? Times the
Qwen3-32B projection GEMMs four ways with collect.py's own timing loop, on one GPU:

    python3 calibration/data/h100-sxm-torch-checks/check_gemm.py OUT.csv

OUT.csv has columns what, m, n, k, latency (ms); `what` names the check directory's way of timing."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "microbench"))
import collect  # noqa: E402
torch = __import__("torch")
args = collect.parse_args(["--flush", "small"])
b = collect.Bench(torch, args, lambda m: print(m, flush=True))
out = open(sys.argv[1], "w")
out.write("what,m,n,k,latency\n")
# the Qwen3-32B projections at TP 1-8, in collect.py's order, without lm_head
NK = [(n, k) for tp in (1, 2, 4, 8) for label, n, k in collect.layer_gemms(collect.PRESETS["qwen3-32b"], tp)
      if label != "lm_head"]
for n, k in NK:
    w = torch.randn(n, k, device=b.dev, dtype=torch.bfloat16)
    wt = w.t()
    w8 = w.to(torch.float8_e4m3fn).t()
    for m in (1, 8, 64, 256, 1024, 4096):
        x = torch.randn(m, k, device=b.dev, dtype=torch.bfloat16)
        flush = b._flush_needed(2 * (m * k + n * k) + 2 * m * n)
        flush8 = b._flush_needed(m * k + n * k + 2 * m * n)
        rows = [
            ("bf16_flush", lambda: torch.matmul(x, wt), flush),
            ("bf16_noflush", lambda: torch.matmul(x, wt), False),
            ("fp8_quant_flush", lambda: b._scaled_mm(x.to(torch.float8_e4m3fn), w8), flush8),
            ("fp8_quant_noflush", lambda: b._scaled_mm(x.to(torch.float8_e4m3fn), w8), False),
        ]
        for what, fn, fl in rows:
            out.write(f"{what},{m},{n},{k},{b.time_ms(fn, fl)!r}\n")
    out.flush()
    del w, wt, w8
print("done")
