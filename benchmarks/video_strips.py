"""A picture of sampled video folders side by side: per case, the benchmark's own clip on the first row,
then that case's strip from each folder written by `reasongen sample video`. For the docs' figures.

    python benchmarks/video_strips.py out/rd1-world out/rd1-first-frame --cases 0 1 4 --out docs/img/x.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from reasongen.methods.reasondiff.bench import read_cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--cases", nargs="+", type=int, required=True, help="Case indices (the folders' NNNN.png).")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    infos = [json.loads((f / "info.json").read_text()) for f in args.folders]
    if len({i["benchmark"] for i in infos}) != 1:
        raise SystemExit(f"the folders sample different benchmarks: {sorted({i['benchmark'] for i in infos})}")
    cases = read_cases(infos[0]["benchmark"])
    rows = []
    for i in args.cases:
        truth = np.concatenate(list(cases[i].clip.render(64)), axis=1)
        rows.append(truth)
        rows += [np.array(Image.open(f / f"{i:04d}.png").convert("RGB")) for f in args.folders]
        print(f"case {i}: {cases[i].text!r}, the image is frame {cases[i].anchor}")
    print("rows per case: truth, " + ", ".join(f"{f} ({info['narrator']})" for f, info in zip(args.folders, infos)))
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
