"""Supervised fine-tuning of the Janus model on prompt -> CoT -> image tokens (T2I-R1's starting
point on ShapesWorld, where no pretrained Janus exists).

Each sample is laid out one of three ways: with its CoT (probability 1 - p_direct - p_uncond: the
CoT's tokens and the image tokens are both learnt), without a CoT (p_direct: prompt -> image, so the
same model is also the "direct generation without CoT" baseline), or as Janus's unconditional row
(p_uncond: every token but BOS and <begin_of_image> replaced by padding; classifier-free guidance
needs it). Loss: cross-entropy of the image tokens (generation head) plus `cot_weight` times that of
the CoT tokens (language-model head).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ...backbones.janus import JanusT2I
from .format import SequenceFormat


class BiCoTSFTTask:
    def __init__(self, tokenizer, fmt: SequenceFormat, p_direct: float = 0.2, p_uncond: float = 0.1, cot_weight: float = 1.0):
        if not (0 <= p_direct and 0 <= p_uncond and p_direct + p_uncond < 1):
            raise ValueError(f"p_direct {p_direct} and p_uncond {p_uncond} must be >= 0 and leave room for CoT samples")
        self.tokenizer, self.fmt, self.p_direct, self.p_uncond, self.cot_weight = tokenizer, fmt, p_direct, p_uncond, cot_weight

    def loss(self, model, batch, generator):
        janus = JanusT2I(getattr(model, "module", model), self.tokenizer)
        prefixes, with_cot = [], []
        for prompt, cot, u in zip(batch["prompts"], batch["cots"], torch.rand(len(batch["prompts"]), generator=generator).tolist()):
            if u < self.p_uncond:
                prefixes.append(janus.uncond_prefix(self.fmt.image_prefix(prompt, cot)))
            elif u < self.p_uncond + self.p_direct:
                prefixes.append(self.fmt.image_prefix(prompt, None))
            else:
                prefixes.append(self.fmt.image_prefix(prompt, cot))
                with_cot.append((prompt, cot))
        image = -janus.image_logprobs(prefixes, batch["codes"], "cond").mean()
        logs = {"image_ce": image.item()}
        loss = image
        if with_cot:
            logp, mask = janus.text_logprobs([self.fmt.cot_prefix(p) for p, _ in with_cot], [self.fmt.cot_ids(c) for _, c in with_cot])
            cot = -(logp * mask).sum() / mask.sum()
            loss = loss + self.cot_weight * cot
            logs["cot_ce"] = cot.item()
        return loss, logs


# Real-scale reward experts: name -> (module under rewards/, class), each read from a local folder.
REAL_EXPERTS = {"gdino": ("grounding", "GroundingDinoReward"), "vqa": ("vqa", "VQAReward"), "orm": ("orm", "OutcomeReward"),
                "clip": ("clip", "ClipScoreReward")}  # fmt: skip
SHAPES_EXPERTS = ("detector", "attribute", "judge")


@dataclass
class T2IR1TrainConfig:
    data: str  # a folder from `reasongen t2i-r1 data`
    output_dir: str
    stage: str = "sft"  # sft (prompt -> CoT -> image tokens) or grpo (BiCoT-GRPO from init_from)
    vq: str | None = None  # sft from scratch: the VQ tokenizer the data was coded with
    init_from: str | None = None  # grpo (required) or sft: a T2I-R1 pipeline folder
    preset: str = "shapes"
    levels: str = "both"  # grpo: both (BiCoT), image or cot
    use_cot: bool = True
    rewards: tuple[str, ...] = ("detector", "attribute")
    judge: str | None = None  # the trained judge folder, for the judge reward
    expert_dirs: dict[str, str] = field(default_factory=dict)  # real-scale expert name -> local folder
    group_size: int = 8  # T2I-R1: 8
    beta: float = 0.01  # k3 KL weight (T2I-R1: 0.01)
    inner_iterations: int = 1
    clip_eps: float = 0.2
    branch: str = "cond"
    guidance: float = 5.0
    steps: int = 3000
    batch_size: int = 32  # samples for sft, prompts for grpo
    lr: float | None = None  # default: sft 5e-4 (cosine), grpo 5e-5 (constant)
    mixed_precision: str = "no"
    checkpoint_every: int = 250
    keep_last: int = 2
    seed: int = 0

    def check(self) -> None:
        if self.stage not in ("sft", "grpo"):
            raise ValueError(f"--stage {self.stage!r}: use sft or grpo")
        if self.stage == "grpo" and self.init_from is None:
            raise ValueError("--stage grpo starts from a fine-tuned model: pass --init-from RUN/pipeline (from --stage sft)")
        if self.stage == "sft" and self.init_from is None and self.vq is None:
            raise ValueError("--stage sft from scratch needs --vq (the tokenizer the data was coded with)")
        unknown = [r for r in self.rewards if r not in SHAPES_EXPERTS + tuple(REAL_EXPERTS)]
        if unknown or not self.rewards:
            raise ValueError(f"--rewards {','.join(self.rewards)}: choose from {', '.join(SHAPES_EXPERTS + tuple(REAL_EXPERTS))}, comma-separated")
        if set(self.expert_dirs) - set(REAL_EXPERTS):
            raise ValueError(f"--expert-dir {sorted(self.expert_dirs)}: give NAME=FOLDER with NAME one of {', '.join(REAL_EXPERTS)}")
        for name in REAL_EXPERTS:
            if name in self.rewards and name not in self.expert_dirs:
                raise ValueError(f"--rewards {name} needs --expert-dir {name}=FOLDER (a local transformers checkpoint)")
        if "judge" in self.rewards and (self.judge is None or not (Path(self.judge) / "config.json").is_file()):
            raise ValueError(f"--rewards judge needs --judge DIR (a folder written by `reasongen train judge`), got {self.judge}")
        if self.inner_iterations > 1 and self.checkpoint_every % self.inner_iterations:
            raise ValueError(f"--checkpoint-every {self.checkpoint_every} must be a multiple of --inner-iterations {self.inner_iterations}")


def reward_ensemble(cfg: T2IR1TrainConfig):
    """The GRPO reward: the named experts, equal weights."""
    import importlib

    from ...rewards import RewardEnsemble
    from ...rewards.shapes import AttributeReward, DetectorReward

    def build(name):
        if name == "detector":
            return DetectorReward()
        if name == "attribute":
            return AttributeReward()
        if name == "judge":
            from ...rewards.judge import load_judge

            return load_judge(cfg.judge)
        module, cls = REAL_EXPERTS[name]
        device = "cuda" if torch.cuda.is_available() else "cpu"
        return getattr(importlib.import_module(f"reasongen.rewards.{module}"), cls)(cfg.expert_dirs[name], device=device)

    return RewardEnsemble({name: build(name) for name in cfg.rewards})


def train_t2i_r1(cfg: T2IR1TrainConfig, progress: bool = True):
    """Supervised fine-tuning or BiCoT-GRPO; returns the T2IR1Pipeline, saved (fp16) in `output_dir/pipeline`.
    Only the language model trains: the VQ tokenizer is trained on its own, the understanding
    encoder is unused, and in GRPO the generation embedding, aligner and head stay frozen, as T2I-R1's."""
    import copy

    from ...backbones.janus import build_janus
    from ...backbones.text import shapes_tokenizer
    from ...rl.grpo import GRPOTask
    from ...train.loop import TrainConfig, train
    from .data import BiCoTRecords
    from .pipeline import T2IR1Pipeline
    from .policy import BiCoTPolicy

    cfg.check()
    dataset = BiCoTRecords(cfg.data)
    if cfg.init_from is not None:
        start = T2IR1Pipeline.from_pretrained(cfg.init_from)
        model, tokenizer, fmt_kind = start.model, start.tokenizer, start.config["format"]
    else:
        from ...train.vq import load_vq

        tokenizer, fmt_kind = shapes_tokenizer(), "plain"
        torch.manual_seed(cfg.seed)
        model = build_janus(cfg.preset, tokenizer)
        model.model.vqmodel.load_state_dict(load_vq(cfg.vq).state_dict())
    fmt = SequenceFormat(tokenizer, fmt_kind)
    for part in ("vqmodel", "vision_model", "aligner"):  # the tokenizer is trained on its own; understanding is unused
        getattr(model.model, part).requires_grad_(False)
    extra = {"stage": cfg.stage, "preset": cfg.preset}
    if cfg.stage == "sft":
        task, data = BiCoTSFTTask(tokenizer, fmt), dataset
    else:
        for part in ("generation_embeddings", "generation_aligner", "generation_head"):
            getattr(model.model, part).requires_grad_(False)
        reference_model = copy.deepcopy(model).eval().requires_grad_(False)

        def policy_of(m):
            return BiCoTPolicy(JanusT2I(getattr(m, "module", m), tokenizer), fmt, levels=cfg.levels, use_cot=cfg.use_cot,
                               guidance=cfg.guidance, branch=cfg.branch)  # fmt: skip

        reference = policy_of(reference_model)
        task = GRPOTask(policy_of, reward_ensemble(cfg), group_size=cfg.group_size, beta=cfg.beta, reference=reference,
                        inner_iterations=cfg.inner_iterations, clip_eps=cfg.clip_eps)  # fmt: skip
        data = dataset.metadata_batches()
        extra.update(levels=cfg.levels, use_cot=cfg.use_cot, rewards=list(cfg.rewards), group_size=cfg.group_size, beta=cfg.beta,
                     branch=cfg.branch)  # fmt: skip
    sft = cfg.stage == "sft"
    lr = cfg.lr if cfg.lr is not None else 5e-4 if sft else 5e-5
    loop = TrainConfig(cfg.output_dir, cfg.steps, batch_size=cfg.batch_size, lr=lr, warmup_steps=min(200, cfg.steps // 10) if sft else 0,
                       lr_decay="cosine" if sft else "constant", checkpoint_every=cfg.checkpoint_every, seed=cfg.seed,
                       mixed_precision=cfg.mixed_precision, find_unused_parameters=True, keep_last=cfg.keep_last, extra=extra)  # fmt: skip
    model = train(model, task, data, loop, progress)
    pipe = T2IR1Pipeline(model.float().cpu(), tokenizer, format=fmt_kind)
    pipe.save_pretrained(Path(cfg.output_dir) / "pipeline", dtype=torch.float16)
    return pipe
