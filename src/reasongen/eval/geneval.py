"""GenEval's scoring rules, restated exactly (djghosh13/geneval, evaluation/evaluate_images.py and
summary_scores.py), over any detector.

A detector gives a flat list of `Detection`s; `filter_detections` turns them into GenEval's
`detected[class] -> [Detection, ...]` (strict confidence threshold, 0.9 under counting, at most 16
per class, optional NMS); `evaluate` applies the include / colour / position / exclude clauses;
`summarize` gives per-tag scores, the overall score (the unweighted mean of the tag scores),
% correct images and % correct prompts.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..world.relations import POSITION_THRESHOLD, relative_position  # noqa: F401  (GenEval's position rule)
from ..world.vocab import COLOR_NAMES  # GenEval's ten colours, in its order

THRESHOLD = 0.3
COUNTING_THRESHOLD = 0.9
MAX_OBJECTS = 16
MAX_OVERLAP = 1.0  # NMS IoU threshold; 1.0 disables NMS, GenEval's default


@dataclass
class Detection:
    """One detected instance: class name, box (x1, y1, x2, y2) in pixels, confidence, boolean mask."""

    cls: str
    box: tuple[float, float, float, float]
    score: float
    mask: np.ndarray | None = field(default=None, repr=False)


def compute_iou(box_a, box_b) -> float:
    """Box IoU with GenEval's inclusive-pixel convention (area = (x2 - x1 + 1) * (y2 - y1 + 1))."""

    def area(b):
        return max(b[2] - b[0] + 1, 0) * max(b[3] - b[1] + 1, 0)

    inter = area((max(box_a[0], box_b[0]), max(box_a[1], box_b[1]), min(box_a[2], box_b[2]), min(box_a[3], box_b[3])))
    union = area(box_a) + area(box_b) - inter
    return inter / union if union else 0.0


def confidence_threshold(metadata: dict, threshold: float = THRESHOLD, counting_threshold: float = COUNTING_THRESHOLD) -> float:
    """GenEval's per-image threshold: 0.9 when the tag is counting, else 0.3.

    ShapesWorld's `reason` prompts that ask for an exact number carry an exclude clause, as counting
    prompts do; they take the counting threshold too (GenEval's own tags are unaffected: only its
    counting prompts have exclude clauses).
    """
    tag = metadata.get("tag")
    if tag == "counting" or (tag == "reason" and metadata.get("exclude")):
        return counting_threshold
    return threshold


def filter_detections(
    detections: Sequence[Detection],
    threshold: float,
    max_objects: int = MAX_OBJECTS,
    max_overlap: float = MAX_OVERLAP,
) -> dict[str, list[Detection]]:
    """Per class: sort by score, keep score > threshold (strict), at most `max_objects`, then
    greedy NMS unless `max_overlap` is 1. Classes with no survivors are absent."""
    by_class: dict[str, list[Detection]] = defaultdict(list)
    for det in detections:
        by_class[det.cls].append(det)
    detected = {}
    for cls, dets in by_class.items():
        # GenEval sorts with argsort(...)[::-1]; a stable sort on -score keeps ties in input order.
        ordering = sorted(dets, key=lambda d: -d.score)
        ordering = [d for d in ordering if d.score > threshold][:max_objects]
        kept = []
        while ordering:
            best = ordering.pop(0)
            kept.append(best)
            if max_overlap != 1:
                ordering = [d for d in ordering if compute_iou(best.box, d.box) < max_overlap]
        if kept:
            detected[cls] = kept
    return detected


ColorFn = Callable[[list[Detection], str], list[str]]


