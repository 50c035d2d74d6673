"""T2I-R1 (arXiv 2505.00703): a semantic CoT, then image tokens, both trained with BiCoT-GRPO."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...world.vocab import CLASSES, COLOR_NAMES
from .. import model_path

SHIPPED = "bicot-shapes"


class BiCoTGenerator:
    """`sample geneval --method bicot`: one CoT and one image per seed (`cot=False`: the direct baseline)."""

    classes = CLASSES
    colors = COLOR_NAMES

    def __init__(self, model: str | None = None, cot: bool | None = None, guidance: float | None = None,
                 size: int | None = None, device: str = "cpu"):  # fmt: skip
        from .pipeline import BiCoTPipeline

        self.pipe = BiCoTPipeline.from_pretrained(model_path(model, SHIPPED, "reasongen train bicot"), device=device)
        if size is not None and size != self.pipe.janus.image_size:
            raise ValueError(f"--size {size}: this model draws {self.pipe.janus.image_size} px images")
        self.cot, self.guidance = cot, guidance
        self.name = "bicot" if cot is not False else "bicot-direct"

    records_per_call = 8  # `many`: 8 records of 4 seeds make a batch of 32, as a GRPO rollout

    def __call__(self, metadata: dict, seeds: Sequence[int]) -> list[np.ndarray]:
        return self.many([(metadata, seeds)])[0]

    def many(self, asks: Sequence[tuple[dict, Sequence[int]]]) -> list[list[np.ndarray]]:
        """Several records in one batch; each sample draws from its own seed, so none depends on the batch."""
        prompts = [meta["prompt"] for meta, seeds in asks for _ in seeds]
        outs = self.pipe(prompts, [int(s) for _, seeds in asks for s in seeds], use_cot=self.cot, guidance_scale=self.guidance)
        images, k = [], 0
        for _, seeds in asks:
            images.append([o.image for o in outs[k : k + len(seeds)]])
            k += len(seeds)
        return images
