"""CoF-T2I (arXiv 2601.10061): a video model draws a chain of refining frames; the last frame is the image."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ...world.vocab import CLASSES, COLOR_NAMES

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "cof-shapes"


def model_path(model: str | None) -> Path:
    """The CoF model folder to load: `model`, or the shipped one; a clear error if there is none."""
    path = Path(model) if model else SHIPPED
    if not (path / "model_index.json").is_file():
        raise ValueError(
            f"no CoF model at {path}; pass --model DIR (a folder written by `reasongen train cof`)"
            + ("" if model else " (no ShapesWorld CoF model ships yet)")
        )
    return path


class CoFGenerator:
    """`sample geneval --method cof`: one chain per seed; `frame` picks which frame is the image
    (-1: the last, as CoF-T2I decodes; 0 and 1 give F1 and F2 for the per-frame table)."""

    name = "cof"
    classes = CLASSES
    colors = COLOR_NAMES

    def __init__(self, model: str | None = None, frame: int = -1, steps: int | None = None, guidance: float | None = None,
                 size: int | None = None, device: str = "cpu", batch_size: int = 16):  # fmt: skip
        from .pipeline import CoFPipeline

        self.pipe = CoFPipeline.from_pretrained(model_path(model), device=device)
        self.frame, self.steps, self.guidance, self.batch_size = frame, steps, guidance, batch_size
        self.size = size or self.pipe.config["height"]

    def __call__(self, metadata: dict, seeds: Sequence[int]) -> list[np.ndarray]:
        from .pipeline import to_uint8

        out = []
        for i in range(0, len(seeds), self.batch_size):
            chunk = seeds[i : i + self.batch_size]
            gens = [torch.Generator().manual_seed(int(s)) for s in chunk]
            res = self.pipe([metadata["prompt"]] * len(chunk), height=self.size, width=self.size, generator=gens,
                            num_inference_steps=self.steps, guidance_scale=self.guidance, return_chain=self.frame != -1)  # fmt: skip
            images = res.images if self.frame == -1 else [c[self.frame] for c in res.chains]
            out.extend(to_uint8(im) for im in images)
        return out
