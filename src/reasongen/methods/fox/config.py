"""The settings of FoX training (`train.py`), each with its command-line help.

A field's `help` is what `reasongen train fox --help` shows: the command's options are generated
from these fields (`cli/common.py: config_options`), so a setting is declared once. `path`: given as
a path on the command line. This module imports nothing heavy, so that the command line starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TASKS = ("plan_act", "reflect", "correct")


@dataclass
class FoXTrainConfig:
    data: str = field(metadata={"help": "Folder from `reasongen fox data`.", "path": True})
    vae: str = field(metadata={"help": "The VAE the data was encoded with (shipped inside the pipeline).", "path": True})
    output_dir: str = field(metadata={"help": "Run folder: checkpoints/, log.jsonl, and pipeline/ at the end.", "path": True})
    experts: str = field(default="functional", metadata={"help": "Expert layout: functional (FoXperts), modality (text / image) or dense (one)."})
    preset: str = field(default="shapes", metadata={"help": "FoXperts preset."})
    tasks: tuple[str, ...] = TASKS  # taken in turn, one per step (FoX's 1:1:1 mix); the command line's --tasks is a comma list
    steps: int = field(default=6000, metadata={"help": "Optimiser steps."})
    batch_size: int = field(default=32, metadata={"help": "Global batch."})
    lr: float = field(default=5e-4, metadata={"help": "Peak learning rate (AdamW, cosine decay)."})
    lm_weight: float = field(default=1.0, metadata={"help": "Weight of the planning (language-model) loss beside the flow loss."})
    ema: float = field(default=0.999, metadata={"help": "EMA decay of the shipped weights."})
    mixed_precision: str = field(default="no", metadata={"help": "no, or bf16 (GPUs, and CPUs with bf16 support)."})
    checkpoint_every: int = field(default=250, metadata={"help": "Checkpoint every N steps."})
    seed: int = field(default=0, metadata={"help": "Seed."})
    init_from: str | None = field(default=None, metadata={"path": True, "help": (
        "Start from this pipeline's transformer; a resumable checkpoint in --output-dir wins.")})
