"""Understanding, measured: a model's captions of fresh ShapesWorld scenes and its answers to visual
questions about them, against the exact ones (`world.describe`, `world.questions`).

The pretraining stages of the Janus base and of FoX train understanding beside drawing; this is its
held-out measure. Scenes come from another seed than any training record, in-distribution (no
held-out composition). Figures:

- captions: exact match, and object F1 (a caption lists its objects as "a SIZE COLOUR CLASS at the
  PLACE", split at ", " and " and "; a predicted object counts when the true caption lists it);
- questions: accuracy overall and per kind (count, colour, exists, where), exact answers.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Callable

import numpy as np

from ..world.dataset import draw_record
from ..world.describe import describe
from ..world.questions import question_kind, visual_question
from ..world.vocab import TAGS

SEED_OFFSET = 7_000_003  # far from any training seed


def caption_objects(caption: str) -> Counter:
    """The object phrases of a caption (`describe`'s form), counted."""
    return Counter(p.strip() for p in re.split(r", | and ", caption.strip()) if p.strip() and p.strip() != "nothing")


def caption_f1(predicted: str, true: str) -> float:
    pred, gold = caption_objects(predicted), caption_objects(true)
    hit = sum((pred & gold).values())
    if not pred and not gold:
        return 1.0
    if hit == 0:
        return 0.0
    precision, recall = hit / sum(pred.values()), hit / sum(gold.values())
    return 2 * precision * recall / (precision + recall)


def understanding_cases(n: int, seed: int = 0, size: int = 64) -> list[dict]:
    """n fresh scenes: image, true caption, one visual question and its answer."""
    cases = []
    for i in range(n):
        meta, scene = draw_record(seed + SEED_OFFSET, i, TAGS, "in_distribution")
        question, answer = visual_question(scene, np.random.default_rng([seed + SEED_OFFSET, i, 4]))
        cases.append({"image": scene.render(size), "caption": describe(scene), "question": question, "answer": answer})
    return cases


def understanding_report(cases: list[dict], caption: Callable | None, answer: Callable | None, batch_size: int = 32) -> dict:
    """`caption(images) -> texts`, `answer(images, questions) -> texts`; either may be None (a model
    not trained for it)."""
    report: dict = {"scenes": len(cases)}
    batches = [cases[i : i + batch_size] for i in range(0, len(cases), batch_size)]
    if caption is not None:
        said = [c for b in batches for c in caption([x["image"] for x in b])]
        report["caption_exact"] = float(np.mean([s == x["caption"] for s, x in zip(said, cases)]))
        report["caption_object_f1"] = float(np.mean([caption_f1(s, x["caption"]) for s, x in zip(said, cases)]))
        report["caption_examples"] = [{"true": x["caption"], "said": s} for s, x in list(zip(said, cases))[:5]]
    if answer is not None:
        said = [a for b in batches for a in answer([x["image"] for x in b], [x["question"] for x in b])]
        right = [s.strip() == x["answer"] for s, x in zip(said, cases)]
        report["vqa_accuracy"] = float(np.mean(right))
        kinds = [question_kind(x["question"]) for x in cases]
        report["vqa_by_kind"] = {k: float(np.mean([r for r, q in zip(right, kinds) if q == k])) for k in sorted(set(kinds))}
    return report
