"""Training the Janus model on ShapesWorld: the plain base's pretraining, T2I-R1's supervised
fine-tuning, and BiCoT-GRPO.

Pretraining (`stage="pretrain"`) stands in for Janus-Pro's own, since no pretrained Janus of this
world exists: text-to-image (prompt -> image tokens, with Janus's unconditional rows for guidance)
mixed with understanding (image -> its description, the image entering through the understanding
encoder), as Janus trains one model on both. Janus-Pro's Stage II trains on text-to-image data and
its Stage III mixes understanding, pure text and generation 5:1:4; ShapesWorld has no text corpus,
and its goal here is drawing, so captioning takes `p_caption` (default 1/4) of the samples: our
choice, not the paper's.

Supervised fine-tuning: each sample is laid out one of three ways: with its CoT (probability 1 - p_direct - p_uncond: the
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
from ...train.data import object_weights
from .config import REAL_EXPERTS, SHAPES_EXPERTS, T2IR1TrainConfig  # noqa: F401  (the settings, with their help)
from .format import SequenceFormat


def image_loss(janus: JanusT2I, prefixes, codes, objects, object_weight: float) -> torch.Tensor:
    """Cross-entropy of the image tokens after their prefixes; tokens an object touches weigh
    `object_weight` against the ground's 1 (the object-weighted loss of the shapes-wan study)."""
    logp = janus.image_logprobs(prefixes, codes, "cond")
    if object_weight == 1:
        return -logp.mean()
    weights = object_weights(objects.to(logp.device), object_weight)
    return -(logp * weights).sum() / weights.sum()


class JanusPretrainTask:
    def __init__(self, tokenizer, fmt: SequenceFormat, p_caption: float = 0.25, p_uncond: float = 0.1, object_weight: float = 1.0):
        if not (0 <= p_caption and 0 <= p_uncond and p_caption + p_uncond < 1):
            raise ValueError(f"p_caption {p_caption} and p_uncond {p_uncond} must be >= 0 and leave room for text-to-image samples")
        self.tokenizer, self.fmt, self.p_caption, self.p_uncond, self.object_weight = tokenizer, fmt, p_caption, p_uncond, object_weight

    def loss(self, model, batch, generator):
        janus = JanusT2I(getattr(model, "module", model), self.tokenizer)
        u = torch.rand(len(batch["prompts"]), generator=generator)
        caption, draw = (u < self.p_caption).nonzero()[:, 0].tolist(), (u >= self.p_caption).nonzero()[:, 0].tolist()
        loss, logs = torch.zeros((), device=janus.device), {}
        if draw:
            prefixes = [self.fmt.image_prefix(batch["prompts"][i], None) for i in draw]
            prefixes = [janus.uncond_prefix(p) if u[i] < self.p_caption + self.p_uncond else p for p, i in zip(prefixes, draw)]
            image = image_loss(janus, prefixes, batch["codes"][draw], batch["objects"][draw], self.object_weight)
            loss, logs["image_ce"] = loss + image, image.item()
        if caption:
            prefix = self.fmt.caption_prefix(janus.understanding_tokens)
            completions = [self.fmt.cot_ids(batch["captions"][i]) for i in caption]  # a caption is written as a CoT is
            logp, mask = janus.text_logprobs([prefix] * len(caption), completions, images=batch["images"][caption])
            text = -(logp * mask).sum() / mask.sum()
            loss, logs["caption_ce"] = loss + text, text.item()
        return loss, logs


