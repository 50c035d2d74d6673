"""The one place images change form: uint8 arrays, float tensors and files.

Every layer uses it (the world writes datasets, pipelines return images, training reads them), so
it sits below them all and imports nothing of the project.

- `to_tensor`: uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1], what the models read;
- `to_uint8`: the reverse, rounding;
- `unit_to_uint8`: float images in [0, 1] (..., H, W, 3) -> uint8;
- `save_image` / `save_png`: an RGB uint8 image written atomically (a temporary file renamed into
  place), so a killed run never leaves a half-written file;
- `side_by_side` / `stack`: images put in a row or a column on a white ground, for strips and figures;
- `save_chain`: frames (a CoF chain, a clip) side by side as a PNG strip, and as a GIF.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

GIF_FRAME_MS = 600  # how long a GIF written by save_chain shows each frame


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div(127.5).sub(1.0)
    return x.movedim(-1, -3)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (..., 3, H, W) in [-1, 1] -> uint8 (..., H, W, 3)."""
    return x.movedim(-3, -1).add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


def unit_to_uint8(image: np.ndarray) -> np.ndarray:
    """float (..., H, W, 3) in [0, 1] -> uint8."""
    return (np.asarray(image) * 255).round().clip(0, 255).astype(np.uint8)


def save_image(image: np.ndarray, path: str | Path, format: str | None = None) -> None:
    """An RGB uint8 image written atomically, in `format` or the one its extension names."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(image, mode="RGB").save(tmp, format=format or Image.registered_extensions()[path.suffix.lower()])
    os.replace(tmp, path)


def save_png(image: np.ndarray, path: str | Path) -> None:
    save_image(image, path, "PNG")


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """A uint8 image `scale` times larger, each pixel a square (nearest neighbour: the pixels stay visible)."""
    if scale < 1:
        raise ValueError(f"scale {scale}: give 1 or more")
    return np.repeat(np.repeat(np.asarray(image), scale, axis=0), scale, axis=1) if scale > 1 else np.asarray(image)


def side_by_side(images: list[np.ndarray], gap: int = 0, scale: int = 1, fill: int = 255) -> np.ndarray:
    """uint8 images (H, W, 3) in a row, each `scale` times enlarged, `gap` px of `fill` (white) apart;
    a shorter image is padded below."""
    images = [enlarge(im, scale) for im in images]
    height = max(im.shape[0] for im in images)
    parts = []
    for i, im in enumerate(images):
        if i:
            parts.append(np.full((height, gap, 3), fill, np.uint8))
        parts.append(np.pad(im, ((0, height - im.shape[0]), (0, 0), (0, 0)), constant_values=fill))
    return np.concatenate(parts, axis=1)


def stack(images: list[np.ndarray], gap: int = 0, fill: int = 255) -> np.ndarray:
    """uint8 images (H, W, 3) in a column, `gap` px of `fill` (white) apart; a narrower image is padded on the right."""
    width = max(im.shape[1] for im in images)
    parts = []
    for i, im in enumerate(images):
        if i:
            parts.append(np.full((gap, width, 3), fill, np.uint8))
        parts.append(np.pad(im, ((0, 0), (0, width - im.shape[1]), (0, 0)), constant_values=fill))
    return np.concatenate(parts, axis=0)


def save_chain(frames: list[np.ndarray], strip_path: str | Path, gif_path: str | Path | None = None, scale: int = 4) -> None:
    """Frames (uint8 H x W x 3: a CoF chain, a clip) side by side as a PNG strip, `scale` times
    enlarged and 4 px apart, and as a GIF (each frame shown GIF_FRAME_MS); both written atomically."""
    if any(np.asarray(f).dtype != np.uint8 for f in frames):
        raise ValueError("save_chain takes uint8 frames (H, W, 3)")
    save_image(side_by_side(frames, gap=4, scale=scale), strip_path, "PNG")
    if gif_path:
        imgs = [Image.fromarray(enlarge(f, scale)) for f in frames]
        tmp = Path(gif_path).with_name(Path(gif_path).name + ".tmp")
        imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:], duration=GIF_FRAME_MS, loop=0)
        os.replace(tmp, gif_path)