def evaluate(
    detected: dict[str, list[Detection]],
    metadata: dict,
    classify_colors: ColorFn,
    position_threshold: float = POSITION_THRESHOLD,
) -> tuple[bool, str]:
    """GenEval's decision for one image: include clauses AND-ed, any violated exclude fails it.

    `classify_colors(found, cls)` names the colour of each detection in `found`.
    """
    correct = True
    reasons = []
    matched_groups: list[list[Detection] | None] = []
    for req in metadata.get("include", []):
        cls = req["class"]
        matched = True
        found = detected.get(cls, [])[: req["count"]]
        if len(found) < req["count"]:
            correct = matched = False
            reasons.append(f"expected {cls}>={req['count']}, found {len(found)}")
        else:
            if "color" in req:
                colors = classify_colors(found, cls)
                if colors.count(req["color"]) < req["count"]:
                    correct = matched = False
                    others = ", ".join(f"{colors.count(c)} {c}" for c in COLOR_NAMES if c in colors)
                    reasons.append(
                        f"expected {req['color']} {cls}>={req['count']}, found {colors.count(req['color'])} "
                        f"{req['color']}; and {others}"
                    )
            if "position" in req and matched:
                expected_rel, target_group = req["position"]
                if matched_groups[target_group] is None:
                    correct = matched = False
                    reasons.append(f"no target for {cls} to be {expected_rel}")
                else:
                    for obj in found:
                        for target in matched_groups[target_group]:
                            true_rels = relative_position(obj.box, target.box, position_threshold)
                            if expected_rel not in true_rels:
                                correct = matched = False
                                reasons.append(
                                    f"expected {cls} {expected_rel} target, found {' and '.join(sorted(true_rels))} target"
                                )
                                break
                        if not matched:
                            break
        matched_groups.append(found if matched else None)
    for req in metadata.get("exclude", []):
        cls = req["class"]
        if len(detected.get(cls, [])) >= req["count"]:
            correct = False
            reasons.append(f"expected {cls}<{req['count']}, found {len(detected[cls])}")
    return correct, "\n".join(reasons)


REASON_KINDS = ("too few of an asked class", "wrong colour", "wrong position", "too many (exclude clause)")


def reason_kind(line: str) -> str:
    """Which kind of clause one line of `evaluate`'s reason reports failing (one of REASON_KINDS)."""
    if re.fullmatch(r"expected .+>=\d+, found \d+ .+; and .*", line):
        return "wrong colour"
    if line.startswith("no target for ") or re.fullmatch(r"expected .+ target, found .* target", line):
        return "wrong position"
    if re.fullmatch(r"expected .+<\d+, found \d+", line):
        return "too many (exclude clause)"
    if re.fullmatch(r"expected .+>=\d+, found \d+", line):
        return "too few of an asked class"
    raise ValueError(f"{line!r}: not a reason GenEval's rules give")


def summarize(rows: Sequence[dict]) -> dict:
    """GenEval's summary over per-image rows (each with `tag`, `correct`, `metadata`).

    Task score = mean of `correct` over the images of a tag; overall = unweighted mean of the task
    scores; % correct prompts groups images by their metadata string, as GenEval does. Rows whose
    metadata has a `split` (ShapesWorld's reason prompts) are also summarised per split, and every
    row is counted as a `seen` or `unseen` composition (world/heldout.py) in `compositions`. Rows
    with `partial` credit (the ShapesWorld detector's named-object recall) add its means in `partial`.
    """
    from ..world.heldout import record_split

    if not rows:
        raise ValueError("no images to summarise")
    by_tag: dict[str, list[bool]] = {}
    by_prompt: dict[str, bool] = {}
    by_split: dict[str, list[bool]] = {}
    by_composition: dict[str, dict[str, list[bool]]] = {}
    for row in rows:
        by_tag.setdefault(row["tag"], []).append(bool(row["correct"]))
        key = row["metadata"] if isinstance(row["metadata"], str) else json.dumps(row["metadata"])
        by_prompt[key] = by_prompt.get(key, False) or bool(row["correct"])
        meta = json.loads(key)
        if "split" in meta:
            by_split.setdefault(f"{row['tag']}/{meta['split']}", []).append(bool(row["correct"]))
        if "include" in meta:
            by_composition.setdefault(record_split(meta), {}).setdefault(row["tag"], []).append(bool(row["correct"]))
    tags = {tag: float(np.mean(v)) for tag, v in by_tag.items()}
    summary = {
        "overall": float(np.mean(list(tags.values()))),
        "tags": tags,
        "correct_images": float(np.mean([bool(r["correct"]) for r in rows])),
        "correct_prompts": float(np.mean(list(by_prompt.values()))),
        "n_images": len(rows),
        "n_prompts": len(by_prompt),
        "tag_counts": {tag: [int(sum(v)), len(v)] for tag, v in by_tag.items()},
    }
    partial = [r["partial"] for r in rows if r.get("partial")]
    if partial:
        summary["partial"] = {k: float(np.mean([p[k] for p in partial if k in p])) for k in ("class", "colour")
                              if any(k in p for p in partial)}  # fmt: skip
    if by_split:
        summary["splits"] = {k: float(np.mean(v)) for k, v in sorted(by_split.items())}
    summary["compositions"] = {}
    for split in ("seen", "unseen"):
        if split in by_composition:
            part = {tag: float(np.mean(v)) for tag, v in by_composition[split].items()}
            summary["compositions"][split] = {
                "overall": float(np.mean(list(part.values()))), "tags": part,
                "n_images": sum(len(v) for v in by_composition[split].values()),
            }  # fmt: skip
    return summary
