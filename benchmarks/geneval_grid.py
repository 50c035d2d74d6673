"""A picture of GenEval output folders side by side: one row per folder, one column per prompt
(its first sample), the prompts named under the grid. For the docs' sample figures.

    python benchmarks/geneval_grid.py out/a out/b --labels A B --prompts 0 85 190 --scale 2 --out docs/img/x.png

With `--per-prompt K` the grid turns: one row per prompt, and each folder's first K samples of it
side by side, one block per folder, white lines between them and no text (the figure's caption in
the docs names the rows and blocks).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

LABEL_WIDTH = 90


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--labels", nargs="+", help="One per folder (default: the folder names).")
    ap.add_argument("--prompts", nargs="+", type=int, required=True, help="Prompt indices (the folders' 00000, 00001, ...).")
    ap.add_argument("--sample", type=int, default=0, help="Which sample of each prompt.")
    ap.add_argument("--per-prompt", type=int, default=0, help="K: one row per prompt, each folder's first K samples.")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    labels = args.labels or [f.name for f in args.folders]
    if len(labels) != len(args.folders):
        raise SystemExit(f"{len(labels)} labels for {len(args.folders)} folders")

    def tile(folder: Path, index: int, sample: int = args.sample) -> np.ndarray:
        path = folder / f"{index:05d}" / "samples" / f"{sample:04d}.png"
        if not path.is_file():
            raise SystemExit(f"{path}: no such sample")
        return np.asarray(Image.open(path).convert("RGB"))

    if args.per_prompt:
        save(per_prompt_grid(tile, args), args.out)
        return
    rows = [np.concatenate([tile(f, i) for i in args.prompts], axis=1) for f in args.folders]
    grid = Image.fromarray(np.concatenate(rows, axis=0))
    grid = grid.resize((grid.width * args.scale, grid.height * args.scale), Image.NEAREST)
    side = grid.height // len(rows)
    prompts = [json.loads((args.folders[0] / f"{i:05d}" / "metadata.jsonl").read_text())["prompt"] for i in args.prompts]
    canvas = Image.new("RGB", (grid.width + LABEL_WIDTH, grid.height + 14 * len(prompts) + 6), "white")
    canvas.paste(grid, (LABEL_WIDTH, 0))
    draw = ImageDraw.Draw(canvas)
    for r, label in enumerate(labels):
        draw.text((4, r * side + side // 2 - 6), label, fill="black")
    for c, prompt in enumerate(prompts):
        draw.text((4, grid.height + 4 + 14 * c), f"{c + 1}: {prompt}", fill="black")
        draw.text((LABEL_WIDTH + c * side + 3, 3), str(c + 1), fill="white")
    save(canvas, args.out)


def per_prompt_grid(tile, args, line: int = 4, block_gap: int = 20) -> Image.Image:
    """Rows of prompts; per folder a block of K samples, each tile followed by a white line."""

    def padded(image: np.ndarray) -> np.ndarray:
        image = np.repeat(np.repeat(image, args.scale, axis=0), args.scale, axis=1)
        return np.pad(image, ((0, line), (0, line), (0, 0)), constant_values=255)

    def block(folder: Path, index: int) -> np.ndarray:
        return np.concatenate([padded(tile(folder, index, k)) for k in range(args.per_prompt)], axis=1)

    def row(index: int) -> np.ndarray:
        blocks = [block(f, index) for f in args.folders]
        gap = np.full((blocks[0].shape[0], block_gap, 3), 255, np.uint8)
        return np.concatenate([part for b in blocks for part in (gap, b)][1:], axis=1)

    return Image.fromarray(np.concatenate([row(i) for i in args.prompts], axis=0))


def save(image: Image.Image, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    print(out)


if __name__ == "__main__":
    main()
