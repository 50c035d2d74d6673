"""Paired comparisons of two sets of verdicts on the same prompts and seeds.

Two models sampled on the same prompts with the same seeds give paired samples: sample
`00012/samples/0003.png` of one and of the other answer the same prompt from the same noise. The
discordant pairs (correct only in the second: `fixed`; only in the first: `broken`) are McNemar's;
`mcnemar_p` is its exact two-sided p-value (a sign test on them): small when one model is right
where the other is not more often than chance allows. It takes the samples as independent; the
samples of one prompt are not, so the prompts whose samples the second gets right more (or less)
often are counted too, with the same test over them (`prompt_sign_p`).
"""

from __future__ import annotations

import math
from pathlib import PurePath


def mcnemar_p(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value: under no difference, each discordant pair goes either way at 1/2."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_verdicts(before: dict[str, bool], after: dict[str, bool]) -> dict:
    """The paired counts of two {sample name: correct} maps over the samples both hold. A sample's
    prompt is the first part of its name (GenEval's layout: `<prompt index>/samples/<n>.png`)."""
    names = sorted(before.keys() & after.keys())
    fixed = sum(bool(after[n]) and not before[n] for n in names)
    broken = sum(bool(before[n]) and not after[n] for n in names)
    per_prompt: dict[str, list[int]] = {}
    for n in names:
        tally = per_prompt.setdefault(PurePath(n).parts[0], [0, 0])
        tally[0] += bool(before[n])
        tally[1] += bool(after[n])
    better = sum(a > b for b, a in per_prompt.values())
    worse = sum(a < b for b, a in per_prompt.values())
    return {"images": len(names), "only_before": len(before) - len(names), "only_after": len(after) - len(names),
            "correct_before": sum(t[0] for t in per_prompt.values()), "correct_after": sum(t[1] for t in per_prompt.values()),
            "fixed": fixed, "broken": broken, "mcnemar_p": float(f"{mcnemar_p(fixed, broken):.3g}"),
            "prompts": len(per_prompt), "prompts_better": better, "prompts_worse": worse,
            "prompt_sign_p": float(f"{mcnemar_p(better, worse):.3g}")}  # fmt: skip


def sign_test(before: list[float], after: list[float]) -> dict:
    """Paired scores (e.g. one per video clip): how many the second raises or lowers, and the exact
    two-sided sign test on them (ties left out)."""
    if len(before) != len(after):
        raise ValueError(f"{len(before)} scores against {len(after)}: pair each with one")
    up = sum(a > b for b, a in zip(before, after))
    down = sum(a < b for b, a in zip(before, after))
    return {"pairs": len(before), "higher": up, "lower": down, "sign_p": float(f"{mcnemar_p(up, down):.3g}")}
