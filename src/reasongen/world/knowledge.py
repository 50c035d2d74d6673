"""The `reason` tag: prompts that name what to draw only through ShapesWorld's knowledge table.

A reason record's clauses are the resolved scene (GenEval's form); the prompt names a reasoned
attribute only through a fact ("coloured like the sky", "the shape with six corners", "as many
stars as a square has corners"). Some phrasings and some fact combinations never appear in a
training set: a record that uses either is in the `held_out` split, every other one is
`in_distribution`. A reasoner that only memorised its training prompts shows up on the first.

Only unambiguous facts resolve a class: "no corners" (circle or heart) and "four corners" (square
or diamond) fit two classes and a GenEval clause names one, so they are used for counts only.
"""

from __future__ import annotations

import numpy as np

from .scene import pick
from .vocab import CLASSES, COLOR_NAMES, PLURALS, RELATIONS, with_article

# The knowledge table of shapesworld.md, and only it.
THING_COLOR = {
    "sky": "blue", "grass": "green", "snow": "white", "coal": "black", "lemon": "yellow",
    "tomato": "red", "carrot": "orange", "chocolate": "brown", "flamingo": "pink", "grape": "purple",
}  # fmt: skip
THING_PHRASE = {
    "sky": "the sky", "grass": "grass", "snow": "snow", "coal": "coal", "lemon": "a lemon",
    "tomato": "a tomato", "carrot": "a carrot", "chocolate": "chocolate", "flamingo": "a flamingo", "grape": "a grape",
}  # fmt: skip
CORNERS = {"triangle": 3, "square": 4, "diamond": 4, "hexagon": 6, "star": 10, "cross": 12, "circle": 0, "heart": 0}
STAR_POINTS = 5
NO_CORNERS = ("circle", "heart")
WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 10: "ten", 12: "twelve"}

