"""A markdown table of training losses from runs' `log.jsonl`: for each run and each mark, the mean of
the logged records over the last `--window` steps up to the mark (each record is already the mean of
its `log_every` steps). For the docs' training tables; a mark past a run's end leaves that row out,
and says so.

    python benchmarks/train_log_table.py runs/mcot-functional runs/mcot-dense \
        --keys act_flow plan_lm reflect_bce correct_flow --marks 100 500 1000 2000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--keys", nargs="+", required=True)
    ap.add_argument("--marks", nargs="+", type=int, required=True)
    ap.add_argument("--window", type=int, default=30)
    args = ap.parse_args()
    print("| run | step | " + " | ".join(args.keys) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in args.keys) + " |")
    for run in args.runs:
        rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
        last = max(r["step"] for r in rows)
        for mark in args.marks:
            if mark > last:  # runs of different lengths in one table
                print(f"{run}: step {mark:,} is past the run's last record ({last:,}); row left out", file=sys.stderr)
                continue
            window = [r for r in rows if mark - args.window < r["step"] <= mark]
            if not window:
                raise SystemExit(f"{run}: no records between steps {mark - args.window} and {mark}")
            cells = []
            for key in args.keys:
                values = [r[key] for r in window if key in r]
                cells.append(f"{np.mean(values):.3f}" if values else "")
            print(f"| {run.name} | {mark:,} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
