"""How often each palette colour is an image's main colour, over the prompts of some tags in a
GenEval output folder: a check on the diversity of what no reward or prompt asks for (e.g. the
colours of colour-free prompts after GRPO, docs/t2i-r1.md).

    python evidence/colour_spread.py out/r-sft-shapes-geneval out/r-both-shapes-geneval

An image's main colour is the palette colour nearest to most of the pixels that differ from the
background (the median colour) by more than 60 in summed RGB.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import numpy as np
from PIL import Image

from reasongen.world.vocab import COLOR_NAMES, COLORS

PALETTE = np.array([COLORS[c] for c in COLOR_NAMES], float)


def main_colour(image: np.ndarray) -> str | None:
    pixels = image.reshape(-1, 3).astype(float)
    fg = pixels[np.abs(pixels - np.median(pixels, 0)).sum(1) > 60]
    if len(fg) < 10:
        return None
    nearest = ((fg[:, None] - PALETTE[None]) ** 2).sum(-1).argmin(1)
    return COLOR_NAMES[np.bincount(nearest, minlength=len(PALETTE)).argmax()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--tags", default="single_object,two_object,counting", help="tags whose prompts name no colour")
    args = ap.parse_args()
    tags = set(args.tags.split(","))
    for root in args.folders:
        counts = collections.Counter()
        for folder in sorted(p for p in Path(root).iterdir() if (p / "metadata.jsonl").is_file()):
            if json.loads((folder / "metadata.jsonl").read_text())["tag"] in tags:
                for png in (folder / "samples").glob("*.png"):
                    counts[main_colour(np.asarray(Image.open(png).convert("RGB"))) or "(none)"] += 1
        total = sum(counts.values())
        print(f"{root}: {total} images; " + ", ".join(f"{c} {n / total:.1%}" for c, n in counts.most_common()))


if __name__ == "__main__":
    main()
