"""ShapesWorld scenes: objects in square boxes, a seeded layout sampler, and the scene that a
GenEval-style metadata record asks for.

Geometry is in units of the canvas side (x right, y down), so a scene renders at any size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .relations import relative_position
from .render import extent, render_objects
from .vocab import CLASSES, COLOR_NAMES, MAX_OBJECTS, MAX_PER_CLASS, MAX_SIDE, MIN_GAP, MIN_SIDE

# A position scene holds its relation with room to spare: the normalised offset must pass 0.7,
# where GenEval's rule asks for 0.5, and the shrunk offset must be at least this far.
POSITION_STRENGTH, POSITION_MIN_OFFSET = 0.7, 0.05
MAX_TRIES = 2000


def pick(rng: np.random.Generator, seq):
    """One element of `seq`, uniformly (the one way the world draws a choice, so seeds stay stable)."""
    return seq[int(rng.integers(len(seq)))]


def tight_box(cls: str, box: tuple[float, float, float]) -> tuple[float, float, float, float]:
    """Tight box (x1, y1, x2, y2) of a `cls` drawn in the square `box` (x, y, side), canvas units:
    what a detector sees."""
    x, y, s = box
    ex0, ey0, ex1, ey1 = extent(cls)
    return (x + ex0 * s, y + ey0 * s, x + ex1 * s, y + ey1 * s)


@dataclass(frozen=True)
class Obj:
    cls: str
    color: str
    box: tuple[float, float, float]  # x, y of the top-left corner, side; canvas units

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return tight_box(self.cls, self.box)

    def to_json(self) -> dict:
        return {"class": self.cls, "color": self.color, "box": [round(v, 6) for v in self.box]}

    @classmethod
    def from_json(cls, d: dict) -> "Obj":
        return cls(d["class"], d["color"], tuple(d["box"]))


@dataclass(frozen=True)
class Scene:
    objects: tuple[Obj, ...]

    def render(self, size: int) -> np.ndarray:
        return render_objects(self.objects, size)

    def to_json(self) -> list[dict]:
        return [o.to_json() for o in self.objects]

    @classmethod
    def from_json(cls, items: list[dict]) -> "Scene":
        return cls(tuple(Obj.from_json(d) for d in items))


def boxes_apart(a, b, gap: float = MIN_GAP) -> bool:
    """Two square boxes (x, y, side) are at least `gap` apart along x or along y."""
    ax, ay, asz = a
    bx, by, bsz = b
    return ax + asz + gap <= bx or bx + bsz + gap <= ax or ay + asz + gap <= by or by + bsz + gap <= ay


def relation_holds(a: Obj, b: Obj, relation: str) -> bool:
    """A stands in `relation` to B by GenEval's rule, with room to spare."""
    ab, bb = np.array(a.bbox), np.array(b.bbox)
    if relation not in relative_position(ab, bb):
        return False
    ca, cb = (ab[:2] + ab[2:]) / 2, (bb[:2] + bb[2:]) / 2
    offset = ca - cb
    dims = (ab[2:] - ab[:2]) + (bb[2:] - bb[:2])
    revised = np.maximum(np.abs(offset) - 0.1 * dims, 0)
    axis = 0 if relation in ("left of", "right of") else 1
    return revised[axis] / np.linalg.norm(offset) > POSITION_STRENGTH and revised[axis] >= POSITION_MIN_OFFSET


@dataclass(frozen=True)
class Placement:
    """What one object must be: its class, its colour (None: any), and an optional relation to
    another placement (relation, index into the placement list)."""

    cls: str
    color: str | None = None
    relation: tuple[str, int] | None = None


def sample_scene(placements: list[Placement], rng: np.random.Generator) -> Scene:
    """Sample boxes and free colours for `placements`, with every rule of the world holding."""
    counts = {c: sum(p.cls == c for p in placements) for c in CLASSES}
    if not 1 <= len(placements) <= MAX_OBJECTS or max(counts.values()) > MAX_PER_CLASS:
        raise ValueError(
            f"a ShapesWorld scene holds 1 to {MAX_OBJECTS} objects and at most {MAX_PER_CLASS} of a class; "
            f"asked for {len(placements)} objects ({', '.join(f'{n} {c}' for c, n in counts.items() if n)})"
        )
    colors = [p.color if p.color is not None else COLOR_NAMES[rng.integers(len(COLOR_NAMES))] for p in placements]
    max_side = MAX_SIDE
    for attempt in range(MAX_TRIES):
        if attempt and attempt % 200 == 0:  # crowded scenes: shrink the largest allowed box
            max_side = max(MIN_SIDE, max_side - 0.03)
        objs: list[Obj] = []
        for p, color in zip(placements, colors):
            target = objs[p.relation[1]] if p.relation is not None and p.relation[1] < len(objs) else None
            obj = place(objs, p.cls, color, rng, max_side, None if target is None else (p.relation[0], target))
            if obj is None:
                break
            objs.append(obj)
        if len(objs) == len(placements) and all(
            p.relation is None or relation_holds(objs[i], objs[p.relation[1]], p.relation[0]) for i, p in enumerate(placements)
        ):
            return Scene(tuple(objs))
    raise RuntimeError(f"could not place {placements} after {MAX_TRIES} tries")


def place(
    objs: list[Obj], cls: str, color: str, rng: np.random.Generator, max_side: float = MAX_SIDE,
    relation: tuple[str, Obj] | None = None, tries: int = 50,
) -> Obj | None:
    """A new object at a random box apart from `objs` (and in `relation` to an object), or None."""
    for _ in range(tries):
        side = float(rng.uniform(MIN_SIDE, max_side))
        x, y = (float(v) for v in rng.uniform(0, 1 - side, size=2))
        obj = Obj(cls, color, (x, y, side))
        if all(boxes_apart(obj.box, o.box) for o in objs) and (relation is None or relation_holds(obj, relation[1], relation[0])):
            return obj
    return None


def placements_for(metadata: dict) -> list[Placement]:
    """The objects a GenEval-style record asks for: `count` of each include clause, with its colour;
    a position clause [relation, group] puts each object of the clause in relation to the first
    object of that group (GenEval's position prompts have count 1 on both sides)."""
    placements: list[Placement] = []
    first_of_group: list[int] = []
    for clause in metadata["include"]:
        first_of_group.append(len(placements))
        relation = None
        if "position" in clause:
            rel, group = clause["position"]
            if clause["count"] != 1 or metadata["include"][group]["count"] != 1:
                raise ValueError(f"position clauses relate one object to one object; got {metadata}")
            relation = (rel, first_of_group[group])
        for _ in range(clause["count"]):
            placements.append(Placement(clause["class"], clause.get("color"), relation))
    for clause in metadata.get("exclude", []):
        have = sum(p.cls == clause["class"] for p in placements)
        if have >= clause["count"]:
            raise ValueError(f"metadata includes {have} {clause['class']} but excludes {clause['count']} or more: {metadata}")
    return placements


def scene_for(metadata: dict, rng: np.random.Generator) -> Scene:
    """A scene that satisfies `metadata` with room to spare and holds nothing it excludes."""
    return sample_scene(placements_for(metadata), rng)
