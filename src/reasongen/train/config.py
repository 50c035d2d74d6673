"""The settings every small model's training shares (the judge, the learned detector, the narrator),
each with its command-line help: a run folder, steps, batch, learning rate, checkpoint interval and
seed. Each model's config adds its own and may change a default (`rewards/config.py`,
`methods/reasondiff/config.py`); their commands' options are generated from them
(`cli/common.py: config_options`). This module imports nothing heavy, so that the command line
starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SmallModelTrainConfig:
    output_dir: str = field(metadata={"help": "Run folder: checkpoints/, log.jsonl, the trained model and its held-out report at the end.",
                                      "path": True})  # fmt: skip
    steps: int = field(default=3000, metadata={"help": "Optimiser steps."})
    batch_size: int = field(default=64, metadata={"help": "Global batch of fresh samples."})
    lr: float = field(default=1e-3, metadata={"help": "Peak learning rate (AdamW, 50 warm-up steps, cosine decay to 10%)."})
    checkpoint_every: int = field(default=250, metadata={"help": "Checkpoint every N steps."})
    seed: int = field(default=0, metadata={"help": "Seed of the samples and the initialisation (the held-out ones use another)."})

    def loop(self, **extra):
        """The shared loop's settings for this run."""
        from .loop import TrainConfig

        return TrainConfig(self.output_dir, self.steps, batch_size=self.batch_size, lr=self.lr, warmup_steps=50, lr_decay="cosine",
                           checkpoint_every=self.checkpoint_every, seed=self.seed, extra=extra)  # fmt: skip
