"""The settings of CoF training (`train.py`), each with its command-line help.

A field's `help` is what `reasongen train cof --help` shows: the command's options are generated
from these fields (`cli/common.py: config_options`), so a setting is declared once. `path`: given as
a path on the command line. This module imports nothing heavy, so that the command line starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CoFTrainConfig:
    data: str = field(metadata={"help": "Folder from `reasongen cof data`.", "path": True})
    vae: str = field(metadata={"help": "The VAE the data was encoded with (shipped inside the pipeline).", "path": True})
    output_dir: str = field(metadata={"help": "Run folder: checkpoints/, log.jsonl, and pipeline/ at the end.", "path": True})
    variant: str = field(default="cof", metadata={"help": "cof (3 frame-wise frames), target (final frame only) or continuous."})
    preset: str = field(default="shapes", metadata={"help": "Transformer preset."})
    steps: int = field(default=4000, metadata={"help": "Optimiser steps."})
    batch_size: int = field(default=64, metadata={"help": "Global batch."})
    lr: float = field(default=5e-4, metadata={"help": "Peak learning rate (AdamW, cosine decay)."})
    ema: float = field(default=0.999, metadata={"help": "EMA decay of the shipped weights."})
    system_prompt: str = field(default="", metadata={"help": "Prefix added to every prompt, at training and inference."})
    mixed_precision: str = field(default="no", metadata={"help": "no, or bf16 (GPUs, and CPUs with bf16 support; docs/cof.md gives the speed-up)."})
    checkpoint_every: int = field(default=250, metadata={"help": "Checkpoint every N steps."})
    seed: int = field(default=0, metadata={"help": "Seed."})
    init_from: str | None = field(default=None, metadata={"path": True, "help": (
        "Start from this pipeline's transformer and text encoder: a CoF pipeline (to train a saved model further) or a local diffusers "
        "Wan2.1-T2V folder (real scale; --preset is then unused). A resumable checkpoint in --output-dir wins.")})
    flow_shift: float | None = field(default=None, metadata={"help": (
        "Timestep shift in training and in the saved pipeline's sampling (default: --init-from's, else the preset's).")})
    lora_rank: int = field(default=0, metadata={"help": (
        "0: train the whole DiT. R > 0: freeze it and train a rank-R LoRA through PEFT (needs --init-from; the pipeline saves the "
        "adapter and the base's path).")})
    lora_alpha: float | None = field(default=None, metadata={"help": "LoRA alpha (default: the rank, a scale of 1)."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": (
        "Recompute the DiT's blocks in the backward pass: less memory, about a third more time (large models).")})

    def check(self) -> None:
        from .data import VARIANTS

        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; choose from {', '.join(VARIANTS)}")
        if self.lora_alpha is not None and not self.lora_rank:
            raise ValueError(f"--lora-alpha {self.lora_alpha} scales a LoRA: add --lora-rank")
        if self.flow_shift is not None and self.flow_shift <= 0:
            raise ValueError(f"--flow-shift {self.flow_shift}: must be positive (1 = no shift)")
        if self.lora_rank and self.init_from is None:
            raise ValueError(f"--lora-rank {self.lora_rank} adapts a trained DiT: pass --init-from (a CoF pipeline or a diffusers Wan2.1-T2V folder)")
