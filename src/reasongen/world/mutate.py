"""Corruptions of a scene that break exactly one thing its prompt asks for.

They prove that the evaluator fails what it must fail, and they are the flawed renders from which
methods that reflect and correct (FoX) learn: each one knows which object it changed.
"""

from __future__ import annotations

import numpy as np

from . import edit
from .scene import Obj, Scene, pick, placements_for
from .vocab import CLASSES, COLOR_NAMES

MUTATIONS = ("wrong_color", "wrong_class", "remove_object", "extra_object", "mirror_position")
# The GenEval tag each mutation must break.
BREAKS = {
    "wrong_color": "colors",
    "wrong_class": "single_object",
    "remove_object": "two_object",
    "extra_object": "counting",
    "mirror_position": "position",
}



def mutate(scene: Scene, metadata: dict, kind: str, rng: np.random.Generator) -> Scene:
    """The scene with one corruption of `kind` applied (scenes are drawn for `metadata`)."""
    wanted = {c["class"] for c in metadata["include"]}
    if kind == "wrong_color":  # recolour one object whose colour the prompt fixes
        colored = [i for i, p in enumerate(placements_for(metadata)) if p.color is not None]
        if not colored:
            raise ValueError(f"wrong_color needs a prompt that names a colour: {metadata['prompt']!r}")
        i = pick(rng, colored)
        return edit.recolour(scene, i, pick(rng, [c for c in COLOR_NAMES if c != scene.objects[i].color]))
    if kind == "wrong_class":  # one object becomes a class the prompt does not ask for
        return edit.replace_class(scene, int(rng.integers(len(scene.objects))), pick(rng, [c for c in CLASSES if c not in wanted]))
    if kind == "remove_object":
        if len(scene.objects) < 2:
            raise ValueError("remove_object needs a scene of two or more objects")
        return edit.remove(scene, int(rng.integers(len(scene.objects))))
    if kind == "extra_object":  # one more of a counted class
        cls = metadata["include"][0]["class"]
        out = edit.add(scene, cls, pick(rng, COLOR_NAMES), rng)
        if out is None:
            raise RuntimeError(f"no room for an extra {cls} in {scene}")
        return out
    if kind == "mirror_position":  # reflect the layout across the axis of the relation
        clause = next((c for c in metadata["include"] if "position" in c), None)
        if clause is None:
            raise ValueError(f"mirror_position needs a position prompt: {metadata['prompt']!r}")
        horizontal = clause["position"][0] in ("left of", "right of")
        return Scene(tuple(
            Obj(o.cls, o.color, (1 - o.box[0] - o.box[2], o.box[1], o.box[2]) if horizontal else (o.box[0], 1 - o.box[1] - o.box[2], o.box[2]))
            for o in scene.objects
        ))  # fmt: skip
    raise ValueError(f"unknown mutation {kind!r}; expected one of {', '.join(MUTATIONS)}")


def inject_flaw(scene: Scene, metadata: dict, rng: np.random.Generator) -> tuple[Scene, str]:
    """One semantic flaw that the prompt would catch, chosen among those that apply."""
    kinds = ["wrong_class"]
    if any(p.color is not None for p in placements_for(metadata)):
        kinds.append("wrong_color")
    if len(scene.objects) >= 2:
        kinds.append("remove_object")
    if metadata.get("exclude"):
        kinds.append("extra_object")
    if any("position" in c for c in metadata["include"]):
        kinds.append("mirror_position")
    kind = kinds[int(rng.integers(len(kinds)))]
    try:
        return mutate(scene, metadata, kind, rng), kind
    except (RuntimeError, ValueError):
        return mutate(scene, metadata, "wrong_class", rng), "wrong_class"
