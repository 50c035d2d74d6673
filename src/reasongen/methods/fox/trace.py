"""Writing an MCoT trace for a person to look at: the plan, the layout drawn over the first image, each
reflection's heatmap over the image it judged, and the image before and after each correction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ...locks import write_atomic

SCALE = 4  # ShapesWorld images are 64 px: enlarge them so boxes and heatmaps are readable


def _big(image: np.ndarray) -> Image.Image:
    im = Image.fromarray(image)
    return im.resize((im.width * SCALE, im.height * SCALE), Image.NEAREST)


def layout_overlay(image: np.ndarray, boxes: dict) -> Image.Image:
    im = _big(image)
    draw = ImageDraw.Draw(im)
    for phrase, (x1, y1, x2, y2) in boxes.items():
        w, h = im.size
        draw.rectangle([x1 * w, y1 * h, x2 * w, y2 * h], outline=(255, 255, 0), width=2)
        draw.text((x1 * w + 3, y1 * h + 2), phrase, fill=(255, 255, 0))
    return im


def heatmap_overlay(image: np.ndarray, heatmap: np.ndarray, mask: np.ndarray) -> Image.Image:
    """The heatmap in red over the image, the mask's outline in white."""
    base = image.astype(np.float32)
    red = np.zeros_like(base)
    red[..., 0] = 255
    a = 0.6 * np.clip(heatmap, 0, 1)[..., None]
    out = (1 - a) * base + a * red
    edge = mask & ~(np.roll(mask, 1, 0) & np.roll(mask, -1, 0) & np.roll(mask, 1, 1) & np.roll(mask, -1, 1))
    out[edge] = 255
    return _big(out.round().clip(0, 255).astype(np.uint8))


def save_trace(trace, stem: str | Path) -> list[Path]:
    """Write STEM-trace.json and the pictures beside it; returns the paths written."""
    stem = Path(stem)
    written = []

    def put(im: Image.Image, suffix: str) -> None:
        path = stem.with_name(f"{stem.name}-{suffix}.png")
        im.save(path)
        written.append(path)

    info = {
        "prompt": trace.prompt, "mode": trace.mode, "seed": trace.seed, "caption": trace.caption,
        "layout_text": trace.layout_text, "layout": {k: list(v) for k, v in trace.layout.items()},
        "layout_problems": trace.layout_problems, "candidate_scores": trace.candidate_scores,
        "mask_pixels": [int(m.sum()) for m in trace.masks], "corrections": len(trace.images) - 1, "stopped": trace.stopped,
    }  # fmt: skip
    path = stem.with_name(f"{stem.name}-trace.json")
    write_atomic(path, json.dumps(info, indent=1) + "\n")
    written.append(path)
    if trace.layout:
        put(layout_overlay(trace.images[0], trace.layout), "layout")
    for r, (heat, mask) in enumerate(zip(trace.heatmaps, trace.masks)):
        put(heatmap_overlay(trace.images[r], heat, mask), f"heatmap{r + 1}")
    for r, image in enumerate(trace.images):
        put(_big(image), "before" if r == 0 else f"after{r}")
    return written
