"""ShapesWorld's reward experts, the analogues of T2I-R1's GroundingDINO and VQA experts, read off
the world's detector (no weights). They score against the prompt's metadata (GenEval-style clauses).

`DetectorReward` gives partial credit as T2I-R1's detector expert does:
- position prompts: 0.2 for each of the two objects found; if both are, half the position score
  on top (1 when the most confident boxes stand in the asked relation by GenEval's rule, divided by
  IoU / 0.1 when the boxes overlap more than 0.1): at most 0.9;
- counting prompts: each asked class weighs 1 / (number of classes): full when the count is exact,
  0.2 when the class is there but the count is wrong;
- every other prompt: the share of the asked classes found.

`AttributeReward` asks, as T2I-R1's VQA expert does, one question per object: for objects with an
asked colour "is there a <colour> <class>?", otherwise "is there a <class>?"; the answer is the best
confidence among detections of that class with that colour (0 when none). As in the official code,
position and counting prompts score 0 from this expert (a constant inside a group, so GRPO's
group-relative advantages are unaffected).
"""

from __future__ import annotations

from ..eval.geneval import compute_iou, relative_position
from ..eval.shapes_detector import ShapesDetector
from ..eval.shapes_detector import instances

FOUND_THRESHOLD = 0.3  # GenEval's ordinary confidence cut: what counts as "found"


class DetectorReward:
    def __init__(self, detector=None, threshold: float = FOUND_THRESHOLD):
        self.detector, self.threshold = detector or ShapesDetector(), threshold

    def __call__(self, images, prompts, metadata):
        if metadata is None:
            raise ValueError("the detector reward reads each prompt's metadata (its include clauses); got none")
        return [self.score(image, meta) for image, meta in zip(images, metadata)]

    def found(self, image, meta: dict) -> list:
        """One detection per object (the real-scale GroundingDINO expert grounds the prompt's classes instead)."""
        return instances(image, self.detector, self.threshold)

    def score(self, image, meta: dict) -> float:
        found = self.found(image, meta)
        by_class: dict[str, list] = {}
        for d in found:
            by_class.setdefault(d.cls, []).append(d)
        clauses = meta["include"]
        positioned = [c for c in clauses if "position" in c]
        if positioned:
            a_clause = positioned[0]
            relation, group = a_clause["position"]
            b_clause = clauses[group]
            a = max(by_class.get(a_clause["class"], []), key=lambda d: d.score, default=None)
            b = max(by_class.get(b_clause["class"], []), key=lambda d: d.score, default=None)
            score = 0.2 * (a is not None) + 0.2 * (b is not None)
            if a is not None and b is not None and a is not b:
                iou = compute_iou(a.box, b.box)
                held = relation in relative_position(a.box, b.box)
                score += 0.5 * (held * (1.0 if iou <= 0.1 else 0.1 / iou))
            return score
        if meta.get("tag") == "counting" or meta.get("exclude"):
            total = 0.0
            for c in clauses:
                n = len(by_class.get(c["class"], []))
                total += (1.0 if n == c["count"] else 0.2 if n else 0.0) / len(clauses)
            return total
        return sum(c["class"] in by_class for c in clauses) / len(clauses)


class AttributeReward:
    def __init__(self, detector=None, threshold: float = FOUND_THRESHOLD):
        self.detector, self.threshold = detector or ShapesDetector(), threshold

    def __call__(self, images, prompts, metadata):
        if metadata is None:
            raise ValueError("the attribute reward reads each prompt's metadata (its include clauses); got none")
        return [self.score(image, meta) for image, meta in zip(images, metadata)]

    def score(self, image, meta: dict) -> float:
        clauses = meta["include"]
        if meta.get("tag") in ("position", "counting") or any("position" in c for c in clauses) or meta.get("exclude"):
            return 0.0
        found = instances(image, self.detector, self.threshold)
        answers = []
        for c in clauses:
            of_class = [d for d in found if d.cls == c["class"]]
            if c.get("color") is not None and of_class:
                colors = self.detector.classify_colors(image, of_class, c["class"])
                of_class = [d for d, col in zip(of_class, colors) if col == c["color"]]
            answers.append(max((d.score for d in of_class), default=0.0))
        return sum(answers) / len(answers)
