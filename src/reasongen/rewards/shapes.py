"""ShapesWorld's reward experts, the analogues of T2I-R1's GroundingDINO and VQA experts. They read
any detector that gives instances (class, box, score): the world's rule-based detector by default
(`eval/shapes_detector.py`, no weights, the evaluator's own eye), or the learned detector
(`rewards/learned_detector.py`, a CNN trained on the scenes' own labels), which shares nothing with
the evaluator. They score against the prompt's metadata (GenEval-style clauses).

`DetectorReward` gives partial credit as T2I-R1's GroundingDINO expert does (its rules restated from
the official `reward_gdino.py`; GenEval's position rule is not used):
- position prompts: 0.2 for each of the two objects found; if both are, half the position score of
  their most confident boxes on top (`position_score`): at most 0.9;
- counting prompts: each asked class weighs 1 / (number of classes): full when its count after NMS
  at IoU 0.5 is exact, 0.2 when the class is there but the count is wrong;
- every other prompt: the share of the asked classes found.

`AttributeReward` asks, as T2I-R1's VQA expert does, one question per object: for objects with an
asked colour "is there a <colour> <class>?", otherwise "is there a <class>?"; the answer is the best
confidence among detections of that class with that colour (0 when none). The colour is the
detector's (`classify_colors`: the rule-based detector's median colour, the learned detector's colour
head). As in the official code, position and counting prompts score 0 from this expert (a constant
inside a group, so GRPO's group-relative advantages are unaffected).
"""

from __future__ import annotations

from ..eval.compbench import box_iou
from ..eval.compbench import position_score as compbench_position_score
from ..eval.shapes_detector import ShapesDetector
from ..eval.shapes_detector import instances
from ..world.compbench import RELATION_WORDS

FOUND_THRESHOLD = 0.3  # T2I-R1's box threshold (GenEval's ordinary cut too): what counts as "found"
POSITION_IOU = 0.1  # T2I-R1's overlap limit for a relation: above it the score falls as 0.1 / IoU
COUNT_NMS_IOU = 0.5  # T2I-R1's NMS before counting
# the world's relation -> the 2D-spatial rule's words for it ("left of" -> "on the left of")
COMPBENCH_WORDS = {relation: words for words, relation in RELATION_WORDS.items()}


def position_score(relation: str, box_a, box_b, iou_limit: float = POSITION_IOU) -> float:
    """T2I-R1's score of "A `relation` B" (boxes x1, y1, x2, y2; y down). Its GroundingDINO expert
    scores a relation with T2I-CompBench's 2D-spatial rule (`eval.compbench.position_score`): 0 unless
    B's centre lies the relation's way from A's along the relation's axis and that axis dominates the
    offset; then 1 when the boxes overlap at IoU under 0.1, else 0.1 / IoU. "above" is that rule's
    "on the top of" (the official reward code has no bare "above"). ShapesWorld has no "next to" or "near"."""
    if relation not in COMPBENCH_WORDS:
        raise ValueError(f"unknown relation {relation!r}; T2I-R1's position rule knows {', '.join(COMPBENCH_WORDS)}")
    return compbench_position_score(COMPBENCH_WORDS[relation], box_a, box_b, iou_threshold=iou_limit)


def suppress_duplicates(found: list, iou_limit: float = COUNT_NMS_IOU) -> list:
    """Greedy NMS per class: a detection overlapping a more confident one of its class at IoU > the limit goes."""
    kept: list = []
    for d in sorted(found, key=lambda d: -d.score):
        if all(k.cls != d.cls or box_iou(k.box, d.box) <= iou_limit for k in kept):
            kept.append(d)
    return kept


def found_instances(detector, images, threshold: float) -> list[list]:
    """One detection per instance for each image: the detector's own batch path when it has one (the
    learned detector), else the instances that `eval.shapes_detector.instances` reads off its hypotheses."""
    if hasattr(detector, "instances_batch"):
        return detector.instances_batch(list(images), threshold)
    return [instances(image, detector, threshold) for image in images]


