"""Anti-aliased rendering of ShapesWorld scenes at any canvas size.

Every class is drawn as a polygon inscribed in its object's square box, exactly as shapesworld.md
fixes it. Coverage is computed by drawing the polygon at `SUPERSAMPLE` times the resolution and
box-filtering it down, so edges are anti-aliased and interior pixels take the exact palette colour.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from .vocab import CLASSES, COLORS, GROUND

SUPERSAMPLE = 8


def _regular(n: int, radius: float, start_deg: float) -> np.ndarray:
    angles = np.deg2rad(start_deg + 360.0 * np.arange(n) / n)
    return np.stack([0.5 + radius * np.cos(angles), 0.5 - radius * np.sin(angles)], axis=1)


@lru_cache(maxsize=None)
def outline(cls: str) -> np.ndarray:
    """The polygon of `cls` in unit-box coordinates (x right, y down), shape (N, 2)."""
    if cls == "circle":
        return _regular(256, 0.5, 0.0)
    if cls in ("square",):
        return np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64)
    if cls == "triangle":  # equilateral, apex up, base on the bottom edge, full box width
        return np.array([[0.5, 1 - np.sqrt(3) / 2], [1, 1], [0, 1]], dtype=np.float64)
    if cls == "star":  # five points, one up, outer radius half the side, inner/outer 0.45
        outer, inner = _regular(5, 0.5, 90.0), _regular(5, 0.5 * 0.45, 90.0 + 36.0)
        return np.stack([outer, inner], axis=1).reshape(10, 2)
    if cls == "heart":  # x = 16 sin^3 t, y = -(13 cos t - 5 cos 2t - 2 cos 3t - cos 4t), filling the box
        t = np.linspace(0, 2 * np.pi, 512, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        pts = np.stack([x, y], axis=1)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        return (pts - lo) / (hi - lo)
    if cls == "hexagon":  # regular, two vertices on the horizontal axis (flat top and bottom)
        return _regular(6, 0.5, 0.0)
    if cls == "diamond":  # vertices at the box's edge midpoints
        return np.array([[0.5, 0], [1, 0.5], [0.5, 1], [0, 0.5]], dtype=np.float64)
    if cls == "cross":  # plus sign, arm width a third of the side
        a, b = 1 / 3, 2 / 3
        return np.array(
            [[a, 0], [b, 0], [b, a], [1, a], [1, b], [b, b], [b, 1], [a, 1], [a, b], [0, b], [0, a], [a, a]],
            dtype=np.float64,
        )
    raise ValueError(f"unknown ShapesWorld class {cls!r}; expected one of {', '.join(CLASSES)}")


@lru_cache(maxsize=None)
def extent(cls: str) -> tuple[float, float, float, float]:
    """The tight bounding box (x0, y0, x1, y1) of `cls` inside its unit box."""
    pts = outline(cls)
    return (*pts.min(axis=0).tolist(), *pts.max(axis=0).tolist())


@lru_cache(maxsize=None)
def area_and_centroid(cls: str) -> tuple[float, float, float]:
    """Area (fraction of the unit box) and centroid (x, y) of `cls`, by the shoelace formula."""
    x, y = outline(cls).T
    x1, y1 = np.roll(x, -1), np.roll(y, -1)
    cross = x * y1 - x1 * y
    area = cross.sum() / 2
    cx = ((x + x1) * cross).sum() / (6 * area)
    cy = ((y + y1) * cross).sum() / (6 * area)
    return abs(float(area)), float(cx), float(cy)


def coverage(cls: str, box: tuple[float, float, float], size: int) -> tuple[np.ndarray, int, int]:
    """Anti-aliased coverage of one object on a `size` x `size` canvas.

    `box` is (x, y, side) of the object's square box in canvas units (top-left corner). Returns a
    float32 array in [0, 1] over the pixel window that holds the shape, and the window's top-left
    pixel (px, py). The window may reach outside the canvas; callers clip.
    """
    x, y, side = box
    pts = outline(cls) * side + np.array([x, y])
    px0, py0 = int(np.floor(pts[:, 0].min() * size)), int(np.floor(pts[:, 1].min() * size))
    px1, py1 = int(np.ceil(pts[:, 0].max() * size)), int(np.ceil(pts[:, 1].max() * size))
    w, h = max(px1 - px0, 1), max(py1 - py0, 1)
    s = SUPERSAMPLE
    img = Image.new("L", (w * s, h * s), 0)
    # PIL puts integer coordinates at pixel centres: shift by half a (supersampled) pixel.
    local = (pts * size - np.array([px0, py0])) * s - 0.5
    ImageDraw.Draw(img).polygon([tuple(p) for p in local.tolist()], fill=255)
    alpha = np.asarray(img.reduce(s), dtype=np.float32) / 255.0
    return alpha, px0, py0


def paste(canvas: np.ndarray, alpha: np.ndarray, px: int, py: int, value) -> None:
    """Blend `value` into `canvas` (float, H x W x C or H x W) with `alpha` placed at (px, py)."""
    H, W = canvas.shape[:2]
    x0, y0 = max(px, 0), max(py, 0)
    x1, y1 = min(px + alpha.shape[1], W), min(py + alpha.shape[0], H)
    if x1 <= x0 or y1 <= y0:
        return
    a = alpha[y0 - py : y1 - py, x0 - px : x1 - px]
    region = canvas[y0:y1, x0:x1]
    if canvas.ndim == 3:
        a = a[..., None]
    region *= 1 - a
    region += a * np.asarray(value, dtype=canvas.dtype)


def object_alpha(cls: str, box: tuple[float, float, float], size: int) -> np.ndarray:
    """Full-canvas coverage map (H x W, float32 in [0, 1]) of one object."""
    alpha, px, py = coverage(cls, box, size)
    canvas = np.zeros((size, size), dtype=np.float32)
    paste(canvas, alpha, px, py, 1.0)
    return canvas


def render_objects(objects, size: int) -> np.ndarray:
    """Render objects (each with `.cls`, `.color`, `.box`) over the grey ground; uint8 H x W x 3."""
    canvas = np.empty((size, size, 3), dtype=np.float32)
    canvas[:] = GROUND
    for obj in objects:
        alpha, px, py = coverage(obj.cls, obj.box, size)
        paste(canvas, alpha, px, py, COLORS[obj.color])
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


DRAFT_FACTOR = 2


def render_draft(objects, size: int, factor: int = DRAFT_FACTOR) -> np.ndarray:
    """A rough render: the scene drawn at 1/`factor` of the size and enlarged without smoothing, so
    the layout and colours are right and every edge is blocky. CoF chains use it for their
    unrefined frames."""
    if size % factor:
        raise ValueError(f"draft factor {factor} does not divide the canvas size {size}")
    small = render_objects(objects, size // factor)
    return np.repeat(np.repeat(small, factor, axis=0), factor, axis=1)


def object_mask(images: np.ndarray, cell: int) -> np.ndarray:
    """(N, H, W, 3) uint8 renders -> (N, H / cell, W / cell) uint8: 1 where any pixel of the cell is
    not ground (the latent cells or image tokens an object touches, for object-weighted losses)."""
    fg = np.any(images != np.array(GROUND, dtype=np.uint8), axis=-1)
    N, H, W = fg.shape
    return fg.reshape(N, H // cell, cell, W // cell, cell).any(axis=(2, 4)).astype(np.uint8)
