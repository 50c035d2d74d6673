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

from pathlib import Path

import torch

from ...backbones.janus import JanusT2I
from .config import REAL_EXPERTS, SHAPES_EXPERTS, T2IR1TrainConfig  # noqa: F401  (the settings, with their help)
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


def reward_ensemble(cfg: T2IR1TrainConfig):
    """The GRPO reward: the named experts, equal weights."""
    from ...rewards import RewardEnsemble
    from ...rewards.experts import build_experts

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return RewardEnsemble(build_experts(cfg.rewards, cfg.judge, cfg.detector_model, cfg.expert_dirs, device=device))


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
