"""The settings of ReasonDiff's training (`train.py`), each with its command-line help.

A field's `help` is what `reasongen train reasondiff --help` shows: the command's options are
generated from these fields (`cli/common.py: config_options`), so a setting is declared once.
`path`: given as a path on the command line; `flag`: the option's own names. This module imports
nothing heavy, so that the command line starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...train.config import SmallModelTrainConfig


@dataclass
class ReasonDiffTrainConfig:
    data: str = field(metadata={"help": "Folder from `reasongen reasondiff data`.", "path": True})
    vae: str = field(metadata={"help": "The VAE the data was encoded with (shipped inside the pipeline).", "path": True})
    output_dir: str = field(metadata={"help": "Run folder: checkpoints/, log.jsonl, and pipeline/ at the end.", "path": True})
    stage: int = field(default=1, metadata={"help": "1: the DiT and AlignFormer jointly on the flow loss; 2: AlignFormer alone, plus the auxiliary loss."})
    init_from: str | None = field(default=None, metadata={"path": True, "help": (
        "A ReasonDiff pipeline to start from (stage 2 starts from stage 1's), or a local diffusers Wan2.1-I2V folder (the real path: "
        "its DiT, VAE, umT5 and CLIP, a new AlignFormer; use with --lora-rank 16).")})
    preset: str = field(default="shapes", metadata={"help": "Transformer preset (its input channels become 2 x latent + mask)."})
    steps: int = field(default=4000, metadata={"help": "Optimiser steps."})
    batch_size: int = field(default=16, metadata={"help": "Global batch of clips."})
    lr: float = field(default=5e-4, metadata={"help": "Peak learning rate (AdamW, cosine decay)."})
    aux_weight: float = field(default=0.2, metadata={"help": "Stage 2: weight of ||c* - c||^2 (the paper's 0.2; 0 is the ablation without it)."})
    multi_frame: bool = field(default=True, metadata={"help": "Per-frame narratives, or the clip's caption in every frame (ablation).",
                                                      "flag": "--multi-frame/--single-prompt"})
    enhanced: bool = field(default=True, metadata={"help": "AlignFormer's per-frame latents, or the image at the anchor only (ablation)."})
    ema: float = field(default=0.999, metadata={"help": "EMA decay of the shipped weights."})
    mixed_precision: str = field(default="no", metadata={"help": "no, or bf16."})
    checkpoint_every: int = field(default=250, metadata={"help": "Checkpoint every N steps."})
    seed: int = field(default=0, metadata={"help": "Seed."})
    flow_shift: float | None = field(default=None, metadata={"help": "Timestep shift in training and sampling (default: --init-from's, else the preset's)."})
    anchor_mask: str | None = field(default=None, metadata={"help": (
        "How the anchor reaches the DiT: frame (Wan's per-frame mask, the image in its whole latent frame; a new model's default), "
        "frame-slot (the same mask, the image in its own frame's slot of frame-packed latents; measured no better, docs/reasondiff.md) "
        "or latent-frame (the mask on the whole latent frame, as the first model). With --init-from: the pipeline's own unless given.")})
    lora_rank: int = field(default=0, metadata={"help": (
        "Stage 1: 0 trains the whole DiT; R > 0 freezes it and trains a rank-R LoRA through PEFT beside AlignFormer, as the released "
        "code (rank 16); needs --init-from. The pipeline saves the adapter and the base's path.")})
    lora_alpha: float | None = field(default=None, metadata={"help": "LoRA alpha (default: the rank, as the released code's 16/16)."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute the DiT's blocks in the backward pass: less memory, more time (large models)."})
    text_attention: str | None = field(default=None, metadata={"help": (
        "Which narratives the DiT's cross-attention reads: all (every frame reads every frame's narrative, the released code's; a new "
        "model's default) or frame (each latent frame its own). With --init-from: the pipeline's own unless given.")})

    def wiring(self) -> list[tuple[str, str, str, str | None, tuple[str, ...]]]:
        """The DiT's two wiring settings: (option, model attribute, what it is, value given, choices)."""
        from .model import ANCHOR_MASKS, TEXT_ATTENTIONS

        return [("--anchor-mask", "anchor_mask", "anchor mask", self.anchor_mask, ANCHOR_MASKS),
                ("--text-attention", "text_attention", "text attention", self.text_attention, TEXT_ATTENTIONS)]  # fmt: skip

    def check(self) -> None:
        if self.stage not in (1, 2):
            raise ValueError(f"--stage {self.stage}: use 1 (DiT and AlignFormer) or 2 (AlignFormer alone)")
        if self.stage == 2 and self.init_from is None:
            raise ValueError("--stage 2 trains AlignFormer over a trained DiT: pass --init-from RUN/pipeline of stage 1")
        if self.lora_alpha is not None and not self.lora_rank:
            raise ValueError(f"--lora-alpha {self.lora_alpha} scales a LoRA: add --lora-rank")
        if self.lora_rank and (self.stage == 2 or self.init_from is None):
            raise ValueError(f"--lora-rank {self.lora_rank} adapts the DiT of a trained pipeline in stage 1: pass --init-from and "
                             "--stage 1 (stage 2 freezes the DiT)")  # fmt: skip
        for option, _, _, value, choices in self.wiring():
            if value is not None and value not in choices:
                raise ValueError(f"{option} {value}: choose {', '.join(choices)}")


@dataclass
class NarratorTrainConfig(SmallModelTrainConfig):
    """The small trained narrator (`trained_narrator.py`): where in the clip an image belongs."""

    frames: int = field(default=17, metadata={"help": "Clip length the narrator places images in (1 + 4k)."})
    heldout: int = field(default=1000, metadata={"help": "Fresh unpaired cases the finished narrator is measured on, beside the world's reasoner."})

    def check(self) -> None:
        from ...world.video import check_clip_length

        check_clip_length(self.frames)
        if self.heldout < 1:
            raise ValueError(f"--heldout {self.heldout}: give at least 1 case")