class DetectorReward:
    def __init__(self, detector=None, threshold: float = FOUND_THRESHOLD):
        self.detector, self.threshold = detector or ShapesDetector(), threshold

    def __call__(self, images, prompts, metadata):
        if metadata is None:
            raise ValueError("the detector reward reads each prompt's metadata (its include clauses); got none")
        return [self.score_found(found, meta) for found, meta in zip(self.found_batch(images, metadata), metadata)]

    def found(self, image, meta: dict) -> list:
        """One detection per object (the real-scale GroundingDINO expert grounds the prompt's classes instead)."""
        return found_instances(self.detector, [image], self.threshold)[0]

    def found_batch(self, images, metadata) -> list[list]:
        if hasattr(self.detector, "instances_batch"):  # one forward pass for the whole batch
            return found_instances(self.detector, images, self.threshold)
        return [self.found(image, meta) for image, meta in zip(images, metadata)]

    def score(self, image, meta: dict) -> float:
        return self.score_found(self.found(image, meta), meta)

    def score_found(self, found: list, meta: dict) -> float:
        clauses = meta["include"]
        positioned = [c for c in clauses if "position" in c]
        if positioned:
            return self.position_credit(found, clauses, positioned[0])
        counting = meta.get("tag") == "counting" or meta.get("exclude")
        by_class: dict[str, list] = {}
        for d in suppress_duplicates(found) if counting else found:
            by_class.setdefault(d.cls, []).append(d)
        if counting:
            total = 0.0
            for c in clauses:
                n = len(by_class.get(c["class"], []))
                total += (1.0 if n == c["count"] else 0.2 if n else 0.0) / len(clauses)
            return total
        return sum(c["class"] in by_class for c in clauses) / len(clauses)

    @staticmethod
    def position_credit(found: list, clauses: list[dict], a_clause: dict) -> float:
        relation, group = a_clause["position"]
        b_clause = clauses[group]
        a = max((d for d in found if d.cls == a_clause["class"]), key=lambda d: d.score, default=None)
        b = max((d for d in found if d.cls == b_clause["class"]), key=lambda d: d.score, default=None)
        score = 0.2 * (a is not None) + 0.2 * (b is not None)
        if a is not None and b is not None and a is not b:
            score += position_score(relation, a.box, b.box) / 2
        return score


class AttributeReward:
    def __init__(self, detector=None, threshold: float = FOUND_THRESHOLD):
        self.detector, self.threshold = detector or ShapesDetector(), threshold

    def __call__(self, images, prompts, metadata):
        if metadata is None:
            raise ValueError("the attribute reward reads each prompt's metadata (its include clauses); got none")
        asked = [i for i, meta in enumerate(metadata) if self.asks(meta)]
        found = dict(zip(asked, found_instances(self.detector, [images[i] for i in asked], self.threshold)))
        return [self.answer(images[i], found[i], meta) if i in found else 0.0 for i, meta in enumerate(metadata)]

    @staticmethod
    def asks(meta: dict) -> bool:
        """Whether the expert asks anything: not of position, counting or exclude prompts (those score 0)."""
        clauses = meta["include"]
        positioned = any("position" in c for c in clauses)
        return not (meta.get("tag") in ("position", "counting") or positioned or meta.get("exclude"))

    def score(self, image, meta: dict) -> float:
        if not self.asks(meta):
            return 0.0
        return self.answer(image, found_instances(self.detector, [image], self.threshold)[0], meta)

    def answer(self, image, found: list, meta: dict) -> float:
        answers = []
        for c in meta["include"]:
            of_class = [d for d in found if d.cls == c["class"]]
            if c.get("color") is not None and of_class:
                colors = self.detector.classify_colors(image, of_class, c["class"])
                of_class = [d for d, col in zip(of_class, colors) if col == c["color"]]
            answers.append(max((d.score for d in of_class), default=0.0))
        return sum(answers) / len(answers)
