"""The `Detector` protocol that GenEval's rules run over.

A detector turns an RGB image into a flat list of detections (class, box, score, mask), as
Mask2Former does for GenEval, and names the colour of detected objects, as GenEval's CLIP colour
classifier does. The rules in `geneval.py` are the same code for every detector.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from .geneval import Detection


class Detector(Protocol):
    name: str
    classes: Sequence[str]  # the class names this detector can find; metadata must use them
    colors: Sequence[str]  # the colour names it can tell apart

    def check_size(self, width: int, height: int, where: str) -> None:
        """Raise ValueError naming `where` if this detector cannot read an image of this size.
        Called on every image before scoring starts, from the PNG header alone."""

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All instance hypotheses in `image`, any order, with graded scores in [0, 1]."""

    def classify_colors(self, image: np.ndarray, found: Sequence[Detection], cls: str) -> list[str]:
        """The colour name of each detection in `found`, in order."""


def make_detector(name: str, **options) -> Detector:
    """Build a detector by name: `shapes` (ShapesWorld, no weights) or `mask2former` (GenEval's stack)."""
    if name == "shapes":
        from .shapes_detector import ShapesDetector

        return ShapesDetector(**options)
    if name == "mask2former":
        from .mask2former import Mask2FormerDetector

        return Mask2FormerDetector(**options)
    raise ValueError(f"unknown detector {name!r}; use 'shapes' or 'mask2former'")
