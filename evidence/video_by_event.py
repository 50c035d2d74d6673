"""`reasongen eval video` results broken down by the clip's event: the mean of each per-clip score
for every event kind, one row per result file (how the docs say where a narrator misses its anchors).

    python evidence/video_by_event.py out/rd1bp-world.json --key anchor_correct
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def by_event(path: Path, key: str) -> dict[str, tuple[float, int]]:
    rows = json.loads(path.read_text())["clips"]
    if key not in rows[0]:
        raise SystemExit(f"{path} has no per-clip {key!r}; it has {', '.join(k for k in rows[0] if k not in ('index', 'event'))}")
    groups = defaultdict(list)
    for row in rows:
        if row[key] is not None:  # event consistency: a clip whose scene never changes has none
            groups[row["event"]].append(float(row[key]))
    return {event: (float(np.mean(v)), len(v)) for event, v in groups.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results", type=Path, nargs="+")
    ap.add_argument("--key", default="anchor_correct", help="the per-clip score to break down")
    args = ap.parse_args()
    tables = {path.stem: by_event(path, args.key) for path in args.results}
    events = sorted({e for t in tables.values() for e in t})
    print(f"{args.key} by event (clips in brackets)")
    print("| result | " + " | ".join(events) + " |")
    print("| --- " * (len(events) + 1) + "|")
    for name, table in tables.items():
        cells = [f"{table[e][0]:.2f} ({table[e][1]})" if e in table else "" for e in events]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
