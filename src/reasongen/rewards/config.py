"""The settings of the trained reward experts (the judge, `judge.py`; the learned detector,
`learned_detector.py`), each with its command-line help. Imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..train.config import SmallModelTrainConfig


@dataclass
class JudgeTrainConfig(SmallModelTrainConfig):
    steps: int = field(default=2000, metadata={"help": "Optimiser steps."})  # 5 min on the 2-core CPU (docs/t2i-r1.md)


@dataclass
class DetectorTrainConfig(SmallModelTrainConfig):
    heldout: int = field(default=500, metadata={"help": "Fresh scenes (another seed) in the held-out report, clean and degraded."})
    width: int = 32  # the CenterNet's base channels

    def check(self) -> None:
        if not 1 <= self.heldout <= 10**6:  # the bound the command had before it took this config
            raise ValueError(f"--heldout {self.heldout}: give at least 1 scene")
