"""The ShapesWorld oracle: renders the ground-truth scene that a metadata record asks for.

It is the ceiling every method is measured against, and the check that the evaluator is exact.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..world.scene import scene_for
from ..world.vocab import CLASSES, COLOR_NAMES


class OracleGenerator:
    name = "oracle"
    classes = CLASSES
    colors = COLOR_NAMES

    def __init__(self, size: int = 64):
        if size < 32:
            raise ValueError(f"canvas size {size} is too small; use 32 px or more (64, 128 or 256)")
        self.size = size

    def __call__(self, metadata: dict, seeds: Sequence[int]) -> list[np.ndarray]:
        return [scene_for(metadata, np.random.default_rng(s)).render(self.size) for s in seeds]
