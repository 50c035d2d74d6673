"""Training a Wan DiT on CoF chains with the rectified-flow loss (all frames denoised jointly).

The three variants share everything but their latents: `cof` (three frame-wise latent frames),
`target` (the final frame alone: the target-only baseline, at the same steps and batch) and
`continuous` (the padded chain as one clip). Prompts carry the configurable system-prompt prefix,
as at inference, and are dropped (replaced by the empty prompt) with probability 0.1 so that
classifier-free guidance has an unconditional model.
"""

from __future__ import annotations

import torch

from ...backbones.text import PromptCache  # noqa: F401  (the frozen text encoder's cache)
from ...flow import flow_loss


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
