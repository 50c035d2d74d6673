"""FoX (arXiv 2503.01298): plan, act, reflect and correct on one FoXperts model (multimodal chain of thought)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...world.vocab import CLASSES, COLOR_NAMES
from .. import model_path

SHIPPED = "fox-shapes"


class FoXGenerator:
    """`sample geneval --method fox`: one chain per seed; `mode` picks the chain of the ablation
    (direct, twice, plan_act or mcot). `many` draws several records together, at most `batch_size`
    chains at once; each chain keeps its own generator, so the images do not depend on the batch."""

    name = "fox"
    classes = CLASSES
    colors = COLOR_NAMES
    records_per_call = 8

    def __init__(self, model: str | None = None, mode: str = "mcot", steps: int | None = None, guidance: float | None = None,
                 size: int | None = None, device: str = "cpu", batch_size: int = 32):  # fmt: skip
        from .pipeline import MODES, FoXPipeline

        if mode not in MODES:
            raise ValueError(f"--mode {mode!r}: choose from {', '.join(MODES)}")
        self.pipe = FoXPipeline.from_pretrained(model_path(model, SHIPPED, "reasongen train fox"), device=device)
        if size is not None and size != self.pipe.config["height"]:
            raise ValueError(f"--size {size}: this model draws {self.pipe.config['height']} px images")
        self.mode, self.steps, self.guidance, self.batch_size = mode, steps, guidance, batch_size
        self.name = f"fox-{mode}"

    def __call__(self, metadata: dict, seeds: Sequence[int]) -> list[np.ndarray]:
        return self.many([(metadata, seeds)])[0]

    def many(self, asks: Sequence[tuple[dict, Sequence[int]]]) -> list[list[np.ndarray]]:
        prompts = [meta["prompt"] for meta, seeds in asks for _ in seeds]
        seeds = [int(s) for _, ss in asks for s in ss]
        images = []
        for i in range(0, len(seeds), self.batch_size):
            traces = self.pipe(prompts[i : i + self.batch_size], seeds[i : i + self.batch_size], mode=self.mode,
                               num_inference_steps=self.steps, guidance_scale=self.guidance)  # fmt: skip
            images += [t.image for t in traces]
        out, start = [], 0
        for _, ss in asks:
            out.append(images[start : start + len(ss)])
            start += len(ss)
        return out
