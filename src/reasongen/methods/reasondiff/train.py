"""ReasonDiff's two training stages on the rectified-flow loss (the CoF machinery: `flow_loss`,
`PromptCache`, the shared loop).

- Stage 1 (joint): the DiT (or its LoRA) and AlignFormer on the flow loss.
- Stage 2: AlignFormer alone (the caller freezes the DiT), flow loss + 0.2 ||c* - c||^2 against the
  clip's true latents (`aux_latent_loss`, the paper's weight).

Classifier-free guidance drops the DiT's text context (each frame's narrative replaced by the empty
prompt) with probability 0.1; the condition `y`, built from the image and the narratives, stays, as
Wan's image-to-video keeps its image in both branches.

Ablations (the paper's): `multi_frame=False` gives every frame the clip's caption instead of its own
narrative; `enhanced=False` drops c* (the image at the anchor only); `aux_weight=0` drops the
auxiliary loss.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ...flow import flow_loss
from .alignformer import aux_latent_loss
from .config import ReasonDiffTrainConfig  # noqa: F401  (the settings: config.py, with their help)
from .data import encode_narratives
from .model import narrative_context


class ReasonDiffTask:
    def __init__(self, prompt_cache, temporal: int = 4, stage: int = 1, aux_weight: float = 0.2, shift: float = 1.0,
                 drop_prob: float = 0.1, timesteps: str = "logit_normal", multi_frame: bool = True, enhanced: bool = True):  # fmt: skip
        if stage not in (1, 2):
            raise ValueError(f"stage {stage}: ReasonDiff trains in stage 1 (joint) or 2 (AlignFormer with the auxiliary loss)")
        self.prompts, self.temporal, self.stage, self.aux_weight = prompt_cache, temporal, stage, aux_weight
        self.shift, self.drop_prob, self.timesteps = shift, drop_prob, timesteps
        self.multi_frame, self.enhanced = multi_frame, enhanced

    def loss(self, model, batch, generator):
        clips, cond, anchor_frame, narratives, captions, image_states = batch
        if not self.multi_frame:
            narratives = [[c] * len(n) for c, n in zip(captions, narratives)]
        device = next(model.parameters()).device
        grouped = encode_narratives(self.prompts, narratives, self.temporal).to(device)
        _, token_mask = narrative_context(grouped)
        keep = (torch.rand(len(clips), generator=generator) >= self.drop_prob).to(device)
        empty = self.prompts([""]).to(device)[:, None]  # (1, 1, L, D): the empty prompt in every frame
        context, _ = narrative_context(torch.where(keep.view(-1, 1, 1, 1), grouped, empty))
        clips, cond, anchor_frame = clips.to(device), cond.to(device), anchor_frame.to(device)
        image_states = None if image_states is None else image_states.to(device)  # an image-to-video DiT's CLIP input
        out = {}

        def velocity(x, t):
            v, out["c_star"] = model(x, t, context, cond, grouped, token_mask, anchor_frame, self.enhanced, image_states)
            return v

        loss = flow_loss(velocity, clips, generator, self.shift, self.timesteps)
        logs = {"flow": loss.item()}
        if self.stage == 2 and self.aux_weight and self.enhanced:
            aux = aux_latent_loss(out["c_star"], clips, self.aux_weight)
            loss, logs["aux"] = loss + aux, aux.item()
        return loss, logs


def train_reasondiff(cfg: ReasonDiffTrainConfig, progress: bool = True, say=print):
    """Train (or resume) ReasonDiff's stage 1 or 2; returns the ReasonDiffPipeline, saved (fp16) in
    `output_dir/pipeline`. Everything the data and the start can be checked for is checked before
    the first step; `say` is told what the run changes of its start."""
    from ...backbones.lora import has_lora, lora_for_training
    from ...backbones.text import PromptCache, load_text_encoder
    from ...backbones.wan import get_preset, load_vae
    from ...train.loop import TrainConfig, train
    from .data import PairLatents, clip_latent_channels
    from .model import build_reasondiff_model
    from .pipeline import ReasonDiffPipeline, is_t2v_base

    cfg.check()
    p = get_preset(cfg.preset)
    dataset = PairLatents(cfg.data)
    fvae = load_vae(cfg.vae)
    channels = clip_latent_channels(fvae, dataset.clip_latents)
    if channels != dataset.clips.shape[1]:  # refuse now, not after training
        raise ValueError(f"{cfg.vae} gives {channels}-channel {dataset.clip_latents} clip latents; "
                         f"{cfg.data} holds {dataset.clips.shape[1]}: pass the VAE the data was encoded with")  # fmt: skip
    if cfg.anchor_mask == "frame-slot" and dataset.clip_latents != "packed":
        raise ValueError(f"--anchor-mask frame-slot places the image in one frame of frame-packed latents; {cfg.data} holds "
                         f"{dataset.clip_latents} latents: use frame")  # fmt: skip
    text_device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(cfg.seed)
    base_model, image_encoder, shift = None, None, p.flow_shift
    if cfg.init_from is not None:
        # a frozen DiT under a LoRA can sit in bf16; AlignFormer, and a DiT trained whole, keep fp32 master weights
        dtype = torch.bfloat16 if cfg.lora_rank and cfg.mixed_precision == "bf16" else torch.float32
        from_base = is_t2v_base(cfg.init_from)
        if from_base and cfg.stage == 2:
            raise ValueError(f"--init-from {cfg.init_from} is a text-to-video base whose DiT has never read a condition: "
                             "train stage 1 from it first")  # fmt: skip
        if from_base and cfg.lora_rank:
            raise ValueError(f"--lora-rank {cfg.lora_rank}: from a text-to-video base the DiT's widened input layer must learn to read "
                             "the condition, which a LoRA leaves frozen at zero: train stage 1 from the base without --lora-rank")  # fmt: skip
        if from_base and dataset.clip_latents != "frames":
            raise ValueError(f"--init-from {cfg.init_from}: the base draws one latent frame per frame; {cfg.data} holds "
                             f"{dataset.clip_latents} clip latents: encode it with reasongen reasondiff data --clip-latents frames")  # fmt: skip
        try:  # a ReasonDiff pipeline, a diffusers Wan2.1-I2V folder, or a text-to-video base (`reasongen train wan`)
            if from_base:
                start = ReasonDiffPipeline.from_base(cfg.init_from, dataset.clips.shape[2], dtype=dtype)
                say(f"starting from the text-to-video base {cfg.init_from}: its DiT widened to read the anchor mask and condition "
                    "latents (zero weights), a new AlignFormer")  # fmt: skip
            else:
                start = ReasonDiffPipeline.from_pretrained(cfg.init_from, dtype=dtype)
        except (ValueError, OSError) as e:
            raise ValueError(f"--init-from {cfg.init_from}: {e}") from None
        model, base_model, image_encoder = start.model, start.base_model, start.image_encoder
        model.alignformer.float()
        text_encoder, shift = start.text_encoder, start.config["flow_shift"]
        text_encoder.model.to(text_device)
        if model.latent_channels != dataset.clips.shape[1]:
            raise ValueError(f"--init-from {cfg.init_from}: its model takes {model.latent_channels}-channel latents, {cfg.data} holds "
                             f"{dataset.clips.shape[1]}: encode the data with its VAE (reasongen reasondiff data --vae {cfg.init_from}/vae)")  # fmt: skip
        if model.image_context and dataset.image_states is None:
            raise ValueError(f"--init-from {cfg.init_from}: its DiT reads the condition image's CLIP features, which {cfg.data} lacks: "
                             f"add them with reasongen reasondiff data --out {cfg.data} --image-encoder {base_model or cfg.init_from} ...")  # fmt: skip
        for option, attr, what, value, _ in cfg.wiring():
            trained_with = getattr(model, attr)
            if value is not None and value != trained_with:
                if cfg.stage == 2:
                    raise ValueError(f"{option} {value}: stage 2 keeps the DiT that {cfg.init_from} trained with the {trained_with} "
                                     f"{what}; change the {what} in stage 1")  # fmt: skip
                say(f"the {what} changes from {trained_with} to {value}: the DiT learns it from here")
                setattr(model, attr, value)
    else:
        text_encoder = load_text_encoder(p.text_encoder, device=text_device)
        model = build_reasondiff_model(p, dataset.clips.shape[1], dataset.temporal, text_encoder.dim, cfg.anchor_mask or "frame",
                                       cfg.text_attention or "all")  # fmt: skip
    shift = shift if cfg.flow_shift is None else cfg.flow_shift
    task = ReasonDiffTask(PromptCache(text_encoder), dataset.temporal, cfg.stage, cfg.aux_weight, shift, multi_frame=cfg.multi_frame,
                          enhanced=cfg.enhanced)  # fmt: skip
    if lora_for_training(model.transformer, cfg.lora_rank, cfg.lora_alpha):
        base_model = cfg.init_from  # else a LoRA pipeline trains on as a LoRA over the same base
    if cfg.stage == 2:
        model.transformer.requires_grad_(False)  # AlignFormer alone
    if cfg.gradient_checkpointing:
        model.transformer.enable_gradient_checkpointing()
    loop = TrainConfig(cfg.output_dir, cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, warmup_steps=min(200, cfg.steps // 10),
                       lr_decay="cosine", ema_decay=cfg.ema, checkpoint_every=cfg.checkpoint_every, seed=cfg.seed,
                       mixed_precision=cfg.mixed_precision, find_unused_parameters=True,
                       extra={"stage": cfg.stage, "preset": cfg.preset, "aux_weight": cfg.aux_weight, "multi_frame": cfg.multi_frame,
                              "enhanced": cfg.enhanced, "flow_shift": shift, "init_from": str(cfg.init_from),
                              "anchor_mask": model.anchor_mask, "text_attention": model.text_attention, "lora_rank": cfg.lora_rank,
                              "lora_alpha": cfg.lora_alpha})  # fmt: skip
    model = train(model, task, dataset, loop, progress)
    frames = 1 + (dataset.clips.shape[2] - 1) * dataset.temporal
    if not has_lora(model.transformer):
        model.float()  # a LoRA's base stays as loaded; AlignFormer is fp32 already
    pipe = ReasonDiffPipeline(model.cpu(), fvae, text_encoder, num_frames=frames, flow_shift=shift,
                              height=dataset.size, width=dataset.size, clip_latents=dataset.clip_latents,
                              multi_frame=cfg.multi_frame, enhanced=cfg.enhanced, base_model=base_model, image_encoder=image_encoder)  # fmt: skip
    pipe.save_pretrained(Path(cfg.output_dir) / "pipeline", dtype=torch.float16)
    return pipe
