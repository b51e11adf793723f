#!/usr/bin/env python3
"""Side by side: aiconfigurator's SLA search (`aiconfigurator cli default`) and pdsim on the same
deployments.

For each case below it runs `aiconfigurator cli default` (timed), reads the agg and disagg
configurations it ranks (best_config_topn.csv, ranked by tokens/s/gpu), writes a pdsim scenario for
each of them (scripts/peers/pdsim_scenario.py: the same replicas, TP, batch sizes, a closed loop at
aiconfigurator's concurrency, 20 rounds of requests) and runs `pdsim run --json --timing` (timed).

    AIC=/tmp/aic-venv/bin/aiconfigurator PDSIM=target/release/pdsim \
        python3 scripts/peers/compare_cases.py /tmp/peers/cases     # -> cases.csv, cases.md

Only the Python standard library is needed; aiconfigurator runs as a subprocess.
"""
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name, aiconfigurator model, pdsim preset, weights/kv dtype in pdsim, total GPUs, ISL, OSL, TTFT, TPOT SLA (ms)
CASES = [
    ("qwen32b-bf16-4000x1000", "Qwen/Qwen3-32B", "qwen3-32b", "bf16", "bf16", 8, 4000, 1000, 1000, 50),
    ("qwen32b-bf16-1024x128", "Qwen/Qwen3-32B", "qwen3-32b", "bf16", "bf16", 8, 1024, 128, 1000, 50),
    ("qwen32b-fp8-4000x1000", "Qwen/Qwen3-32B-FP8-Static-PerTensor", "qwen3-32b", "fp8", "fp8", 8, 4000, 1000, 1000, 50),
    ("llama70b-bf16-1155x211", "meta-llama/Meta-Llama-3.1-70B", "llama-3.1-70b", "bf16", "bf16", 16, 1155, 211, 2000, 40),
]
BACKEND = "trtllm"


def aic_default(aic, case, out):
    name, model, _, _, _, gpus, isl, osl, ttft, tpot = case
    cmd = [aic, "cli", "default", "--model-path", model, "--total-gpus", str(gpus), "--system", "h100_sxm",
           "--backend", BACKEND, "--isl", str(isl), "--osl", str(osl), "--ttft", str(ttft), "--tpot", str(tpot),
           "--save-dir", str(out / name / "aic")]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - t
    (out / name / "aic.log").write_text(p.stdout + p.stderr)
    if p.returncode != 0:
        raise SystemExit(f"{name}: aiconfigurator exited {p.returncode}; see {out / name / 'aic.log'}")
    return " ".join(cmd), wall


def topn(out, name, mode):
    files = list((out / name / "aic").glob(f"**/{mode}/best_config_topn.csv"))
    if not files:
        return []
    return list(csv.DictReader(open(files[0], newline="")))


def pdsim_run(pdsim, case, mode, r, out, rank):
    name, _, preset, wd, kd, gpus, isl, osl, _, _ = case
    per_replica = int(r["num_total_gpus"])
    replicas = gpus // per_replica
    conc = int(float(r["concurrency"])) * replicas
    args = [sys.executable, str(HERE / "pdsim_scenario.py"), "--name", f"{name}-{mode}{rank}", "--model", preset,
            "--backend", BACKEND, "--weights-dtype", wd, "--kv-dtype", kd, "--isl", str(isl), "--osl", str(osl),
            "--concurrency", str(conc)]
    if mode == "agg":
        tp = int(r["tp"]) * int(r["pp"])
        args += ["--agg", f"{replicas}x{tp}", "--bs", r["bs"]]
        shape = f"{replicas}x TP{tp}, bs {r['bs']}"
    else:
        ptp, dtp = int(r["(p)tp"]), int(r["(d)tp"])
        pw, dw = int(r["(p)workers"]) * replicas, int(r["(d)workers"]) * replicas
        args += ["--prefill", f"{pw}x{ptp}", "--prefill-bs", r["(p)bs"], "--decode", f"{dw}x{dtp}", "--bs", r["(d)bs"]]
        shape = f"{pw}P TP{ptp} (bs {r['(p)bs']}) + {dw}D TP{dtp} (bs {r['(d)bs']})"
    yaml = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    path = out / name / f"pdsim-{mode}{rank}.yaml"
    path.write_text(yaml)
    t = time.perf_counter()
    p = subprocess.run([pdsim, "run", str(path), "--json", "--timing"], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    s = json.loads(p.stdout)
    (out / name / f"pdsim-{mode}{rank}.json").write_text(p.stdout)
    return {
        "case": name, "mode": mode, "rank": rank, "shape": shape, "gpus": gpus, "concurrency": conc,
        "aic_ttft_ms": float(r["ttft"]), "aic_tpot_ms": float(r["tpot"]),
        "aic_tok_s_gpu": float(r["tokens/s/gpu"]), "aic_tok_s_user": float(r["tokens/s/user"]),
        "pdsim_gpus": s["gpus"], "pdsim_ttft_mean_ms": s["ttft_ms"]["mean"], "pdsim_ttft_p50_ms": s["ttft_ms"]["p50"],
        "pdsim_tpot_mean_ms": s["tpot_ms"]["mean"], "pdsim_tok_s_gpu": s["throughput"]["output_tok_s"] / s["gpus"],
        "pdsim_tok_s_user": 1000.0 / s["tpot_ms"]["mean"], "pdsim_preemptions": s["kv_cache"]["preemptions"],
        "pdsim_completed": s["requests"]["completed"], "pdsim_sim_wall_s": s["sim"]["wall_s"],
        "pdsim_process_wall_s": wall, "pdsim_cmd": f"pdsim run {path} --json --timing",
    }


def main(out):
    out = Path(out)
    aic = os.environ.get("AIC", "/tmp/aic-venv/bin/aiconfigurator")
    pdsim = os.environ.get("PDSIM", "target/release/pdsim")
    rows, walls = [], []
    for case in CASES:
        (out / case[0]).mkdir(parents=True, exist_ok=True)
        cmd, wall = aic_default(aic, case, out)
        walls.append({"case": case[0], "aic_default_wall_s": round(wall, 2), "aic_cmd": cmd})
        print(f"{case[0]}: aiconfigurator default {wall:.1f} s", file=sys.stderr)
        for mode in ("agg", "disagg"):
            for i, r in enumerate(topn(out, case[0], mode), 1):
                rows.append(pdsim_run(pdsim, case, mode, r, out, i))
    with open(out / "cases.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    (out / "aic_walls.json").write_text(json.dumps(walls, indent=1))
    md = ["| case | mode | rank | config | GPUs | conc. | aic TTFT | aic TPOT | aic tok/s/GPU | pdsim TTFT mean / p50 | pdsim TPOT | pdsim tok/s/GPU | pdsim wall |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['case']} | {r['mode']} | {r['rank']} | {r['shape']} | {r['pdsim_gpus']} | {r['concurrency']} | "
                  f"{r['aic_ttft_ms']:.0f} | {r['aic_tpot_ms']:.1f} | {r['aic_tok_s_gpu']:.0f} | "
                  f"{r['pdsim_ttft_mean_ms']:.0f} / {r['pdsim_ttft_p50_ms']:.0f} | {r['pdsim_tpot_mean_ms']:.1f} | "
                  f"{r['pdsim_tok_s_gpu']:.0f} | {r['pdsim_process_wall_s']:.2f} s |")
    md.append("")
    md += [f"- {w['case']}: aiconfigurator default {w['aic_default_wall_s']} s: `{w['aic_cmd']}`" for w in walls]
    (out / "cases.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/peers/cases")
