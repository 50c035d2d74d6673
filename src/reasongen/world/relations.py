"""GenEval's rule for where one object is relative to another (left of, right of, above, below).

It lives with the world because the world relies on it: a scene made for a position prompt
satisfies it with room to spare (`scene.relation_holds`). The evaluator (`eval.geneval`) applies the
same function, so the two never disagree.
"""

from __future__ import annotations

import numpy as np

POSITION_THRESHOLD = 0.1  # GenEval's margin: a tenth of the two objects' summed sizes


def relative_position(box_a, box_b, position_threshold: float = POSITION_THRESHOLD) -> set[str]:
    """Relations of box A relative to box B (image coordinates, y down), GenEval's rule:
    centre offset shrunk by a margin of `position_threshold` times the summed sizes, normalised by
    the unshrunk centre distance, then compared with +-0.5."""
    boxes = np.array([box_a[:4], box_b[:4]], dtype=np.float64).reshape(2, 2, 2)
    center_a, center_b = boxes.mean(axis=-2)
    dim_a, dim_b = np.abs(np.diff(boxes, axis=-2))[..., 0, :]
    offset = center_a - center_b
    revised = np.maximum(np.abs(offset) - position_threshold * (dim_a + dim_b), 0) * np.sign(offset)
    if np.all(np.abs(revised) < 1e-3):
        return set()
    dx, dy = revised / np.linalg.norm(offset)
    relations = set()
    if dx < -0.5:
        relations.add("left of")
    if dx > 0.5:
        relations.add("right of")
    if dy < -0.5:
        relations.add("above")
    if dy > 0.5:
        relations.add("below")
    return relations
