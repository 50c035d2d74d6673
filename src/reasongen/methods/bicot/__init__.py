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

    def __call__(self, metadata: dict, seeds: Sequence[int]) -> list[np.ndarray]:
        return [o.image for o in self.pipe(metadata["prompt"], [int(s) for s in seeds], use_cot=self.cot, guidance_scale=self.guidance)]
