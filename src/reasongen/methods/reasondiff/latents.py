"""Clip latents and per-frame text states: how a clip and its narratives reach the DiT, shared by
the training data and the pipeline.

Clips go through the VAE `packed` (each frame through the image VAE, grouped and stacked along
channels, docs/reasondiff.md), as `video` latents (a video VAE), or as `frames`: each frame through
the image VAE alone and kept as its own latent frame, the latents a frame-wise text-to-video base
(`shapes-wan`) is trained on, so ReasonDiff can start from it. Narratives are grouped per latent
frame as the released code groups them (one frame per latent frame with `frames`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open


def latent_index(pixel_index, temporal: int = 4):
    """The latent frame of a causal video VAE that holds pixel frame `pixel_index` (frame 0 alone,
    then one latent frame per `temporal` frames)."""
    return (pixel_index + temporal - 1) // temporal


CLIP_LATENTS = ("packed", "video", "frames")


def check_clip_latents(clip_latents: str) -> None:
    if clip_latents not in CLIP_LATENTS:
        raise ValueError(f"clip latents {clip_latents!r}: choose packed (frames through the image VAE, stacked), video (a video VAE) "
                         "or frames (frames through the image VAE, one latent frame each)")  # fmt: skip


def frames_per_latent(fvae, clip_latents: str) -> int:
    """Pixel frames per latent frame after the first: the VAE's temporal stride, or 1 for `frames`."""
    check_clip_latents(clip_latents)
    return 1 if clip_latents == "frames" else fvae.temporal


def stored_clip_latents(path: str | Path) -> str:
    """The kind of clip latents a `latents.safetensors` holds (its metadata; files written before
    packing existed hold video latents)."""
    with safe_open(path, "pt") as f:
        return (f.metadata() or {}).get("clip_latents", "video")


def encode_clips(fvae, frames: torch.Tensor, clip_latents: str) -> torch.Tensor:
    """Clips (B, 1 + 4k, 3, H, W) in [-1, 1] -> latents (B, C', 1 + k, h, w), or (B, C, 1 + 4k, h, w) as
    `frames`; a still image is a one-frame clip."""
    check_clip_latents(clip_latents)
    if clip_latents == "frames":
        return fvae.encode_frames(frames)
    return fvae.encode_packed(frames) if clip_latents == "packed" else fvae.encode_clip(frames)


def decode_clips(fvae, latents: torch.Tensor, clip_latents: str) -> torch.Tensor:
    check_clip_latents(clip_latents)
    if clip_latents == "frames":
        return fvae.decode_frames(latents)
    return fvae.decode_packed(latents) if clip_latents == "packed" else fvae.decode_clip(latents)


def clip_latent_channels(fvae, clip_latents: str) -> int:
    check_clip_latents(clip_latents)
    return fvae.z_dim * (fvae.temporal if clip_latents == "packed" else 1)


def group_by_latent_frame(states: torch.Tensor, temporal: int = 4) -> torch.Tensor:
    """Per-pixel-frame text states (..., T, L, D) -> per-latent-frame states (..., 1 + (T-1)/temporal, L, D):
    frame 0 alone, then the mean over each group of `temporal` frames (the released code's grouping)."""
    T = states.shape[-3]
    if (T - 1) % temporal:
        raise ValueError(f"{T} frames do not group into latent frames of {temporal}: use 1 + {temporal}k frames")
    rest = states[..., 1:, :, :].unflatten(-3, ((T - 1) // temporal, temporal)).mean(-3)
    return torch.cat([states[..., :1, :, :], rest], dim=-3)


def encode_narratives(encode, rows: list[list[str]], temporal: int = 4) -> torch.Tensor:
    """B clips' per-frame narratives (B lists of T) -> their text states per latent frame (B, F, L, D),
    through `encode` (a list of prompts -> (N, L, D)), all in one call."""
    B, T = len(rows), len(rows[0])
    states = encode([t for row in rows for t in row])
    return group_by_latent_frame(states.view(B, T, *states.shape[1:]), temporal)
