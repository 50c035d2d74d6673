"""Held-out compositions: (colour, class) pairs and class pairs that no training record contains.

About a tenth of each kind is held out (8 of the 80 colour-class pairs, one per class and each with a
different colour; 3 of the 28 unordered class pairs, no class in two of them), so every benchmark
can report how a model does on compositions it has seen against ones it has only seen the parts of.

- A training scene never holds an object of a held-out (colour, class) pair, named in its prompt or
  not (an object whose prompt names no colour could otherwise take one), nor both classes of a
  held-out class pair. `world.dataset.draw_record`, which every training-data builder goes through,
  redraws such a record.
- A benchmark prompt is `unseen` when its clauses name a held-out composition: an include with a
  held-out (colour, class), or includes of both classes of a held-out class pair. Every other prompt
  is `seen` (its compositions can occur in training).

This list is fixed: changing it would let earlier training data leak into the unseen half.
"""

from __future__ import annotations

from typing import Iterable

HELD_OUT_COLOR_CLASS = frozenset({
    ("purple", "circle"), ("orange", "square"), ("pink", "triangle"), ("brown", "star"),
    ("green", "heart"), ("red", "hexagon"), ("white", "diamond"), ("yellow", "cross"),
})  # fmt: skip
HELD_OUT_CLASS_PAIRS = frozenset({
    frozenset({"circle", "star"}), frozenset({"triangle", "hexagon"}), frozenset({"heart", "cross"}),
})  # fmt: skip

SPLITS = ("seen", "unseen")


def _holds(colour_class: Iterable[tuple[str | None, str]]) -> bool:
    pairs = list(colour_class)
    classes = {cls for _, cls in pairs}
    if any((colour, cls) in HELD_OUT_COLOR_CLASS for colour, cls in pairs):
        return True
    return any(pair <= classes for pair in HELD_OUT_CLASS_PAIRS)


def scene_holds_held_out(objects) -> bool:
    """Whether a scene (objects with `.cls` and `.color`) shows a held-out composition."""
    return _holds((o.color, o.cls) for o in objects)


def record_split(metadata: dict) -> str:
    """`unseen` when a GenEval-style record's includes name a held-out composition, else `seen`."""
    return "unseen" if _holds((c.get("color"), c["class"]) for c in metadata.get("include", [])) else "seen"