# Classes that one fact names uniquely.
CLASS_BY_CORNERS = {cls: n for cls, n in CORNERS.items() if list(CORNERS.values()).count(n) == 1}
# Simple arithmetic on numbers up to eight whose result is a count a scene can hold (2 to 4).
ARITHMETIC = [(f"one more than {WORDS[a]}", "one more", a + 1) for a in (1, 2, 3)]
ARITHMETIC += [(f"one fewer than {WORDS[a]}", "one fewer", a - 1) for a in (3, 4, 5)]
ARITHMETIC += [(f"twice {WORDS[a]}", "twice", 2 * a) for a in (1, 2)]
ARITHMETIC += [(f"half of {WORDS[a]}", "half", a // 2) for a in (4, 6, 8)]
COUNT_BY_CORNERS = {cls: n for cls, n in CORNERS.items() if 2 <= n <= 4}

# Phrasings: (template, held_out). {n} is a noun phrase without article, {t} a thing's phrase.
COLOR_PHRASINGS = [
    ("{thing}-coloured {n}", False),
    ("{n} coloured like {t}", False),
    ("{n} the colour of {t}", False),
    ("{n} that shares its colour with {t}", True),
]
CORNER_PHRASINGS = [("shape with {k} corners", False), ("shape that has {k} corners", False), ("{k}-cornered shape", True)]
POINT_PHRASINGS = [("shape with {k} points", False), ("{k}-pointed shape", True)]
COUNT_PHRASINGS = [  # {p}: plural noun phrase; {src}: the counted thing
    ("as many {p} as {src}", False),
    ("{p}, as many as {src}", True),
]

# Fact combinations that no training set holds (pairs of facts on one object).
HELD_OUT_PAIRS = {
    frozenset(p)
    for p in [
        ("thing:sky", "class:triangle"), ("thing:coal", "class:hexagon"), ("thing:lemon", "class:star"),
        ("thing:grass", "class:cross"), ("thing:tomato", "class:heart"), ("thing:flamingo", "class:square"),
        ("thing:snow", "class:diamond"), ("thing:grape", "class:circle"),
        ("count:corners of triangle", "class:star"), ("count:corners of square", "class:heart"),
        ("count:twice", "class:cross"), ("count:half", "class:circle"),
    ]
}  # fmt: skip
SPLITS = ("in_distribution", "held_out")



class _Object:
    """One object of a reason prompt: what it resolves to, how the prompt names it, and its facts."""

    def __init__(self, cls: str, color: str | None, count: int = 1):
        self.cls, self.color, self.count = cls, color, count
        self.facts = {f"class:{cls}"}
        self.held_out_phrasing = False

    def phrase(self, rng, by_class_fact: bool, color_by: str) -> str:
        """A noun phrase without article. `color_by`: 'none', 'plain' or 'thing'."""
        if by_class_fact and self.cls in CLASS_BY_CORNERS and (self.cls != "star" or rng.random() < 0.5):
            template, held = pick(rng, CORNER_PHRASINGS)
            noun = template.format(k=WORDS[CORNERS[self.cls]])
            self.facts.add(f"corners:{self.cls}")
        elif by_class_fact and self.cls == "star":
            template, held = pick(rng, POINT_PHRASINGS)
            noun = template.format(k=WORDS[STAR_POINTS])
            self.facts.add("points:star")
        else:
            noun, held = (self.cls if self.count == 1 else PLURALS[self.cls]), False
        self.held_out_phrasing |= held
        if color_by == "plain":
            return f"{self.color} {noun}"
        if color_by == "thing":
            thing = pick(rng, [t for t, c in THING_COLOR.items() if c == self.color])
            template, held = pick(rng, COLOR_PHRASINGS)
            self.held_out_phrasing |= held
            self.facts.add(f"thing:{thing}")
            if self.count > 1:  # plural nouns read "shares their colour"
                template = template.replace("shares its", "share their")
            return template.format(thing=thing, n=noun, t=THING_PHRASE[thing])
        return noun

    def clause(self) -> dict:
        clause = {"class": self.cls, "count": self.count}
        if self.color is not None:
            clause["color"] = self.color
        return clause


def _reasoned_object(rng, obj: _Object, force_fact: bool) -> str:
    """Name `obj`, reasoning over at least one of its attributes when `force_fact`."""
    can_class = obj.cls in CLASS_BY_CORNERS
    while True:
        by_class = can_class and rng.random() < 0.5
        color_by = pick(rng, ["none", "plain", "thing", "thing"])
        if not force_fact or by_class or color_by == "thing":
            break
    if color_by == "none":
        obj.color = None
    return obj.phrase(rng, by_class, color_by)


def _draw(rng) -> tuple[dict, list[_Object]]:
    skill = pick(rng, ["attribute", "count", "two_object", "position"])
    if skill == "attribute":
        obj = _Object(pick(rng, CLASSES), pick(rng, COLOR_NAMES))
        text = with_article(_reasoned_object(rng, obj, force_fact=True))
        return {"prompt": f"a photo of {text}", "include": [obj.clause()], "skill": skill}, [obj]
    if skill == "count":
        cls = pick(rng, CLASSES)
        if rng.random() < 0.5:
            src_cls = pick(rng, list(COUNT_BY_CORNERS))
            n, src, fact = COUNT_BY_CORNERS[src_cls], f"{with_article(src_cls)} has corners", f"count:corners of {src_cls}"
        else:
            src, op, n = pick(rng, ARITHMETIC)
            fact = f"count:{op}"
        obj = _Object(cls, pick(rng, COLOR_NAMES), count=n)
        obj.facts.add(fact)
        color_by = pick(rng, ["none", "none", "plain", "thing"])
        if color_by == "none":
            obj.color = None
        plural = obj.phrase(rng, False, color_by)
        template, held = pick(rng, COUNT_PHRASINGS)
        obj.held_out_phrasing |= held
        text = template.format(p=plural, src=src)
        meta = {"prompt": f"a photo of {text}", "include": [obj.clause()], "exclude": [{"class": cls, "count": n + 1}]}
        return {**meta, "skill": skill}, [obj]
    a_cls, b_cls = (CLASSES[i] for i in rng.choice(len(CLASSES), size=2, replace=False))
    a, b = _Object(a_cls, pick(rng, COLOR_NAMES)), _Object(b_cls, pick(rng, COLOR_NAMES))
    first_reasoned = rng.random() < 0.5
    ta = with_article(_reasoned_object(rng, a, force_fact=first_reasoned))
    tb = with_article(_reasoned_object(rng, b, force_fact=not first_reasoned))
    if skill == "two_object":
        return {"prompt": f"a photo of {ta} and {tb}", "include": [a.clause(), b.clause()], "skill": skill}, [a, b]
    relation = pick(rng, RELATIONS)
    # Long noun phrases read better with commas around the relation.
    joiner = f", {relation} " if "," in ta or " that " in ta or " like " in ta or " the colour " in ta else f" {relation} "
    include = [b.clause(), {**a.clause(), "position": [relation, 0]}]
    return {"prompt": f"a photo of {ta}{joiner}{tb}", "include": include, "skill": skill}, [a, b]


def reason_metadata(rng: np.random.Generator, split: str = "in_distribution") -> dict:
    """One `reason` record of the requested split."""
    if split not in SPLITS:
        raise ValueError(f"unknown reason split {split!r}; expected one of {', '.join(SPLITS)}")
    while True:
        meta, objects = _draw(rng)
        phrasing = any(o.held_out_phrasing for o in objects)
        combination = any(pair <= o.facts for o in objects for pair in HELD_OUT_PAIRS)
        drawn_split = "held_out" if phrasing or combination else "in_distribution"
        if drawn_split == split:
            break
    facts = sorted({f for o in objects for f in o.facts if not f.startswith("class:")})
    record = {"tag": "reason", "prompt": meta["prompt"], "include": meta["include"]}
    if "exclude" in meta:
        record["exclude"] = meta["exclude"]
    record.update({"split": split, "skill": meta["skill"], "facts": facts})
    if split == "held_out":
        record["held_out_by"] = [k for k, v in (("phrasing", phrasing), ("combination", combination)) if v]
    return record
