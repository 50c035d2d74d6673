"""The settings of FoX training (`train.py`), each with its command-line help.

A field's `help` is what `reasongen train fox --help` shows: the command's options are generated
from these fields (`cli/common.py: config_options`), so a setting is declared once. `path`: given as
a path on the command line. This module imports nothing heavy, so that the command line starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TASKS = ("plan_act", "reflect", "correct")  # Stage III, the MCoT: what a FoX model is trained for
# FoX's stages: I text-to-image, II generation mixed with understanding, III the MCoT tasks. Each
# stage starts from the one before (--init-from); a stage's tasks are taken in turn, one per step.
STAGE_TASKS = {1: ("t2i",), 2: ("t2i", "caption", "vqa"), 3: TASKS}
ALL_TASKS = ("t2i", "caption", "vqa") + TASKS


@dataclass
class FoXTrainConfig:
    data: str = field(metadata={"help": "Folder from `reasongen fox data`.", "path": True})
    vae: str = field(metadata={"help": "The VAE the data was encoded with (shipped inside the pipeline).", "path": True})
    output_dir: str = field(metadata={"help": "Run folder: checkpoints/, log.jsonl, and pipeline/ at the end.", "path": True})
    experts: str = field(default="functional", metadata={"help": "Expert layout: functional (FoXperts), modality (text / image) or dense (one)."})
    preset: str = field(default="shapes", metadata={"help": "FoXperts preset."})
    stage: int = field(default=3, metadata={"help": (
        "FoX's training stage: 1 text-to-image, 2 text-to-image with captioning and visual questions, 3 the MCoT tasks "
        "(planning and acting, reflection, correction). Start each from the one before with --init-from.")})
    tasks: tuple[str, ...] | None = None  # None: the stage's (STAGE_TASKS); the command line's --tasks is a comma list
    steps: int = field(default=6000, metadata={"help": "Optimiser steps."})
    batch_size: int = field(default=32, metadata={"help": "Global batch."})
    lr: float = field(default=5e-4, metadata={"help": "Peak learning rate (AdamW, cosine decay)."})
    object_weight: float = field(default=1.0, metadata={"help": (
        "Weight of the latent cells the target's objects cover in every flow loss, against 1 for the ground's (1: plain; "
        "the shapes-wan study found 8 best).")})
    lm_weight: float = field(default=1.0, metadata={"help": "Weight of the planning (language-model) loss beside the flow loss."})
    ema: float = field(default=0.999, metadata={"help": "EMA decay of the shipped weights."})
    mixed_precision: str = field(default="no", metadata={"help": "no, or bf16 (GPUs, and CPUs with bf16 support)."})
    checkpoint_every: int = field(default=250, metadata={"help": "Checkpoint every N steps."})
    seed: int = field(default=0, metadata={"help": "Seed."})
    init_from: str | None = field(default=None, metadata={"path": True, "help": (
        "Start from this pipeline's transformer; a resumable checkpoint in --output-dir wins.")})
    time_budget: float | None = field(default=None, metadata={"help": (
        "Minutes for this leg: it stops with a checkpoint (and writes the pipeline as it stands), and the same command resumes it.")})

    @property
    def task_list(self) -> tuple[str, ...]:
        return tuple(self.tasks) if self.tasks else STAGE_TASKS.get(self.stage, ())

    def check(self) -> None:
        if self.stage not in STAGE_TASKS:
            raise ValueError(f"--stage {self.stage}: choose 1 (text-to-image), 2 (with understanding) or 3 (the MCoT tasks)")
        if self.object_weight < 1:
            raise ValueError(f"--object-weight {self.object_weight}: give 1 (plain) or more")
        unknown = [t for t in self.task_list if t not in ALL_TASKS]
        if unknown:
            raise ValueError(f"unknown FoX tasks {unknown}; choose from {', '.join(ALL_TASKS)}")
