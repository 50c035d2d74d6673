"""Training a Wan DiT on CoF chains with the rectified-flow loss (all frames denoised jointly).

The three variants share everything but their latents: `cof` (three frame-wise latent frames),
`target` (the final frame alone: the target-only baseline, at the same steps and batch) and
`continuous` (the padded chain as one clip). Prompts carry the configurable system-prompt prefix,
as at inference, and are dropped (replaced by the empty prompt) with probability 0.1 so that
classifier-free guidance has an unconditional model.
"""

from __future__ import annotations

import torch

from ...flow import flow_loss


class PromptCache:
    """Text states by prompt, computed once (the text encoder is frozen)."""

    def __init__(self, text_encoder, system_prompt: str = ""):
        self.text_encoder, self.system_prompt, self.cache = text_encoder, system_prompt, {}

    def __call__(self, prompts: list[str]) -> torch.Tensor:
        # Outside any mixed-precision autocast: the frozen encoder runs as loaded, the cache is fp16.
        with torch.autocast("cpu", enabled=False):
            return self._states(prompts)

    def _states(self, prompts: list[str]) -> torch.Tensor:
        missing = [p for p in dict.fromkeys(prompts) if p not in self.cache]
        if missing:
            texts = [self.system_prompt + p if p else "" for p in missing]
            for p, e in zip(missing, self.text_encoder(texts).half()):
                self.cache[p] = e
        return torch.stack([self.cache[p] for p in prompts]).float()


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
