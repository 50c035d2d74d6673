"""FoX's plan: a detailed caption and a layout, as text the model writes and a parser reads back.

The layout is FoX's JSON form, each object phrase mapped to its normalised box as a string,
`{"a red circle": "0.12, 0.30, 0.41, 0.59"}` (x1, y1, x2, y2 in [0, 1], y down). On ShapesWorld the
oracle planner writes both from the scene: the caption names every object with its size, colour,
class and place; the layout gives each object's tight box. Duplicate phrases are told apart as
"a second red circle", "a third ...", so the JSON keys stay unique.

A learned planner can write anything, so `parse_layout` never raises: it repairs what it can (JSON
that does not parse but holds `"phrase": "numbers"` pairs, boxes slightly outside [0, 1], swapped
corners) and rejects the rest, and says why in `problems`, which the pipeline keeps in its trace.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ...world.describe import describe, reading_order
from ...world.scene import Scene
from ...world.vocab import with_article

ORDINALS = ("", "second", "third", "fourth", "fifth", "sixth")
# How far outside [0, 1] a coordinate may be and still be clamped rather than rejected.
CLAMP_SLACK = 0.05


def phrases(scene: Scene) -> list[str]:
    """One unique phrase per object, in reading order."""
    seen: dict[str, int] = {}
    out = []
    for o in reading_order(scene.objects):
        base = f"{o.color} {o.cls}"
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.append(f"a {ORDINALS[n]} {base}" if n else with_article(base))
    return out


def layout(scene: Scene) -> dict[str, tuple[float, float, float, float]]:
    """{phrase: (x1, y1, x2, y2)}: each object's tight box, normalised, in reading order."""
    return {p: tuple(o.bbox) for p, o in zip(phrases(scene), reading_order(scene.objects))}


def layout_text(boxes: dict[str, tuple[float, float, float, float]]) -> str:
    return json.dumps({p: ", ".join(f"{v:.2f}" for v in b) for p, b in boxes.items()})


def plan_text(scene: Scene) -> tuple[str, str]:
    """The oracle's plan of a scene: (caption, layout JSON)."""
    return describe(scene), layout_text(layout(scene))


@dataclass
class ParsedLayout:
    boxes: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # what was repaired or rejected, and why


_PAIR = re.compile(r'"([^"]+)"\s*:\s*"([^"]*)"')
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_layout(text: str) -> ParsedLayout:
    """Boxes from a layout string; repairs and rejections are listed, never raised."""
    out = ParsedLayout()
    try:  # pairs, not a dict: a phrase named twice must be seen, not silently overwritten
        data = json.loads(text, object_pairs_hook=lambda kv: ("object", kv))
        if not (isinstance(data, tuple) and data[0] == "object"):
            raise ValueError("not a JSON object")
        pairs = [(str(k), v if isinstance(v, str) else ", ".join(map(str, v)) if isinstance(v, list) else str(v)) for k, v in data[1]]
    except (ValueError, TypeError) as e:
        pairs = _PAIR.findall(text)
        out.problems.append(f"layout is not valid JSON ({e}); recovered {len(pairs)} phrase-box pair(s) from the text")
    for phrase, value in pairs:
        phrase = phrase.strip()
        nums = [float(v) for v in _NUMBER.findall(value)]
        if len(nums) != 4:
            out.problems.append(f"{phrase!r}: box {value!r} has {len(nums)} numbers, not 4; rejected")
            continue
        if any(v < -CLAMP_SLACK or v > 1 + CLAMP_SLACK for v in nums):
            out.problems.append(f"{phrase!r}: box {value!r} lies outside [0, 1]; rejected")
            continue
        if any(v < 0 or v > 1 for v in nums):
            out.problems.append(f"{phrase!r}: box {value!r} reaches just outside [0, 1]; clamped")
            nums = [min(max(v, 0.0), 1.0) for v in nums]
        x1, y1, x2, y2 = nums
        if x1 > x2 or y1 > y2:
            out.problems.append(f"{phrase!r}: box {value!r} has its corners swapped; reordered")
            x1, x2, y1, y2 = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            out.problems.append(f"{phrase!r}: box {value!r} is empty; rejected")
            continue
        if phrase in out.boxes:
            out.problems.append(f"{phrase!r}: named twice; the later box rejected")
            continue
        out.boxes[phrase] = (x1, y1, x2, y2)
    return out
