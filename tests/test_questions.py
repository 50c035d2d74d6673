"""Visual questions: every answer is true of its scene, every kind occurs, and none names a held-out composition."""

import re

import numpy as np

from reasongen.backbones.text import shapes_tokenizer
from reasongen.world.describe import object_place
from reasongen.world.heldout import HELD_OUT_COLOR_CLASS
from reasongen.world.questions import visual_question
from reasongen.world.scene import Obj, Scene
from reasongen.world.vocab import NUMBER_WORDS, PLURALS

SCENE = Scene([Obj("circle", "red", (0.05, 0.05, 0.2)), Obj("circle", "red", (0.6, 0.1, 0.2)), Obj("star", "blue", (0.4, 0.7, 0.25))])
SINGULAR = {v: k for k, v in PLURALS.items()}


def truth(scene: Scene, question: str) -> str:
    """The answer worked out from the scene by reading the question's words."""
    objs = scene.objects
    if m := re.fullmatch(r"how many (?:(\w+) )?(\w+) are there \?", question):
        colour, cls = m.group(1), SINGULAR[m.group(2)]
        return NUMBER_WORDS[sum(o.cls == cls and colour in (None, o.color) for o in objs)]
    if m := re.fullmatch(r"what colour is the (\w+) \?", question):
        (o,) = [o for o in objs if o.cls == m.group(1)]
        return o.color
    if m := re.fullmatch(r"is there an? (\w+) (\w+) \?", question):
        return "yes" if any((o.color, o.cls) == m.groups() for o in objs) else "no"
    if m := re.fullmatch(r"where is the (\w+) (\w+) \?", question):
        (o,) = [o for o in objs if (o.color, o.cls) == m.groups()]
        return object_place(o)
    raise AssertionError(f"a question of no known kind: {question!r}")


def test_answers_are_true_and_every_kind_occurs():
    tok = shapes_tokenizer()
    kinds, answers = set(), []
    for i in range(200):
        q, a = visual_question(SCENE, np.random.default_rng(i))
        assert truth(SCENE, q) == a, (q, a)
        kinds.add(q.split()[0])
        answers.append(a)
        assert tok.unk_token_id not in tok(q + " " + a).input_ids, (q, a)
        if m := re.fullmatch(r"is there an? (\w+) (\w+) \?", q):
            assert tuple(m.groups()) not in HELD_OUT_COLOR_CLASS
    assert kinds == {"how", "what", "is", "where"}
    assert answers.count("yes") > 10 and answers.count("no") > 10 and "zero" in answers


def test_a_scene_with_no_single_object_falls_back_to_counting():
    twins = Scene([Obj("heart", "pink", (0.1, 0.1, 0.2)), Obj("heart", "pink", (0.6, 0.6, 0.2))])
    for i in range(50):
        q, a = visual_question(twins, np.random.default_rng(i))
        assert truth(twins, q) == a and not q.startswith(("what", "where")), q
