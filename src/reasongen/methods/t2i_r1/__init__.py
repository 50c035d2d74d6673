"""T2I-R1 (arXiv 2505.00703): a semantic CoT, then image tokens, both trained with BiCoT-GRPO."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...world.vocab import CLASSES, COLOR_NAMES
from .. import model_path

SHIPPED = "t2i-r1-shapes"


class T2IR1Generator:
    """`sample geneval --method t2i-r1`: one CoT and one image per seed (`cot=False`: the direct baseline)."""

    classes = CLASSES
    colors = COLOR_NAMES

    def __init__(self, model: str | None = None, cot: bool | None = None, guidance: float | None = None,
                 size: int | None = None, device: str = "cpu"):  # fmt: skip
        from .pipeline import T2IR1Pipeline

        self.pipe = T2IR1Pipeline.from_pretrained(model_path(model, SHIPPED, "reasongen train t2i-r1"), device=device)
        if size is not None and size != self.pipe.janus.image_size:
            raise ValueError(f"--size {size}: this model draws {self.pipe.janus.image_size} px images")
        self.cot, self.guidance = cot, guidance
        self.name = "t2i-r1" if cot is not False else "t2i-r1-direct"

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


class JanusGenerator(T2IR1Generator):
    """`sample geneval --method janus`: the plain Janus base, image tokens straight from the prompt,
    no semantic plan. Its default model is the pretrained base (`shapes-janus`) once one ships; any
    Janus-style pipeline folder runs this way with --model."""

    def __init__(self, model: str | None = None, guidance: float | None = None, size: int | None = None, device: str = "cpu"):
        super().__init__(model or _shipped_base(), cot=False, guidance=guidance, size=size, device=device)
        self.name = "janus"


def _shipped_base() -> str:
    from .. import SHIPPED_MODELS

    path = SHIPPED_MODELS / "shapes-janus"
    if not (path / "model_index.json").is_file():
        raise ValueError("no shipped Janus base yet (shapes-janus); pass --model DIR, a folder written by `reasongen train t2i-r1 --stage pretrain`")
    return str(path)
