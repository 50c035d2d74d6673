"""The settings of T2I-R1 training (`train.py`), each with its command-line help.

A field's `help` is what `reasongen train t2i-r1 --help` shows: the command's options are generated
from these fields (`cli/common.py: config_options`), so a setting is declared once. `path`: given as
a path on the command line; `flag`: the option's own names. This module imports nothing heavy, so
that the command line starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...rewards.experts import REAL_EXPERTS, SHAPES_EXPERTS, check_experts  # noqa: F401  (the reward experts' names)


@dataclass
class T2IR1TrainConfig:
    data: str = field(metadata={"help": "Folder from `reasongen t2i-r1 data` (GRPO reads its prompts and metadata).", "path": True})
    output_dir: str = field(metadata={"help": "Run folder: checkpoints/, log.jsonl, and pipeline/ at the end.", "path": True})
    stage: str = field(default="sft", metadata={"help": (
        "pretrain (the plain Janus base: prompt -> image tokens, and image -> caption), sft (prompt -> CoT -> image tokens) "
        "or grpo (BiCoT-GRPO from --init-from).")})
    vq: str | None = field(default=None, metadata={"help": (
        "pretrain or sft from scratch: the VQ tokenizer the data was coded with (it goes inside the model)."), "path": True})
    init_from: str | None = field(default=None, metadata={"help": (
        "grpo (required), sft or pretrain: a Janus-style pipeline folder to start from (sft: the pretrained base)."), "path": True})
    preset: str = field(default="shapes", metadata={"help": "Janus preset (from scratch): shapes (8 x 8 image tokens) or shapes16 (16 x 16)."})
    p_caption: float = field(default=0.25, metadata={"help": (
        "pretrain: share of samples that are captioning (image -> its description) rather than text-to-image.")})
    object_weight: float = field(default=1.0, metadata={"help": (
        "pretrain and sft: weight of the image tokens an object touches in the image loss, against 1 for the ground's (1: plain).")})
    levels: str = field(default="both", metadata={"help": "grpo: what the loss trains: both (BiCoT), image (image tokens only) or cot (CoT only)."})
    use_cot: bool = field(default=True, metadata={"help": "grpo: sample a CoT before the image (off: the direct policy, with --levels image).",
                                                  "flag": "--cot/--no-cot"})
    rewards: tuple[str, ...] = ("detector", "attribute")  # the command line's --rewards is a comma list
    judge: str | None = field(default=None, metadata={"path": True, "help": (
        "grpo: the trained judge folder (`reasongen train judge`: RUN/judge), for the judge reward.")})
    detector_model: str | None = field(default=None, metadata={"path": True, "help": (
        "grpo: the trained detector folder (`reasongen train detector`: RUN/detector), for the learned-detector and "
        "learned-attribute rewards.")})
    expert_dirs: dict[str, str] = field(default_factory=dict)  # real-scale expert name -> local folder (--expert-dir NAME=FOLDER)
    group_size: int = field(default=8, metadata={"help": "grpo: samples per prompt (T2I-R1: 8)."})
    beta: float = field(default=0.01, metadata={"help": "grpo: weight of the k3 KL to the frozen initial model (T2I-R1: 0.01)."})
    inner_iterations: int = field(default=1, metadata={"help": "grpo: optimiser steps per rollout (1: on-policy, the official setting; more: PPO clipping)."})
    clip_eps: float = field(default=0.2, metadata={"help": "grpo: PPO clipping range (with --inner-iterations > 1)."})
    branch: str = field(default="cond", metadata={"help": "grpo: which distribution scores image tokens: cond (official) or cfg (the one sampled from)."})
    guidance: float = field(default=5.0, metadata={"help": "grpo: guidance when sampling image tokens (T2I-R1: 5)."})
    steps: int = field(default=3000, metadata={"help": "Optimiser steps."})
    batch_size: int = field(default=32, metadata={"help": "Global batch: samples for sft, prompts for grpo (each drawn --group-size times)."})
    lr: float | None = field(default=None, metadata={"help": (
        "Learning rate (default: pretrain and sft 5e-4 peak with cosine decay; grpo 5e-5 constant, as the ShapesWorld runs of docs/t2i-r1.md; "
        "T2I-R1 uses 1e-6 on the 7B).")})
    mixed_precision: str = field(default="no", metadata={"help": "no, or bf16."})
    time_budget: float | None = field(default=None, metadata={"help": (
        "Minutes for this leg: it stops with a checkpoint (and writes the pipeline as it stands), and the same command resumes it.")})
    checkpoint_every: int = field(default=250, metadata={"help": "Checkpoint every N steps."})
    keep_last: int = field(default=2, metadata={"help": "Checkpoints kept (0: all, for `reasongen t2i-r1 curve`)."})
    seed: int = field(default=0, metadata={"help": "Seed."})

    def check(self) -> None:
        if self.stage not in ("pretrain", "sft", "grpo"):
            raise ValueError(f"--stage {self.stage!r}: use pretrain, sft or grpo")
        if self.stage == "grpo" and self.init_from is None:
            raise ValueError("--stage grpo starts from a fine-tuned model: pass --init-from RUN/pipeline (from --stage sft)")
        if self.stage != "grpo" and self.init_from is None and self.vq is None:
            raise ValueError(f"--stage {self.stage} from scratch needs --vq (the tokenizer the data was coded with)")
        if not 0 <= self.p_caption < 1:
            raise ValueError(f"--p-caption {self.p_caption}: give a share in [0, 1) (the rest is text-to-image)")
        if self.object_weight < 1:
            raise ValueError(f"--object-weight {self.object_weight}: give 1 (plain) or more")
        check_experts(self.rewards, self.judge, self.detector_model, self.expert_dirs)
        if self.inner_iterations > 1 and self.checkpoint_every % self.inner_iterations:
            raise ValueError(f"--checkpoint-every {self.checkpoint_every} must be a multiple of --inner-iterations {self.inner_iterations}")
