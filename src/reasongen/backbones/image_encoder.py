"""The frozen CLIP image encoder of Wan2.1's image-to-video model.

Wan2.1-I2V's DiT reads, beside the text, the condition image's CLIP ViT-H features: the penultimate
hidden states (257 tokens of 1280 for ViT-H/14 at 224 px), as diffusers' `WanImageToVideoPipeline`
computes them (`encode_image`). ReasonDiff's released code caches the same features for its
training pairs. The folder layout is diffusers': `image_encoder/` (a transformers `CLIPVisionModel`)
and `image_processor/` (its `CLIPImageProcessor`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


class ImageEncoder(torch.nn.Module):
    def __init__(self, processor, model):
        super().__init__()
        self.processor, self.model = processor, model
        self.model.requires_grad_(False).eval()

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    @torch.no_grad()
    def forward(self, images: list[np.ndarray] | np.ndarray) -> torch.Tensor:
        """uint8 RGB images (H, W, 3) -> (B, tokens, dim): the penultimate layer's states."""
        device = next(self.model.parameters()).device
        pixels = self.processor(images=list(images), return_tensors="pt")["pixel_values"].to(device, self.model.dtype)
        return self.model(pixel_values=pixels, output_hidden_states=True).hidden_states[-2]

    def save_pretrained(self, folder: Path) -> None:
        self.model.save_pretrained(folder / "image_encoder", safe_serialization=True)
        self.processor.save_pretrained(folder / "image_processor")


def load_image_encoder(folder: str | Path, device="cpu", dtype=torch.float32) -> ImageEncoder:
    """The image encoder of a diffusers Wan2.1-I2V folder (or of a pipeline that copied it)."""
    from transformers import CLIPImageProcessor, CLIPVisionModel

    folder = Path(folder)
    if not (folder / "image_encoder").is_dir():
        raise FileNotFoundError(f"{folder}: no image_encoder/ folder; pass a diffusers Wan2.1-I2V checkpoint folder (it holds "
                                "image_encoder/ and image_processor/)")  # fmt: skip
    model = CLIPVisionModel.from_pretrained(folder / "image_encoder", local_files_only=True, use_safetensors=True, dtype=dtype)
    return ImageEncoder(CLIPImageProcessor.from_pretrained(folder / "image_processor"), model.to(device))