class BiCoTSFTTask:
    def __init__(self, tokenizer, fmt: SequenceFormat, p_direct: float = 0.2, p_uncond: float = 0.1, cot_weight: float = 1.0,
                 object_weight: float = 1.0):  # fmt: skip
        if not (0 <= p_direct and 0 <= p_uncond and p_direct + p_uncond < 1):
            raise ValueError(f"p_direct {p_direct} and p_uncond {p_uncond} must be >= 0 and leave room for CoT samples")
        self.tokenizer, self.fmt, self.p_direct, self.p_uncond, self.cot_weight = tokenizer, fmt, p_direct, p_uncond, cot_weight
        self.object_weight = object_weight

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
        image = image_loss(janus, prefixes, batch["codes"], batch.get("objects"), self.object_weight)
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
    """Pretraining, supervised fine-tuning or BiCoT-GRPO; returns the T2IR1Pipeline, saved (fp16) in
    `output_dir/pipeline`. The VQ tokenizer is trained on its own and stays frozen; the understanding
    encoder trains in pretraining only (T2I-R1 does not use it); in GRPO the generation embedding,
    aligner and head stay frozen too, as T2I-R1's."""
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
    if cfg.stage == "pretrain" and not dataset.has_pretraining_parts:
        raise ValueError(f"{cfg.data} was built before records kept their renders and captions; rebuild it with `reasongen t2i-r1 data`")
    if cfg.object_weight != 1 and dataset.objects is None:
        raise ValueError(f"--object-weight needs the objects' token masks, which {cfg.data} lacks; rebuild it with `reasongen t2i-r1 data`")
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
    model.model.vqmodel.requires_grad_(False)  # the tokenizer is trained on its own
    if cfg.stage != "pretrain":  # T2I-R1 does not use understanding
        model.model.vision_model.requires_grad_(False)
        model.model.aligner.requires_grad_(False)
    extra = {"stage": cfg.stage, "preset": cfg.preset, "object_weight": cfg.object_weight}
    if cfg.stage == "pretrain":
        task, data = JanusPretrainTask(tokenizer, fmt, cfg.p_caption, object_weight=cfg.object_weight), dataset
        extra["p_caption"] = cfg.p_caption
    elif cfg.stage == "sft":
        task, data = BiCoTSFTTask(tokenizer, fmt, object_weight=cfg.object_weight), dataset
    else:
        for part in ("generation_embeddings", "generation_aligner", "generation_head"):
            getattr(model.model, part).requires_grad_(False)
        reference_model = copy.deepcopy(model).eval().requires_grad_(False)

        def policy_of(m):
            return BiCoTPolicy(JanusT2I(getattr(m, "module", m), tokenizer), fmt, levels=cfg.levels, use_cot=cfg.use_cot,
                               guidance=cfg.guidance, branch=cfg.branch, max_cot_tokens=start.config["max_cot_tokens"])  # fmt: skip

        reference = policy_of(reference_model)
        task = GRPOTask(policy_of, reward_ensemble(cfg), group_size=cfg.group_size, beta=cfg.beta, reference=reference,
                        inner_iterations=cfg.inner_iterations, clip_eps=cfg.clip_eps)  # fmt: skip
        data = dataset.metadata_batches()
        extra.update(levels=cfg.levels, use_cot=cfg.use_cot, rewards=list(cfg.rewards), group_size=cfg.group_size, beta=cfg.beta,
                     branch=cfg.branch)  # fmt: skip
    supervised = cfg.stage != "grpo"  # pretrain and sft share one schedule
    lr = cfg.lr if cfg.lr is not None else 5e-4 if supervised else 5e-5
    loop = TrainConfig(cfg.output_dir, cfg.steps, batch_size=cfg.batch_size, lr=lr, warmup_steps=min(200, cfg.steps // 10) if supervised else 0,
                       lr_decay="cosine" if supervised else "constant", checkpoint_every=cfg.checkpoint_every, seed=cfg.seed,
                       mixed_precision=cfg.mixed_precision, find_unused_parameters=True, keep_last=cfg.keep_last, extra=extra,
                       time_budget=None if cfg.time_budget is None else 60 * cfg.time_budget)  # fmt: skip
    model = train(model, task, data, loop, progress)
    pipe = T2IR1Pipeline(model.float().cpu(), tokenizer, format=fmt_kind)
    pipe.save_pretrained(Path(cfg.output_dir) / "pipeline", dtype=torch.float16)
    return pipe
