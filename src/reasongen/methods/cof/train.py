"""Training a Wan DiT on CoF chains with the rectified-flow loss (all frames denoised jointly).

The three variants share everything but their latents: `cof` (three frame-wise latent frames),
`target` (the final frame alone: the target-only baseline, at the same steps and batch) and
`continuous` (the padded chain as one clip). Prompts carry the configurable system-prompt prefix,
as at inference, and are dropped (replaced by the empty prompt) with probability 0.1 so that
classifier-free guidance has an unconditional model.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ...backbones.text import PromptCache
from ...flow import flow_loss
from .config import CoFTrainConfig  # the settings, with their help


class CoFTask:
    def __init__(self, prompt_cache: PromptCache, shift: float = 1.0, drop_prob: float = 0.1, timesteps: str = "logit_normal"):
        self.prompts, self.shift, self.drop_prob, self.timesteps = prompt_cache, shift, drop_prob, timesteps

    def loss(self, model, batch, generator):
        x0, prompts = batch
        keep = torch.rand(len(prompts), generator=generator) >= self.drop_prob
        ctx = self.prompts([p if k else "" for p, k in zip(prompts, keep.tolist())])
        device = next(model.parameters()).device
        x0, ctx = x0.to(device), ctx.to(device)
        loss = flow_loss(lambda x, t: model(x, t, ctx, return_dict=False)[0], x0, generator, self.shift, self.timesteps)
        return loss, {}


def train_cof(cfg: CoFTrainConfig, progress: bool = True):
    """Train (or resume) a Wan DiT on CoF chains, or a baseline variant; returns the CoFPipeline,
    saved (fp16) in `output_dir/pipeline`."""
    from ...backbones.lora import has_lora, lora_for_training
    from ...backbones.text import load_text_encoder
    from ...backbones.wan import build_transformer, get_preset, load_vae
    from ...train.loop import TrainConfig, train
    from .data import ChainLatents
    from .pipeline import CoFPipeline

    cfg.check()
    p = get_preset(cfg.preset)
    dataset = ChainLatents(cfg.data, cfg.variant)
    text_device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(cfg.seed)
    channels = dataset.latents.shape[1]
    base_model, shift, sample_steps = None, p.flow_shift, p.sample_steps
    if cfg.init_from is None:
        transformer = build_transformer(p, in_channels=channels, out_channels=channels)
        text_encoder = load_text_encoder(p.text_encoder, device=text_device)
    else:
        # a frozen base under a LoRA can sit in bf16; a DiT trained whole keeps fp32 master weights
        dtype = torch.bfloat16 if cfg.lora_rank and cfg.mixed_precision == "bf16" else torch.float32
        try:
            start = CoFPipeline.from_pretrained(cfg.init_from, dtype=dtype)
        except (ValueError, OSError) as e:
            raise ValueError(f"--init-from {cfg.init_from}: {e}") from None
        transformer, text_encoder, base_model = start.transformer, start.text_encoder, start.base_model
        shift, sample_steps = start.config["flow_shift"], start.config["num_inference_steps"]
        text_encoder.model.to(text_device)
        if transformer.config.in_channels != channels:
            raise ValueError(f"--init-from {cfg.init_from}: its DiT takes {transformer.config.in_channels} latent channels, the data in "
                             f"{cfg.data} has {channels}: encode the data with that checkpoint's VAE (reasongen cof data --vae {cfg.init_from}/vae)")  # fmt: skip
    shift = shift if cfg.flow_shift is None else cfg.flow_shift
    loop = TrainConfig(cfg.output_dir, cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, warmup_steps=min(200, cfg.steps // 10),
                       lr_decay="cosine", ema_decay=cfg.ema, checkpoint_every=cfg.checkpoint_every, seed=cfg.seed,
                       mixed_precision=cfg.mixed_precision,
                       extra={"variant": cfg.variant, "preset": cfg.preset, "system_prompt": cfg.system_prompt, "flow_shift": shift,
                              "init_from": str(cfg.init_from), "lora_rank": cfg.lora_rank, "lora_alpha": cfg.lora_alpha})  # fmt: skip
    if lora_for_training(transformer, cfg.lora_rank, cfg.lora_alpha):
        base_model = cfg.init_from  # else a LoRA pipeline trains on as a LoRA over the same base
    if cfg.gradient_checkpointing:
        transformer.enable_gradient_checkpointing()
    task = CoFTask(PromptCache(text_encoder, cfg.system_prompt), shift=shift)
    transformer = train(transformer, task, dataset, loop, progress)
    if not has_lora(transformer):
        transformer = transformer.float()
    pipe = CoFPipeline(transformer.cpu(), load_vae(cfg.vae), text_encoder, num_frames=1 if cfg.variant == "target" else 3,
                       encoding="continuous" if cfg.variant == "continuous" else "framewise", system_prompt=cfg.system_prompt,
                       flow_shift=shift, num_inference_steps=sample_steps, height=dataset.size, width=dataset.size,
                       base_model=base_model)  # fmt: skip
    pipe.save_pretrained(Path(cfg.output_dir) / "pipeline", dtype=torch.float16)
    return pipe
