"""Editing primitives on ShapesWorld scenes: recolour, replace class, add, remove, move.

They are what the world's mutations and CoF-T2I's trajectory construction are built from; reading
a scene back from an image (`eval.shapes_detector.parse_scene`) lets them edit a model's sample.
"""

from __future__ import annotations

import numpy as np

from .scene import MAX_SIDE, MIN_SIDE, Obj, Scene, place


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
