"""FoX's three training stages on one FoXperts model: text-to-image (Stage I), generation mixed with
understanding (Stage II), and the multi-task joint training of the MCoT steps (Stage III).

The paper trains planning+acting, reflection and correction as separate tasks mixed 1:1:1, so no
consistent four-step tuples are needed; here each optimiser step is one task, in turn, in every stage.
Stages I and II:

- `t2i`: `prompt </s>` then the noised target image, the rectified-flow loss (with `drop_prob` the
  prompt is left out: the unconditional branch of guidance).
- `caption`: the clean target image, then `</s> caption </s>` (the opening end-of-text marks where
  the image ends); the language-model loss on the caption, which `world.describe` writes.
- `vqa`: the clean target image, then `question </s> answer </s>` (`world.questions`); the
  language-model loss on the answer.

Clean images go to the semantic-visual expert, so Stage II is where it first learns; the paper mixes
its Stage II data without giving ratios, and the 1:1:1 turn is our choice. Stage III:

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
from ...train.data import object_weights
from .config import ALL_TASKS, TASKS, FoXTrainConfig  # the settings, with their help
from .inputs import IGNORE, encode_texts, plan_parts  # noqa: F401  (IGNORE: the labels' pad)


class MCoTTask:
    def __init__(self, tokenizer, shift: float = 1.0, drop_prob: float = 0.1, direct_prob: float = 0.25,
                 lm_weight: float = 1.0, tasks: tuple[str, ...] = TASKS, pixels_per_latent: int = 4,
                 object_weight: float = 1.0):  # fmt: skip
        unknown = [t for t in tasks if t not in ALL_TASKS]
        if unknown or not tasks:
            raise ValueError(f"unknown FoX tasks {unknown or tasks}; choose from {', '.join(ALL_TASKS)}")
        self.tokenizer, self.shift, self.drop_prob, self.direct_prob = tokenizer, shift, drop_prob, direct_prob
        self.lm_weight, self.tasks, self.pixels_per_latent = lm_weight, tuple(tasks), pixels_per_latent
        self.object_weight = object_weight
        self.kind = self.tasks[0]

    def set_step(self, step: int) -> None:
        self.kind = self.tasks[step % len(self.tasks)]

    def loss(self, model, batch, generator):
        device = next(model.parameters()).device
        return getattr(self, "_" + self.kind)(model, batch, generator, device)

    def _flow(self, velocity, batch, generator, device):
        """The rectified-flow loss on the target; the cells its objects cover weigh `object_weight`
        against the ground's 1 (the object-weighted loss of the shapes-wan study)."""
        weights = None
        if self.object_weight != 1:
            weights = object_weights(batch["objects"].to(device), self.object_weight)[:, None]
        return flow_loss(velocity, batch["target"].to(device), generator, self.shift, weights=weights)

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

        flow = self._flow(velocity, batch, generator, device)
        lm = self._lm_loss(seen["logits"], labels)
        return flow + self.lm_weight * lm, {"act_flow": flow.item(), "plan_lm": lm.item()}

    def _t2i(self, model, batch, generator, device):
        texts = [[""] if u < self.drop_prob else [p] for p, u in zip(batch["prompt"], torch.rand(len(batch["prompt"]), generator=generator).tolist())]
        ids, valid, _ = encode_texts(self.tokenizer, texts)
        ids, valid = ids.to(device), valid.to(device)

        def velocity(x, t):
            return model([TextSegment(ids, valid), ImageSegment(x, timestep=t)])[1]

        flow = self._flow(velocity, batch, generator, device)
        return flow, {"t2i_flow": flow.item()}

    def _understand(self, model, batch, texts: list[list[str]], device):
        """Text after the clean target image, the language-model loss from part 1 on."""
        ids, valid, labels = encode_texts(self.tokenizer, texts, learn_from=1)
        logits = model([ImageSegment(batch["target"].to(device)), TextSegment(ids.to(device), valid.to(device))])[1]
        return self._lm_loss(logits, labels.to(device))

    def _caption(self, model, batch, generator, device):
        lm = self._understand(model, batch, [["", c] for c in batch["caption"]], device)
        return lm, {"caption_lm": lm.item()}

    def _vqa(self, model, batch, generator, device):
        lm = self._understand(model, batch, [[q, a] for q, a in zip(batch["question"], batch["answer"])], device)
        return lm, {"vqa_lm": lm.item()}

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

        flow = self._flow(velocity, batch, generator, device)
        return flow, {"correct_flow": flow.item()}


def train_fox(cfg: FoXTrainConfig, progress: bool = True):
    """Train one FoXperts model on a stage's tasks (`cfg.task_list`); returns the FoXPipeline, saved
    (fp16) in `output_dir/pipeline`."""
    from ...backbones.foxperts import build_foxperts
    from ...backbones.text import shapes_tokenizer
    from ...backbones.wan import load_vae
    from ...train.loop import TrainConfig, train
    from .. import load_transformer_weights
    from .data import MCoTRecords
    from .pipeline import FoXPipeline

    cfg.check()
    tokenizer = shapes_tokenizer()
    fvae = load_vae(cfg.vae)
    dataset = MCoTRecords(cfg.data)
    if "vqa" in cfg.task_list and "question" not in dataset.info:
        raise ValueError(f"{cfg.data} was built before records held visual questions; rebuild it with `reasongen fox data`")
    task = MCoTTask(tokenizer, lm_weight=cfg.lm_weight, tasks=cfg.task_list, pixels_per_latent=fvae.spatial, object_weight=cfg.object_weight)
    torch.manual_seed(cfg.seed)
    model = build_foxperts(cfg.preset, vocab_size=len(tokenizer), experts=cfg.experts, pad_token_id=tokenizer.pad_token_id)
    if cfg.init_from is not None:
        load_transformer_weights(model, cfg.init_from)
    loop = TrainConfig(cfg.output_dir, cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, warmup_steps=min(200, cfg.steps // 10),
                       lr_decay="cosine", ema_decay=cfg.ema, checkpoint_every=cfg.checkpoint_every, seed=cfg.seed,
                       mixed_precision=cfg.mixed_precision, find_unused_parameters=True,
                       time_budget=None if cfg.time_budget is None else 60 * cfg.time_budget,
                       extra={"experts": cfg.experts, "preset": cfg.preset, "stage": cfg.stage, "tasks": ",".join(cfg.task_list),
                              "lm_weight": cfg.lm_weight, "object_weight": cfg.object_weight})  # fmt: skip
    model = train(model, task, dataset, loop, progress)
    pipe = FoXPipeline(model.float().cpu(), fvae, tokenizer, height=dataset.size, width=dataset.size)
    pipe.save_pretrained(Path(cfg.output_dir) / "pipeline", dtype=torch.float16)
    return pipe
