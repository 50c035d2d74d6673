"""How far each reward expert agrees with the evaluator: the `reasongen eval rewards` command's engine.

Every image is scored by each named expert and by the exact evaluator (GenEval's rules over the
rule-based ShapesWorld detector, `eval.run.score_image`), which says correct or not. Per expert: the
mean reward on the images the evaluator calls correct and on those it calls incorrect, and the ROC
AUC of the reward for the evaluator's verdict (the chance that a correct image outscores an
incorrect one, ties counted half), overall and per tag. An expert that reads the evaluator's own
detector agrees by construction; an independent one (the learned detector, the judge) shows here how
far GRPO on it also climbs the benchmark.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

EVALUATOR = "GenEval's rules over the rule-based ShapesWorld detector (eval/run.py: score_image)"


def roc_auc(scores, labels) -> float | None:
    """ROC AUC of `scores` for the boolean `labels` by the rank-sum (Mann-Whitney) formula, tied scores
    taking their average rank, so a tie between a positive and a negative counts half. None when
    either class is empty."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if not n_pos or not n_neg:
        return None
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2)[inverse]  # 1-based average rank of each score
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def agreement(scores, verdicts) -> dict:
    """Mean reward on correct and on incorrect images, their counts, and the AUC."""
    scores, verdicts = np.asarray(scores, dtype=np.float64), np.asarray(verdicts, dtype=bool)

    def mean(x):
        return float(x.mean()) if len(x) else None

    return {"mean_on_correct": mean(scores[verdicts]), "mean_on_incorrect": mean(scores[~verdicts]),
            "auc": roc_auc(scores, verdicts), "n_correct": int(verdicts.sum()),
            "n_incorrect": int((~verdicts).sum())}  # fmt: skip


def evaluator_verdicts(pairs, progress: bool = False) -> list[bool]:
    """The exact evaluator's verdict on each (image, metadata) pair."""
    from ..eval.run import score_image
    from ..eval.shapes_detector import ShapesDetector

    detector = ShapesDetector()
    shown = tqdm(pairs, desc="evaluator", disable=not progress)
    return [bool(score_image(detector, image, meta)["correct"]) for image, meta in shown]


def expert_scores(pairs, experts: dict, batch_size: int = 64, progress: bool = False) -> dict[str, list[float]]:
    """Each expert's reward for every pair, computed in batches (as GRPO calls them)."""
    scores: dict[str, list[float]] = {name: [] for name in experts}
    for start in tqdm(range(0, len(pairs), batch_size), desc="rewards", disable=not progress):
        chunk = pairs[start : start + batch_size]
        images, metadata = [image for image, _ in chunk], [meta for _, meta in chunk]
        for name, fn in experts.items():
            out = [float(s) for s in fn(images, [meta["prompt"] for meta in metadata], metadata)]
            if len(out) != len(chunk):
                raise ValueError(f"reward {name} gave {len(out)} scores for {len(chunk)} images")
            scores[name] += out
    return scores


def reward_agreement(pairs, experts: dict, progress: bool = False) -> dict:
    """Every expert's agreement with the evaluator over `pairs` (image, metadata), overall and per tag."""
    if not pairs:
        raise ValueError("no images to score")
    pairs = list(pairs)
    verdicts = np.asarray(evaluator_verdicts(pairs, progress))
    scores = expert_scores(pairs, experts, progress=progress)
    tags = np.array([meta["tag"] for _, meta in pairs])
    result = {"evaluator": EVALUATOR, "n_images": len(pairs), "n_correct": int(verdicts.sum()), "experts": {}}
    for name, values in scores.items():
        values = np.asarray(values)
        by_tag = {str(t): agreement(values[tags == t], verdicts[tags == t]) for t in dict.fromkeys(tags.tolist())}
        result["experts"][name] = {**agreement(values, verdicts), "by_tag": by_tag}
    return result


def read_geneval_pairs(folders) -> list[tuple[np.ndarray, dict]]:
    """Every sample of GenEval-layout folders (`reasongen sample geneval`) with its prompt's metadata."""
    from pathlib import Path

    from ..eval.layout import load_rgb, scan_geneval_folder
    from ..eval.shapes_detector import ShapesDetector

    pairs = []
    for folder in folders:
        for prompt in scan_geneval_folder(folder, ShapesDetector()):
            pairs += [(load_rgb(Path(p)), prompt.metadata) for p in prompt.samples]
    return pairs


def format_agreement(result: dict) -> str:
    lines = [f"{result['n_images']} images, {result['n_correct']} correct by the evaluator",
             f"{'expert':<20}{'mean | correct':>16}{'mean | incorrect':>18}{'AUC':>8}"]  # fmt: skip

    def show(x):
        return "-" if x is None else f"{x:.3f}"

    for name, row in result["experts"].items():
        means = f"{show(row['mean_on_correct']):>16}{show(row['mean_on_incorrect']):>18}"
        lines.append(f"{name:<20}{means}{show(row['auc']):>8}")
    return "\n".join(lines)
