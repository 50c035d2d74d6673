"""AlignFormer with Multi-stage Temporal Anchor Attention (ReasonDiff): from the condition image's
latent (the anchor) and one narrative per frame, a condition latent for every frame.

Queries are the anchor's latent pixels, flattened and projected, plus an encoding of the frame they
are asked for (its index, and its offset from the anchor's index). Keys and values are the
narratives, plus the encoding of their frame. Two cascaded cross-attention stages:

1. coarse temporal: each frame's queries attend over the pooled narratives of all frames, so the
   latent for frame t knows where t lies in the story;
2. fine contextual: the queries then attend over the token states of frame t's own narrative.

Each stage is attention, then an MLP, with residuals and post-LayerNorm (as the released code
arranges its stages); the output projection gives per-frame latents c*. The anchor frame keeps the
true latent of the condition image (as the released code does), so c* is predicted everywhere else.
With frame-packed latents the caller may keep the image in its own frame's channels only
(`image_at`), so that c* also fills the other frames of the anchor's latent frame.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def frame_encoding(index: torch.Tensor, dim: int, max_period: float = 64.0) -> torch.Tensor:
    """Sinusoidal encoding of (possibly negative) frame indices: (...,) -> (..., dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=index.device, dtype=torch.float32) / half)
    angles = index.float()[..., None] * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def at_anchor_frame(anchor_index: torch.Tensor, channels: int, num_frames: int) -> torch.Tensor:
    """(B, channels, F) bool: every channel of the anchor's latent frame, where c* keeps the image."""
    frames = torch.arange(num_frames, device=anchor_index.device)
    return (frames[None] == anchor_index[:, None])[:, None].expand(-1, channels, -1)


class _Stage(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, q, kv, key_padding_mask=None):
        q = self.norm1(q + self.attn(q, kv, kv, key_padding_mask=key_padding_mask, need_weights=False)[0])
        return self.norm2(q + self.mlp(q))


class AlignFormer(nn.Module):
    def __init__(self, latent_channels: int, text_dim: int, dim: int = 256, heads: int = 4):
        super().__init__()
        self.config = dict(latent_channels=latent_channels, text_dim=text_dim, dim=dim, heads=heads)  # saved beside the weights
        self.dim = dim
        self.proj_in = nn.Linear(latent_channels, dim)
        self.text_in = nn.Linear(text_dim, dim)
        self.frame_mlp = nn.Sequential(nn.Linear(2 * dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.coarse, self.fine = _Stage(dim, heads), _Stage(dim, heads)
        self.proj_out = nn.Linear(dim, latent_channels)

    def forward(self, anchor: torch.Tensor, narratives: torch.Tensor, narrative_mask: torch.Tensor,
                anchor_index: torch.Tensor, image_at: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """anchor (B, C, h, w): the condition image's latent; narratives (B, F, L, text_dim): token
        states of each frame's narrative, `narrative_mask` (B, F, L) marking real tokens; anchor_index
        (B,). Returns c* (B, C, F, h, w), equal to `anchor` where `image_at` (B, C, F) is set: by
        default every channel at the anchor index."""
        B, C, h, w = anchor.shape
        F, L = narratives.shape[1:3]
        if not ((0 <= anchor_index) & (anchor_index < F)).all():
            raise ValueError(f"anchor index {anchor_index.tolist()} lies outside the {F} frames")
        frames = torch.arange(F, device=anchor.device)
        enc = self.frame_mlp(torch.cat([frame_encoding(frames[None].expand(B, F), self.dim),
                                        frame_encoding(frames[None] - anchor_index[:, None], self.dim)], -1))  # (B, F, dim)
        tokens = self.proj_in(anchor.flatten(2).transpose(1, 2))  # (B, h*w, dim)
        q = (tokens[:, None] + enc[:, :, None]).reshape(B * F, h * w, self.dim)

        text = self.text_in(narratives) + enc[:, :, None]  # (B, F, L, dim)
        mask = narrative_mask.bool().clone()
        mask[..., 0] |= ~mask.any(-1)  # an empty narrative still offers one (padding) token to attend to
        pooled = (text * mask[..., None]).sum(2) / mask.sum(2, keepdim=True).clamp(min=1)  # (B, F, dim)
        pooled = pooled[:, None].expand(B, F, F, self.dim).reshape(B * F, F, self.dim)
        q = self.coarse(q, pooled)
        q = self.fine(q, text.reshape(B * F, L, self.dim), key_padding_mask=~mask.reshape(B * F, L))

        out = self.proj_out(q).reshape(B, F, h, w, C).permute(0, 4, 1, 2, 3)  # (B, C, F, h, w)
        if image_at is None:
            image_at = at_anchor_frame(anchor_index, C, F)
        return torch.where(image_at[..., None, None], anchor[:, :, None].expand_as(out), out)


def aux_latent_loss(predicted: torch.Tensor, target: torch.Tensor, weight: float = 0.2) -> torch.Tensor:
    """ReasonDiff's stage-2 term, weight * ||c* - c||^2 (mean over elements): the predicted per-frame
    latents against the true latents of the clip's frames."""
    return weight * ((predicted.float() - target.float()) ** 2).mean()
