"""Reward functions and their ensemble.

A reward is a callable `(images, prompts, metadata) -> [score, ...]`, one score per image; images
are uint8 H x W x 3 arrays, metadata the GenEval-style records (or None where a reward needs none).
`RewardEnsemble` sums its experts with weights (equal by default) and keeps a run alive when an
expert fails on a sample: that sample gets a logged zero from that expert.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)

Reward = Callable[[Sequence[np.ndarray], Sequence[str], Sequence[dict] | None], Sequence[float]]


class RewardEnsemble:
    def __init__(self, experts: dict[str, Reward], weights: dict[str, float] | None = None):
        if not experts:
            raise ValueError("a reward ensemble needs at least one expert")
        weights = weights or {}
        unknown = set(weights) - set(experts)
        if unknown:
            raise ValueError(f"weights for unknown reward experts {sorted(unknown)}; experts: {', '.join(experts)}")
        self.experts = dict(experts)
        self.weights = {name: float(weights.get(name, 1.0)) for name in experts}

    def _scores(self, name: str, fn: Reward, images, prompts, metadata) -> tuple[list[float], int]:
        try:
            scores = [float(s) for s in fn(images, prompts, metadata)]
            if len(scores) != len(images):
                raise ValueError(f"gave {len(scores)} scores for {len(images)} images")
            return scores, 0
        except Exception as batch_error:  # find the sample(s) that fail; the others keep their score
            log.warning("reward %s failed on a batch (%s); scoring its %d samples one by one", name, batch_error, len(images))
        scores, failures = [], 0
        for i, image in enumerate(images):
            try:
                scores.append(float(fn([image], [prompts[i]], None if metadata is None else [metadata[i]])[0]))
            except Exception as e:
                log.warning("reward %s failed on sample %d (prompt %r): %s; it scores 0", name, i, prompts[i], e)
                scores.append(0.0)
                failures += 1
        return scores, failures

    def __call__(self, images, prompts, metadata=None) -> tuple[np.ndarray, dict]:
        """The weighted sum per image, and logs: each expert's mean and its failures."""
        total = np.zeros(len(images), dtype=np.float64)
        logs = {}
        for name, fn in self.experts.items():
            scores, failures = self._scores(name, fn, images, prompts, metadata)
            total += self.weights[name] * np.asarray(scores)
            logs[f"reward_{name}"] = float(np.mean(scores))
            if failures:
                logs[f"reward_{name}_failures"] = failures
        return total, logs
