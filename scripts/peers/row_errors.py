#!/usr/bin/env python3
"""Join aiconfigurator's per-row estimates (aic_estimate_rows.py) with pdsim's (`pdsim validate`'s
validation.csv) on the measured rows both tools could simulate, and print the median / p90 absolute
percentage error of mean TTFT and mean TPOT per backend, for all shared rows and for the rows pdsim
did not fit its per-step overhead on (fit_row=false), plus who is closer row by row.

    python3 scripts/peers/row_errors.py /tmp/peers/aic_rows.csv /tmp/val/validation.csv [--md out.md] [--csv joined.csv]
"""
import argparse
import csv
import statistics


def pct(sim, meas):
    return abs(sim / meas - 1.0) * 100.0


def q(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("aic")
    ap.add_argument("pdsim")
    ap.add_argument("--md")
    ap.add_argument("--csv")
    a = ap.parse_args()
    aic = {r["id"]: r for r in csv.DictReader(open(a.aic, newline=""))}
    pd = {r["id"]: r for r in csv.DictReader(open(a.pdsim, newline=""))}
    joined = []
    skipped_aic = [i for i, r in aic.items() if r["error"]]
    for i, p in pd.items():
        r = aic.get(i)
        if not r or r["error"] or not p["simulated_ttft_ms"]:
            continue
        mt, mp = float(p["measured_ttft_ms"]), float(p["measured_tpot_ms"])
        joined.append({
            "id": i, "backend": p["backend"], "version": r["backend_version"], "mode": p["mode"], "isl": p["isl"],
            "osl": p["osl"], "concurrency": p["concurrency"], "tp": p["tp"], "pdsim_fit_row": p["fit_row"],
            "measured_ttft_ms": mt, "aic_ttft_ms": float(r["aic_ttft_ms"]), "pdsim_ttft_ms": float(p["simulated_ttft_ms"]),
            "measured_tpot_ms": mp, "aic_tpot_ms": float(r["aic_tpot_ms"]), "pdsim_tpot_ms": float(p["simulated_tpot_ms"]),
        })
    for j in joined:
        for m in ("ttft", "tpot"):
            j[f"aic_{m}_err_pct"] = pct(j[f"aic_{m}_ms"], j[f"measured_{m}_ms"])
            j[f"pdsim_{m}_err_pct"] = pct(j[f"pdsim_{m}_ms"], j[f"measured_{m}_ms"])
            j[f"aic_{m}_ratio"] = j[f"aic_{m}_ms"] / j[f"measured_{m}_ms"]
            j[f"pdsim_{m}_ratio"] = j[f"pdsim_{m}_ms"] / j[f"measured_{m}_ms"]

    def block(rows, label):
        out = [f"**{label}**", "",
               "| backend | rows | TTFT aic median / p90 | TTFT pdsim median / p90 | TTFT: pdsim closer | "
               "TPOT aic median / p90 | TPOT pdsim median / p90 | TPOT: pdsim closer | aic TTFT sim/meas (median) | pdsim TTFT sim/meas (median) |",
               "|---|---|---|---|---|---|---|---|---|---|"]
        groups = {}
        for j in rows:
            groups.setdefault(j["backend"], []).append(j)
        groups["all"] = rows
        for b in ["trtllm", "vllm", "sglang", "all"]:
            g = groups.get(b, [])
            if not g:
                continue
            def e(tool, m):
                xs = [j[f"{tool}_{m}_err_pct"] for j in g]
                return f"{statistics.median(xs):.1f}% / {q(xs, 0.9):.1f}%"
            closer = {m: sum(j[f"pdsim_{m}_err_pct"] < j[f"aic_{m}_err_pct"] for j in g) for m in ("ttft", "tpot")}
            out.append(f"| {b} | {len(g)} | {e('aic', 'ttft')} | {e('pdsim', 'ttft')} | {closer['ttft']}/{len(g)} | "
                       f"{e('aic', 'tpot')} | {e('pdsim', 'tpot')} | {closer['tpot']}/{len(g)} | "
                       f"{statistics.median(j['aic_ttft_ratio'] for j in g):.2f} | {statistics.median(j['pdsim_ttft_ratio'] for j in g):.2f} |")
        return out + [""]

    def ratios(rows, label, key):
        out = [f"**{label}** (median simulated / measured; 1.00 is exact)", "",
               "| backend | group | rows | TTFT aic | TTFT pdsim | TPOT aic | TPOT pdsim | TTFT err aic / pdsim | TPOT err aic / pdsim |",
               "|---|---|---|---|---|---|---|---|---|"]
        groups = {}
        for j in rows:
            groups.setdefault((j["backend"], key(j)), []).append(j)
        for (b, k), g in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            m = lambda f: statistics.median(j[f] for j in g)
            out.append(f"| {b} | {k} | {len(g)} | {m('aic_ttft_ratio'):.2f} | {m('pdsim_ttft_ratio'):.2f} | "
                       f"{m('aic_tpot_ratio'):.2f} | {m('pdsim_tpot_ratio'):.2f} | "
                       f"{m('aic_ttft_err_pct'):.0f}% / {m('pdsim_ttft_err_pct'):.0f}% | {m('aic_tpot_err_pct'):.0f}% / {m('pdsim_tpot_err_pct'):.0f}% |")
        return out + [""]

    def cbucket(j):
        c = int(j["concurrency"])
        return "c<=16" if c <= 16 else ("c32-64" if c <= 64 else "c>=128")

    md = block(joined, f"All {len(joined)} measured rows both tools simulated")
    md += block([j for j in joined if j["pdsim_fit_row"] == "false"],
                "Rows pdsim did not fit its per-step overhead on (fit_row=false)")
    md += ratios(joined, "By prompt length", lambda j: f"ISL {int(j['isl']):04d}")
    md += ratios(joined, "By client concurrency", cbucket)
    if skipped_aic:
        md.append(f"aiconfigurator could not estimate {len(skipped_aic)} rows: " +
                  "; ".join(f"`{i}`: {aic[i]['error'][:120]}" for i in skipped_aic))
    text = "\n".join(md)
    print(text)
    if a.md:
        open(a.md, "w").write(text + "\n")
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(joined[0].keys()))
            w.writeheader()
            w.writerows(joined)


if __name__ == "__main__":
    main()
