#!/usr/bin/env python3
"""Copy a silicon CSV, giving the rows that record no client concurrency (the 12 ISL/OSL 4000/1000
rows of silicon_h100_qwen3_32b.csv) an ASSUMED `silicon_concurrency`, so `pdsim validate` simulates
them too: batch_size for agg rows, decode_batch_size x decode_num_workers for disagg rows (every
batch slot busy). The measured file does not say what concurrency these rows ran at; results on
these rows are labelled as resting on this assumption.

    python3 scripts/peers/assume_concurrency.py ../shared/validation-dev/silicon_h100_qwen3_32b.csv \
        /tmp/peers/silicon_assumed.csv
"""
import csv
import sys

src, dst = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(src, newline="")))
with open(dst, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
    w.writeheader()
    n = 0
    for r in rows:
        if "silicon_concurrency=" not in r["silicon_data_source"]:
            if r["mode"] == "agg":
                c = int(r["batch_size"])
            else:
                c = int(r["decode_batch_size"]) * int(r["decode_num_workers"])
            r["silicon_data_source"] += f"; silicon_concurrency={c}"
            n += 1
        w.writerow(r)
print(f"assumed a concurrency for {n} rows", file=sys.stderr)
