"""ShapesWorld analogues of T2I-CompBench's categories: prompt sets in the world's own language,
with GenEval-style clauses so that the oracle can draw them and the ShapesWorld detector can score them.

T2I-CompBench (Karine-Huang/T2I-CompBench) tests attribute binding (colour, shape, texture), object
relations (2D / 3D spatial, non-spatial), numeracy and complex compositions. The world has colours,
shapes, positions and counts, so five categories carry over:

| category | prompt | what must bind |
| --- | --- | --- |
| color    | a photo of a {c1} {A} and a {c2} {B}        | each colour to its shape (A != B, c1 != c2) |
| shape    | a photo of a {c} {A} and a {c} {B}          | two shapes of one colour: only the shape tells them apart |
| spatial  | a photo of a {A} {on the left of ...} a {B} | A stands where the relation says (T2I-CompBench's wording) |
| numeracy | a photo of {n} {A(s)} [and {m} {B(s)}]      | how many of each shape (one to four, six objects at most) |
| complex  | a photo of a {c1} {A} {relation} a {c2} {B} | colours and the relation together (CompBench's spatial complex) |

Texture, 3D spatial and non-spatial (actions) have no counterpart in the world. Relations are the
four directional ones: "next to", "near" and "on side of" are left out because a ShapesWorld scene has
no notion of nearness, so its oracle could not be held to them.
"""

from __future__ import annotations

import itertools

import numpy as np

from .vocab import CLASSES, COLOR_NAMES, NUMBER_WORDS, PLURALS, with_article

CATEGORIES = ("color", "shape", "spatial", "numeracy", "complex")
# T2I-CompBench's relation phrases and the GenEval relation each one means (y grows downward).
RELATION_WORDS = {"on the left of": "left of", "on the right of": "right of", "on the top of": "above", "on the bottom of": "below"}
PROMPTS_PER_CATEGORY = 100


def _noun(count: int, cls: str, color: str | None = None) -> str:
    name = f"{color} {cls}" if color else cls
    return with_article(name) if count == 1 else f"{NUMBER_WORDS[count]} {color + ' ' if color else ''}{PLURALS[cls]}"


def _attribute(category, a, c1, b, c2):
    return {"tag": category, "include": [{"class": a, "count": 1, "color": c1}, {"class": b, "count": 1, "color": c2}],
            "prompt": f"a photo of {_noun(1, a, c1)} and {_noun(1, b, c2)}"}  # fmt: skip


def _spatial(category, a, words, b, c1=None, c2=None):
    # GenEval's clause order: the target B first, then A positioned relative to group 0.
    target, mover = {"class": b, "count": 1}, {"class": a, "count": 1, "position": [RELATION_WORDS[words], 0]}
    if c1:
        mover["color"], target["color"] = c1, c2
    return {"tag": category, "include": [target, mover], "prompt": f"a photo of {_noun(1, a, c1)} {words} {_noun(1, b, c2)}"}


def _numeracy(category, counts):
    include = [{"class": cls, "count": n} for cls, n in counts]
    # An exact number: as GenEval's counting tag, one more of the class is excluded.
    exclude = [{"class": cls, "count": n + 1} for cls, n in counts]
    prompt = " and ".join(_noun(n, cls) for cls, n in counts)
    return {"tag": category, "include": include, "exclude": exclude, "prompt": f"a photo of {prompt}"}


def _combinations(category: str) -> list[tuple]:
    pairs = list(itertools.permutations(CLASSES, 2))
    if category == "color":
        return [(a, c1, b, c2) for a, b in pairs for c1, c2 in itertools.permutations(COLOR_NAMES, 2)]
    if category == "shape":
        return [(a, c, b, c) for a, b in itertools.combinations(CLASSES, 2) for c in COLOR_NAMES]
    if category == "spatial":
        return [(a, w, b) for a, b in pairs for w in RELATION_WORDS]
    if category == "numeracy":
        singles = [((a, n),) for a in CLASSES for n in (1, 2, 3, 4)]
        return singles + [((a, n), (b, m)) for a, b in pairs for n in (1, 2, 3) for m in (1, 2, 3) if n + m <= 6]
    if category == "complex":
        return [(a, w, b, c1, c2) for a, b in pairs for w in RELATION_WORDS for c1, c2 in itertools.permutations(COLOR_NAMES, 2)]
    raise ValueError(f"unknown ShapesWorld CompBench category {category!r}; expected one of {', '.join(CATEGORIES)}")


def _record(category: str, combo: tuple) -> dict:
    if category in ("color", "shape"):
        return _attribute(category, *combo)
    if category == "spatial":
        return _spatial(category, *combo)
    if category == "complex":
        return _spatial(category, *combo)
    return _numeracy(category, combo)


def compbench_set(category: str, n: int, rng: np.random.Generator) -> list[dict]:
    """`n` distinct prompts of a category, drawn uniformly without replacement (every category has
    more distinct prompts than T2I-CompBench's 300 per category, so none repeats and each file name,
    which carries the prompt, points at one record)."""
    combos = _combinations(category)
    if n > len(combos):
        raise ValueError(f"category {category} has {len(combos)} distinct prompts; asked for {n}")
    return [_record(category, combos[i]) for i in rng.permutation(len(combos))[:n]]
