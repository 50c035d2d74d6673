"""Two `reasongen eval video` results over the same cases and seeds, compared case by case: the mean
difference A - B of each per-clip score with its standard error (the paired test the docs quote), and
each side's mean with its standard error.

    python benchmarks/paired_video_rows.py out/rd1b-world.json out/rd1b-first-frame.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

KEYS = ("text_consistency", "event_consistency", "image_at_anchor", "image_best_frame")


def clips(path: Path) -> dict[int, dict]:
    return {row["index"]: row for row in json.loads(path.read_text())["clips"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    args = ap.parse_args()
    a, b = clips(args.a), clips(args.b)
    if set(a) != set(b):
        raise SystemExit(f"{args.a} and {args.b} score different cases ({len(a)} and {len(b)}): compare runs over the same benchmark")
    cases = sorted(a)
    print(f"{args.a.stem} - {args.b.stem}, {len(cases)} cases")
    for key in KEYS:
        if key not in a[cases[0]] or key not in b[cases[0]]:
            print(f"  {key}: not in both (score older results again with `reasongen eval video`)")
            continue
        scored = [i for i in cases if a[i][key] is not None]  # event consistency: clips whose scene changes
        x = np.array([float(a[i][key]) for i in scored])
        y = np.array([float(b[i][key]) for i in scored])
        print(f"  {key}: {(x - y).mean():+.3f} ± {stderr(x - y):.3f} ({x.mean():.3f} ± {stderr(x):.3f} against {y.mean():.3f} ± {stderr(y):.3f}"
              + (f", {len(scored)} clips scored)" if len(scored) < len(cases) else ")"))


def stderr(x: np.ndarray) -> float:
    return float(x.std(ddof=1) / np.sqrt(len(x)))


if __name__ == "__main__":
    main()
