"""Multi-task joint training of the four MCoT steps on one FoXperts model (FoX, Stage III).

The paper trains planning+acting, reflection and correction as separate tasks mixed 1:1:1, so no
consistent four-step tuples are needed; here each optimiser step is one task, in turn:

- `plan_act`: text `prompt </s> caption </s> layout </s>` then the noised target image. The
  language-model loss is on the plan tokens (the prompt is given), the rectified-flow loss on the
  image; both come from one forward, since the image attends to the plan before it. With
  probability `direct_prob` the plan is left out (prompt -> image: the direct T2I the ablation's
  first row needs), and with `drop_prob` the prompt too (the unconditional branch of guidance).
- `reflect`: `prompt </s>` then the clean flawed image; the heatmap head is trained with binary
  cross-entropy against the exact flaw mask (empty for a flawless image).
- `correct`: `prompt </s> caption </s> layout </s>`, the flawed image with the mask blanked (its
  tokens marked by the masked share), then the noised target; the flow loss on the target.

Rectified flow is the project's one implementation (`flow/`, Wan's convention x_s = (1-s) x0 + s e;
FoX writes the same interpolation with t = 1 - s). The weight of the language-model loss relative to
the flow loss is ours (`lm_weight`, 1.0 by default): the paper does not give one.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ...backbones.foxperts import ImageSegment, TextSegment
from ...flow import flow_loss
from .config import TASKS, FoXTrainConfig  # the settings, with their help
from .inputs import IGNORE, encode_texts, plan_parts  # noqa: F401  (IGNORE: the labels' pad)


class MCoTTask:
    def __init__(self, tokenizer, shift: float = 1.0, drop_prob: float = 0.1, direct_prob: float = 0.25,
                 lm_weight: float = 1.0, tasks: tuple[str, ...] = TASKS, pixels_per_latent: int = 4):  # fmt: skip
        unknown = [t for t in tasks if t not in TASKS]
        if unknown or not tasks:
            raise ValueError(f"unknown MCoT tasks {unknown or tasks}; choose from {', '.join(TASKS)}")
        self.tokenizer, self.shift, self.drop_prob, self.direct_prob = tokenizer, shift, drop_prob, direct_prob
        self.lm_weight, self.tasks, self.pixels_per_latent = lm_weight, tuple(tasks), pixels_per_latent
        self.kind = self.tasks[0]

    def set_step(self, step: int) -> None:
        self.kind = self.tasks[step % len(self.tasks)]

    def loss(self, model, batch, generator):
        device = next(model.parameters()).device
        return getattr(self, "_" + self.kind)(model, batch, generator, device)

    def _plan_act(self, model, batch, generator, device):
        texts = []
        for p, c, lay, u in zip(batch["prompt"], batch["caption"], batch["layout"], torch.rand(len(batch["prompt"]), generator=generator).tolist()):
            texts.append([""] if u < self.drop_prob else [p] if u < self.drop_prob + self.direct_prob else plan_parts(p, c, lay))
        ids, valid, labels = encode_texts(self.tokenizer, texts, learn_from=1)
        ids, valid, labels = ids.to(device), valid.to(device), labels.to(device)
        seen = {}

        def velocity(x, t):
            text_logits, v = model([TextSegment(ids, valid), ImageSegment(x, timestep=t)])
            seen["logits"] = text_logits
            return v

        flow = flow_loss(velocity, batch["target"].to(device), generator, self.shift)
        lm = self._lm_loss(seen["logits"], labels)
        return flow + self.lm_weight * lm, {"act_flow": flow.item(), "plan_lm": lm.item()}

    @staticmethod
    def _lm_loss(logits, labels):
        target = labels[:, 1:]
        if not (target != IGNORE).any():
            return logits.sum() * 0.0
        return F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE)

    def _reflect(self, model, batch, generator, device):
        ids, valid, _ = encode_texts(self.tokenizer, [[p] for p in batch["prompt"]])
        heat = model([TextSegment(ids.to(device), valid.to(device)), ImageSegment(batch["flawed"].to(device))])[1]
        bce = F.binary_cross_entropy_with_logits(heat[:, 0].float(), batch["mask"].to(device))
        return bce, {"reflect_bce": bce.item()}

    def _correct(self, model, batch, generator, device):
        texts = [plan_parts(p, c, lay) for p, c, lay in zip(batch["prompt"], batch["caption"], batch["layout"])]
        ids, valid, _ = encode_texts(self.tokenizer, texts)
        ids, valid = ids.to(device), valid.to(device)
        masked = F.avg_pool2d(batch["mask"][:, None].to(device), self.pixels_per_latent)[:, 0]  # share per latent pixel
        context = ImageSegment(batch["blanked"].to(device), masked=masked)

        def velocity(x, t):
            return model([TextSegment(ids, valid), context, ImageSegment(x, timestep=t)])[2]

        flow = flow_loss(velocity, batch["target"].to(device), generator, self.shift)
        return flow, {"correct_flow": flow.item()}


def train_fox(cfg: FoXTrainConfig, progress: bool = True):
    """Train one FoXperts model on planning+acting, reflection and correction; returns the
    FoXPipeline, saved (fp16) in `output_dir/pipeline`."""
    from ...backbones.foxperts import build_foxperts
    from ...backbones.text import shapes_tokenizer
    from ...backbones.wan import load_vae
    from ...train.loop import TrainConfig, train
    from .. import load_transformer_weights
    from .data import MCoTRecords
    from .pipeline import FoXPipeline

    tokenizer = shapes_tokenizer()
    fvae = load_vae(cfg.vae)
    dataset = MCoTRecords(cfg.data)
    task = MCoTTask(tokenizer, lm_weight=cfg.lm_weight, tasks=tuple(cfg.tasks), pixels_per_latent=fvae.spatial)
    torch.manual_seed(cfg.seed)
    model = build_foxperts(cfg.preset, vocab_size=len(tokenizer), experts=cfg.experts, pad_token_id=tokenizer.pad_token_id)
    if cfg.init_from is not None:
        load_transformer_weights(model, cfg.init_from)
    loop = TrainConfig(cfg.output_dir, cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, warmup_steps=min(200, cfg.steps // 10),
                       lr_decay="cosine", ema_decay=cfg.ema, checkpoint_every=cfg.checkpoint_every, seed=cfg.seed,
                       mixed_precision=cfg.mixed_precision, find_unused_parameters=True,
                       extra={"experts": cfg.experts, "preset": cfg.preset, "tasks": ",".join(cfg.tasks), "lm_weight": cfg.lm_weight})  # fmt: skip
    model = train(model, task, dataset, loop, progress)
    pipe = FoXPipeline(model.float().cpu(), fvae, tokenizer, height=dataset.size, width=dataset.size)
    pipe.save_pretrained(Path(cfg.output_dir) / "pipeline", dtype=torch.float16)
    return pipe
