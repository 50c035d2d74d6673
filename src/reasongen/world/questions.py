"""Visual questions about a ShapesWorld scene, with their exact answers, for the understanding stage
of pretraining (FoX's Stage II mixes generation with captioning and visual questions).

Four kinds, drawn with equal chance, each answered in a word or a few:

- count: "how many red circles are there ?" -> "two" (a colour and class, or a class alone; a class
  the scene lacks -> "zero");
- colour: "what colour is the star ?" -> "red" (a class the scene shows exactly once);
- exists: "is there a blue square ?" -> "yes" or "no" (half the time a colour and class the scene
  lacks, never a held-out composition, so no question names one);
- where: "where is the red star ?" -> "at the top left" (a colour and class shown once; the place
  words of `describe`).

A kind the scene cannot ask (no class shown once, say) falls back to counting, which always can.
"""

from __future__ import annotations

import numpy as np

from .describe import object_place
from .heldout import HELD_OUT_COLOR_CLASS
from .scene import Scene
from .vocab import CLASSES, COLOR_NAMES, NUMBER_WORDS, PLURALS, with_article

KINDS = ("count", "colour", "exists", "where")
OPENING = {"how": "count", "what": "colour", "is": "exists", "where": "where"}  # each kind's first word


def question_kind(question: str) -> str:
    return OPENING[question.split()[0]]


def visual_question(scene: Scene, rng: np.random.Generator) -> tuple[str, str]:
    """One (question, answer) about `scene`, drawn by `rng`."""
    objects = scene.objects
    pairs, classes = [(o.color, o.cls) for o in objects], [o.cls for o in objects]
    kind = KINDS[int(rng.integers(len(KINDS)))]
    if kind == "colour":
        once = [o for o in objects if classes.count(o.cls) == 1]
        if once:
            o = once[int(rng.integers(len(once)))]
            return f"what colour is the {o.cls} ?", o.color
    if kind == "where":
        once = [o for o in objects if pairs.count((o.color, o.cls)) == 1]
        if once:
            o = once[int(rng.integers(len(once)))]
            return f"where is the {o.color} {o.cls} ?", object_place(o)
    if kind == "exists":
        if rng.random() < 0.5 and objects:
            color, cls = pairs[int(rng.integers(len(pairs)))]
            return f"is there {with_article(color)} {cls} ?", "yes"
        absent = [(c, k) for c in COLOR_NAMES for k in CLASSES if (c, k) not in pairs and (c, k) not in HELD_OUT_COLOR_CLASS]
        color, cls = absent[int(rng.integers(len(absent)))]
        return f"is there {with_article(color)} {cls} ?", "no"
    if objects and rng.random() < 0.5:
        color, cls = pairs[int(rng.integers(len(pairs)))]
        return f"how many {color} {PLURALS[cls]} are there ?", NUMBER_WORDS[pairs.count((color, cls))]
    cls = CLASSES[int(rng.integers(len(CLASSES)))]
    return f"how many {PLURALS[cls]} are there ?", NUMBER_WORDS[classes.count(cls)]
