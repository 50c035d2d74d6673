"""A small CNN over a 64 px ShapesWorld image, modulated by a text vector: the trained judge's
network (T-R1's ORM analogue, `rewards/judge.py`) and ReasonDiff's trained anchor reader
(`methods/reasondiff/trained_narrator.py`).

Three stride-2 stages keep an 8 x 8 grid, so where things are survives; after each stage the text
(the frozen MiniLM's mean token state) scales and shifts the channels (FiLM); a two-layer head reads
the flattened grid into `outputs` logits. `TextFeatures` (backbones/text.py) gives the text vector.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class ImageTextCNN(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, text_dim: int = 384, width: int = 64, image_size: int = 64, outputs: int = 1):
        super().__init__()
        grid = image_size // 8
        chans = [3, width // 2, width, 2 * width]
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv2d(a, b, 3, stride=2, padding=1), nn.GroupNorm(8, b), nn.SiLU(), nn.Conv2d(b, b, 3, padding=1))
            for a, b in zip(chans[:-1], chans[1:])
        )
        self.film = nn.ModuleList(nn.Linear(text_dim, 2 * b) for b in chans[1:])
        self.head = nn.Sequential(nn.SiLU(), nn.Flatten(), nn.Linear(2 * width * grid * grid, 128), nn.SiLU(), nn.Linear(128, outputs))

    def forward(self, images: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [-1, 1], text (B, text_dim) -> logits (B, outputs)."""
        h = images
        for stage, film in zip(self.stages, self.film):
            h = stage(h)
            scale, shift = film(text).chunk(2, dim=-1)
            h = h * (1 + scale[..., None, None]) + shift[..., None, None]
        return self.head(h)
