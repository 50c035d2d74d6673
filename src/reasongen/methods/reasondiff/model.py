"""ReasonDiff's generator: a Wan DiT guided frame by frame by AlignFormer's latents.

Injection follows Wan2.1's image-to-video path (diffusers' `WanImageToVideoPipeline`), which is also
the released ReasonDiff code's: the DiT reads, channel-concatenated with the noisy latents, a
condition `y` of `temporal` mask channels and the condition latents. Where plain I2V puts the image's
latent at frame 0 and zeros elsewhere, ReasonDiff puts AlignFormer's c* in every latent frame, the
condition image's true latent at the anchor frame. So the DiT takes C + temporal + C input channels
(36 for Wan2.1's 16 latent channels and stride 4).

Choices where the released code and the paper differ or are silent (docs/reasondiff.md):
- the mask marks the anchor latent frame (ones there, zeros elsewhere); the released code leaves it
  all ones, which tells the DiT nothing, and keeps the anchor binary (first or last frame);
- the text context is the per-latent-frame narrative states concatenated along the sequence, as in
  the released code (no per-frame cross-attention mask); narratives are grouped per latent frame by
  `group_by_latent_frame`.

Ablation switches (the paper's): `enhanced=False` drops c* (the condition latent at the anchor only,
zeros elsewhere: plain image-to-video at the anchor).
"""

from __future__ import annotations

import torch
from torch import nn

from .alignformer import AlignFormer


class ReasonDiffModel(nn.Module):
    def __init__(self, transformer, alignformer: AlignFormer, temporal: int = 4):
        super().__init__()
        self.transformer, self.alignformer, self.temporal = transformer, alignformer, temporal
        c = alignformer.proj_out.out_features
        want = 2 * c + temporal
        if transformer.config.in_channels != want:
            raise ValueError(f"the DiT takes {transformer.config.in_channels} input channels; ReasonDiff needs {want} "
                             f"({c} noisy + {temporal} mask + {c} condition latents)")  # fmt: skip

    @property
    def latent_channels(self) -> int:
        return self.alignformer.proj_out.out_features

    def condition(self, anchor: torch.Tensor, narratives: torch.Tensor, narrative_mask: torch.Tensor,
                  anchor_index: torch.Tensor, num_frames: int, enhanced: bool = True) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """The DiT's `y` (B, temporal + C, F, h, w) and the per-frame latents c* (B, C, F, h, w).
        anchor (B, C, h, w); narratives (B, F, L, D) per latent frame; anchor_index (B,) latent frames."""
        B, C, h, w = anchor.shape
        if not ((0 <= anchor_index) & (anchor_index < num_frames)).all():
            raise ValueError(f"anchor index {anchor_index.tolist()} lies outside the {num_frames} latent frames")
        at_anchor = (torch.arange(num_frames, device=anchor.device)[None] == anchor_index[:, None]).view(B, 1, num_frames, 1, 1)
        if enhanced:
            c_star = self.alignformer(anchor, narratives, narrative_mask, anchor_index)
        else:
            c_star = torch.where(at_anchor, anchor[:, :, None].expand(B, C, num_frames, h, w), torch.zeros((), device=anchor.device))
        mask = at_anchor.to(c_star.dtype).expand(B, self.temporal, num_frames, h, w)
        return torch.cat([mask, c_star.to(mask.dtype)], dim=1), c_star

    def velocity(self, x: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Velocity for noisy latents x (B, C, F, h, w) given the text context (B, S, D) and `y` (the
        sampler computes `y` once and calls this at every step)."""
        return self.transformer(torch.cat([x, y.to(x.dtype)], dim=1), timestep, context, return_dict=False)[0]

    def forward(self, x, timestep, context, anchor, narratives, narrative_mask, anchor_index, enhanced: bool = True):
        """Training: (velocity, c*) in one call, so that a DDP-wrapped model sees every parameter used."""
        y, c_star = self.condition(anchor, narratives, narrative_mask, anchor_index, x.shape[2], enhanced)
        return self.velocity(x, timestep, context, y), c_star


def build_reasondiff_model(preset, channels: int, temporal: int, text_dim: int) -> ReasonDiffModel:
    """A fresh ReasonDiffModel: a Wan DiT of `preset` taking the noisy latents, the anchor mask and the
    condition latents (2 x channels + temporal input channels), and an AlignFormer for `channels`."""
    from ...backbones.wan import build_transformer

    dit = build_transformer(preset, in_channels=2 * channels + temporal, out_channels=channels)
    return ReasonDiffModel(dit, AlignFormer(channels, text_dim), temporal=temporal)


def narrative_context(states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-latent-frame narrative states (B, F, L, D) -> the DiT's context (B, F*L, D) and the
    AlignFormer's token mask (B, F, L): a token is real where any of its group's states is non-zero
    (text encoders here give exact zeros beyond a prompt)."""
    B, F, L, D = states.shape
    return states.reshape(B, F * L, D), states.abs().amax(-1) > 0
