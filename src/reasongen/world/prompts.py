"""Prompts and GenEval-style metadata for the seven ShapesWorld tags.

The six GenEval tags use GenEval's own wording and clause layout. The seventh, `reason`, names what
to draw only through the knowledge table of `knowledge.py`; its clauses are the resolved scene.
"""

from __future__ import annotations

import itertools

import numpy as np

from .vocab import CLASSES, COLOR_NAMES, NUMBER_WORDS, PLURALS, RELATIONS, TAGS, with_article


def _single_object(cls):
    return {"tag": "single_object", "include": [{"class": cls, "count": 1}], "prompt": f"a photo of {with_article(cls)}"}


def _two_object(a, b):
    return {
        "tag": "two_object",
        "include": [{"class": a, "count": 1}, {"class": b, "count": 1}],
        "prompt": f"a photo of {with_article(a)} and {with_article(b)}",
    }


def _counting(cls, n):
    return {
        "tag": "counting",
        "include": [{"class": cls, "count": n}],
        "exclude": [{"class": cls, "count": n + 1}],
        "prompt": f"a photo of {NUMBER_WORDS[n]} {PLURALS[cls]}",
    }


def _colors(cls, color):
    return {"tag": "colors", "include": [{"class": cls, "count": 1, "color": color}], "prompt": f"a photo of {with_article(color)} {cls}"}


def _position(a, relation, b):
    # GenEval's order: the target B is include[0]; A is include[1], positioned relative to group 0.
    return {
        "tag": "position",
        "include": [{"class": b, "count": 1}, {"class": a, "count": 1, "position": [relation, 0]}],
        "prompt": f"a photo of {with_article(a)} {relation} {with_article(b)}",
    }


def _color_attr(a, c1, b, c2):
    return {
        "tag": "color_attr",
        "include": [{"class": a, "count": 1, "color": c1}, {"class": b, "count": 1, "color": c2}],
        "prompt": f"a photo of {with_article(c1)} {a} and {with_article(c2)} {b}",
    }


def _combinations(tag: str) -> list[tuple]:
    """Every distinct prompt of a GenEval tag over the ShapesWorld vocabulary."""
    pairs = list(itertools.permutations(CLASSES, 2))
    if tag == "single_object":
        return [(c,) for c in CLASSES]
    if tag == "two_object":
        return pairs
    if tag == "counting":
        return [(c, n) for c in CLASSES for n in (2, 3, 4)]
    if tag == "colors":
        return [(c, k) for c in CLASSES for k in COLOR_NAMES]
    if tag == "position":
        return [(a, r, b) for a, b in pairs for r in RELATIONS]
    if tag == "color_attr":
        return [(a, c1, b, c2) for a, b in pairs for c1, c2 in itertools.permutations(COLOR_NAMES, 2)]
    raise ValueError(f"unknown GenEval tag {tag!r}; expected one of {', '.join(TAGS)}")


_BUILDERS = {
    "single_object": _single_object,
    "two_object": _two_object,
    "counting": _counting,
    "colors": _colors,
    "position": _position,
    "color_attr": _color_attr,
}


def geneval_metadata(tag: str, rng: np.random.Generator) -> dict:
    """One random record of a GenEval tag (uniform over its distinct prompts)."""
    combos = _combinations(tag)
    return _BUILDERS[tag](*combos[int(rng.integers(len(combos)))])


def balanced_geneval_set(tag: str, n: int, rng: np.random.Generator) -> list[dict]:
    """`n` records of a tag that cover its distinct prompts as evenly as possible.

    GenEval draws 100 per tag and drops duplicates; ShapesWorld's vocabulary is too small for that
    (8 single objects, 56 two-object pairs, 24 counts, 80 colour prompts), so prompts repeat: each
    pass is a fresh permutation of all distinct prompts, and passes are concatenated up to `n`.
    """
    combos = _combinations(tag)
    out: list[dict] = []
    while len(out) < n:
        order = rng.permutation(len(combos))
        out.extend(_BUILDERS[tag](*combos[i]) for i in order[: n - len(out)])
    return out


def sample_metadata(tag: str, rng: np.random.Generator, split: str = "in_distribution") -> dict:
    """One random record of any of the seven tags; `split` applies to `reason` only."""
    if tag == "reason":
        from .knowledge import reason_metadata

        return reason_metadata(rng, split)
    return geneval_metadata(tag, rng)


def _normalise(prompt: str) -> str:
    return " ".join(prompt.lower().strip().rstrip(".").split())


_INDEX: dict[str, dict] = {}


def metadata_for_prompt(prompt: str) -> dict | None:
    """The GenEval metadata of a free prompt, when it has one of the world's forms: any prompt of the
    six GenEval tags (with or without "a photo of"), or a `reason` prompt of the shipped shapes-reason
    benchmark. None otherwise: the evaluator then cannot say what the prompt asks for."""
    if not _INDEX:  # every distinct prompt of the six tags (about 5,400), then the reason benchmark's
        import json

        from .benchmarks import shipped_path

        for tag, build in _BUILDERS.items():
            for combo in _combinations(tag):
                meta = build(*combo)
                _INDEX[_normalise(meta["prompt"])] = meta
        for line in shipped_path("shapes-reason").read_text().splitlines():
            if line.strip():
                meta = json.loads(line)
                _INDEX.setdefault(_normalise(meta["prompt"]), meta)
    key = _normalise(prompt)
    meta = _INDEX.get(key) or _INDEX.get("a photo of " + key)
    return dict(meta) if meta else None
