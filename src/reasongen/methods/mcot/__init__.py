"""FoX (arXiv 2503.01298): plan, act, reflect and correct on one FoXperts model (multimodal chain of thought)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...world.vocab import CLASSES, COLOR_NAMES
from .. import model_path

SHIPPED = "mcot-shapes"


class MCoTGenerator:
    """`sample geneval --method mcot`: one chain per seed; `mode` picks the chain of the ablation
    (direct, twice, plan_act or mcot)."""

    name = "mcot"
    classes = CLASSES
    colors = COLOR_NAMES

    def __init__(self, model: str | None = None, mode: str = "mcot", steps: int | None = None, guidance: float | None = None,
                 size: int | None = None, device: str = "cpu", batch_size: int = 16):  # fmt: skip
        from .pipeline import MODES, MCoTPipeline

        if mode not in MODES:
            raise ValueError(f"--mode {mode!r}: choose from {', '.join(MODES)}")
        self.pipe = MCoTPipeline.from_pretrained(model_path(model, SHIPPED, "reasongen train mcot"), device=device)
        if size is not None and size != self.pipe.config["height"]:
            raise ValueError(f"--size {size}: this model draws {self.pipe.config['height']} px images")
        self.mode, self.steps, self.guidance, self.batch_size = mode, steps, guidance, batch_size
        self.name = f"mcot-{mode}"

    def __call__(self, metadata: dict, seeds: Sequence[int]) -> list[np.ndarray]:
        out = []
        for i in range(0, len(seeds), self.batch_size):
            chunk = [int(s) for s in seeds[i : i + self.batch_size]]
            traces = self.pipe(metadata["prompt"], chunk, mode=self.mode, num_inference_steps=self.steps, guidance_scale=self.guidance)
            out += [t.image for t in traces]
        return out
