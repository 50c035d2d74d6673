"""Editing primitives on ShapesWorld scenes, and reading a scene back from an image.

The primitives (recolour, replace class, add, remove, move) are what the world's mutations and
CoF-T2I's trajectory construction are built from; `parse_scene` turns any image (a model's sample)
into a scene through the detector, so that the primitives can edit it.
"""

from __future__ import annotations

import numpy as np

from ..eval.geneval import filter_detections
from .render import extent
from .scene import MAX_SIDE, MIN_SIDE, Obj, Scene, place

PARSE_THRESHOLD = 0.3  # GenEval's ordinary confidence cut


def recolour(scene: Scene, i: int, color: str) -> Scene:
    objs = list(scene.objects)
    objs[i] = Obj(objs[i].cls, color, objs[i].box)
    return Scene(tuple(objs))


def replace_class(scene: Scene, i: int, cls: str) -> Scene:
    objs = list(scene.objects)
    objs[i] = Obj(cls, objs[i].color, objs[i].box)
    return Scene(tuple(objs))


def remove(scene: Scene, i: int) -> Scene:
    return Scene(scene.objects[:i] + scene.objects[i + 1 :])


def add(scene: Scene, cls: str, color: str, rng: np.random.Generator, relation: tuple[str, Obj] | None = None) -> Scene | None:
    """The scene with a new object placed apart from the others (None if there is no room)."""
    for max_side in np.linspace(MAX_SIDE, MIN_SIDE, 6):
        obj = place(list(scene.objects), cls, color, rng, float(max_side), relation, tries=100)
        if obj is not None:
            return Scene(scene.objects + (obj,))
    return None


def move(scene: Scene, i: int, rng: np.random.Generator, relation: tuple[str, Obj] | None = None) -> Scene | None:
    """The scene with object i re-placed (optionally in a relation to another object)."""
    others = Scene(scene.objects[:i] + scene.objects[i + 1 :])
    moved = add(others, scene.objects[i].cls, scene.objects[i].color, rng, relation)
    if moved is None:
        return None
    objs = list(others.objects)
    objs.insert(i, moved.objects[-1])
    return Scene(tuple(objs))


def instances(image: np.ndarray, detector, threshold: float = PARSE_THRESHOLD) -> list:
    """One detection per instance: its most confident class hypothesis above `threshold`."""
    best: dict[int, object] = {}
    for dets in filter_detections(detector.detect(image), threshold).values():
        for d in dets:
            key = id(d.mask)  # class hypotheses of one instance share its mask
            if key not in best or d.score > best[key].score:
                best[key] = d
    return list(best.values())


def parse_scene(image: np.ndarray, detector, threshold: float = PARSE_THRESHOLD) -> Scene:
    """The scene an image shows, as the detector reads it: one object per instance (its most
    confident class above `threshold`), its colour, and the square box its class implies."""
    objs = []
    for d in sorted(instances(image, detector, threshold), key=lambda d: (d.box[1], d.box[0])):
        box = implied_box(d.cls, d.box, image.shape[0])
        objs.append(Obj(d.cls, detector.classify_colors(image, [d], d.cls)[0], box))
    return Scene(tuple(objs))


def implied_box(cls: str, pixel_box, size: int) -> tuple[float, float, float]:
    """The square box (x, y, side in canvas units) whose drawn `cls` has the tight `pixel_box`."""
    ex0, ey0, ex1, ey1 = extent(cls)
    x1, y1, x2, y2 = (v / size for v in pixel_box)
    side = ((x2 - x1) / (ex1 - ex0) + (y2 - y1) / (ey1 - ey0)) / 2
    return (x1 - ex0 * side, y1 - ey0 * side, side)
