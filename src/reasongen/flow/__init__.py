"""Rectified flow, as Wan2.1 and CoF-T2I train and sample it.

x_s = (1 - s) x_0 + s e, with noise e and s in [0, 1]; the network predicts the velocity e - x_0
and is called with timestep 1000 s. Training draws s from a logit-normal (or uniform) density,
then applies the shift s -> shift s / (1 + (shift - 1) s) that Wan uses at inference, so training
and sampling see the same noise levels. Sampling runs a diffusers scheduler (Euler or UniPC, both
in flow mode) with classifier-free guidance.
"""

from __future__ import annotations

from typing import Callable

import torch


def shift_sigmas(s: torch.Tensor, shift: float) -> torch.Tensor:
    return shift * s / (1 + (shift - 1) * s)


def sample_sigmas(batch: int, generator: torch.Generator, mode: str = "logit_normal", shift: float = 1.0,
                  logit_mean: float = 0.0, logit_std: float = 1.0) -> torch.Tensor:  # fmt: skip
    """Noise levels for a training batch, in (0, 1)."""
    if mode == "logit_normal":
        s = torch.sigmoid(logit_mean + logit_std * torch.randn(batch, generator=generator))
    elif mode == "uniform":
        s = torch.rand(batch, generator=generator)
    else:
        raise ValueError(f"unknown timestep sampling {mode!r}; use logit_normal or uniform")
    return shift_sigmas(s, shift).clamp(1e-4, 1 - 1e-4)


def add_noise(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    s = sigma.view(-1, *([1] * (x0.dim() - 1))).to(x0)
    return (1 - s) * x0 + s * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    return noise - x0


def min_snr_weight(sigma: torch.Tensor, gamma: float = 5.0) -> torch.Tensor:
    """Min-SNR-gamma (Hang et al. 2023) restated for the velocity loss of rectified flow. With
    SNR = ((1 - s) / s)^2 the x0 error is s times the velocity error, so min(SNR, gamma) on the x0
    loss is min(SNR, gamma) s^2 = min((1 - s)^2, gamma s^2) on the velocity loss: the clean end is
    capped as in the paper, and the pure-noise end, where x0 cannot be known, weighs little."""
    return torch.minimum((1 - sigma) ** 2, gamma * sigma**2)


def flow_loss(model_fn: Callable, x0: torch.Tensor, generator: torch.Generator, shift: float = 1.0,
              mode: str = "logit_normal", weights: torch.Tensor | None = None, weighting: str = "none") -> torch.Tensor:  # fmt: skip
    """MSE between predicted and true velocity. `model_fn(x_t, timestep)` with timestep = 1000 s.
    `weights` (broadcastable to x0) weighs positions, e.g. to train on some frames only;
    `weighting="min_snr"` weighs each sample by its noise level (`min_snr_weight`). Weighted losses
    are normalised by the weights' sum, so their scale stays that of the plain mean."""
    sigma = sample_sigmas(x0.shape[0], generator, mode, shift).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0)
    pred = model_fn(add_noise(x0, noise, sigma), sigma * 1000)
    err = (pred.float() - velocity_target(x0, noise).float()) ** 2
    if weighting == "min_snr":
        per_sample = min_snr_weight(sigma).view(-1, *([1] * (x0.dim() - 1)))
        weights = per_sample if weights is None else weights * per_sample
    elif weighting != "none":
        raise ValueError(f"unknown loss weighting {weighting!r}; use none or min_snr")
    if weights is None:
        return err.mean()
    w = weights.expand_as(err)
    return (err * w).sum() / w.sum()


def make_scheduler(name: str = "unipc", shift: float = 5.0):
    """A diffusers scheduler in flow mode: `euler` (FlowMatchEulerDiscrete) or `unipc` (Wan's default)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

    if name == "euler":
        return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
    if name == "unipc":
        return UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=shift
        )
    raise ValueError(f"unknown sampler {name!r}; use euler or unipc")


@torch.no_grad()
def sample(model_fn: Callable, latents: torch.Tensor, scheduler, steps: int, guidance_scale: float = 1.0,
           cond=None, uncond=None, progress: Callable | None = None, batch_guidance: bool = False) -> torch.Tensor:  # fmt: skip
    """Integrate from noise `latents` to data. `model_fn(x, timestep, context)` predicts velocity;
    with guidance > 1 it is called on the conditional and unconditional contexts, combined as
    v_u + g (v_c - v_u). With `batch_guidance` the two contexts (tensors of one shape) go through
    `model_fn` as one batch of twice the size: one call a step instead of two, the same result up
    to float rounding, and twice the activation memory."""
    scheduler.set_timesteps(steps, device=latents.device)
    x = latents
    for t in scheduler.timesteps:
        ts = t.expand(x.shape[0]).to(x.device)
        if guidance_scale == 1.0:
            v = model_fn(x, ts, cond)
        else:
            if batch_guidance:
                v, v_u = model_fn(torch.cat([x, x]), torch.cat([ts, ts]), torch.cat([cond, uncond])).chunk(2)
            else:
                v, v_u = model_fn(x, ts, cond), model_fn(x, ts, uncond)
            v = v_u + guidance_scale * (v - v_u)
        x = scheduler.step(v, t, x, return_dict=False)[0]
        if progress:
            progress()
    return x
