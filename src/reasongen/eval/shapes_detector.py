"""The ShapesWorld detector: GenEval's Mask2Former replaced by exact rules, no weights.

1. Unmix every pixel against the grey ground: for each palette colour c, the coverage
   alpha_c = <p - g, c - g> / |c - g|^2 (clipped to [0, 1]) and the residual of p from the segment
   g -> c. A pixel takes the colour with the smallest residual; it is foreground when it differs
   from the ground and its coverage is at least 0.5. Anti-aliased edges are thus read as partial
   coverage of one colour, not as a colour of their own.
2. Instances are the 8-connected foreground components of each colour, holes filled.
3. Each instance is compared with the ideal template of every class, fitted by its moments: the
   template's side comes from the instance's area, its position from the centroid, and it is drawn
   by the same renderer as the world. The soft IoU between coverage maps measures the fit.
4. Confidence is graded, so GenEval's 0.3 and 0.9 thresholds mean something:
   score_c = softmax_c(SHARPNESS * IoU) * clip((IoU_c - 0.5) / 0.4, 0, 1).
   A clean render scores about 0.99 for its class; a blurred, broken or wrong shape scores lower,
   and one instance may carry several class hypotheses, as a real detector's queries do.

Colour (GenEval's CLIP step) is judged separately on the detection's mask: the median colour of its
pixels, nearest palette colour in CIELAB.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from ..world.render import area_and_centroid, coverage, extent, paste
from ..world.scene import Obj, Scene
from ..world.vocab import CLASSES, COLOR_NAMES, COLORS, GROUND
from .geneval import Detection, filter_detections

SHARPNESS = 100.0
PARSE_THRESHOLD = 0.3  # GenEval's ordinary confidence cut, for reading a scene back
GROUND_TOLERANCE = 20.0  # RGB distance from the ground under which a pixel is ground
MIN_AREA = 0.06**2  # instances smaller than this (fraction of the canvas) are noise
MIN_SCORE = 1e-3  # hypotheses below this are not reported

_PALETTE = np.array([COLORS[c] for c in COLOR_NAMES], dtype=np.float32)
_GROUND = np.array(GROUND, dtype=np.float32)
_DIRS = _PALETTE - _GROUND


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


_PALETTE_LAB = _srgb_to_lab(_PALETTE)


def nearest_color(rgb) -> str:
    """The palette colour nearest to `rgb` in CIELAB (Delta E 1976)."""
    d = np.linalg.norm(_PALETTE_LAB - _srgb_to_lab(np.asarray(rgb))[None], axis=-1)
    return COLOR_NAMES[int(np.argmin(d))]


def unmix(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: colour index, coverage of that colour, coverage of every colour (H x W x K)."""
    d = image.astype(np.float32) - _GROUND
    dot = d @ _DIRS.T  # H x W x K
    norm2 = (_DIRS**2).sum(axis=1)
    alpha = np.clip(dot / norm2, 0.0, 1.0)
    d2 = (d**2).sum(axis=-1)
    resid2 = d2[..., None] - 2 * alpha * dot + alpha**2 * norm2  # |d - alpha (c - g)|^2
    label = resid2.argmin(axis=-1)
    a = np.take_along_axis(alpha, label[..., None], axis=-1)[..., 0]
    foreground = (d2 > GROUND_TOLERANCE**2) & (a >= 0.5)
    return np.where(foreground, label, -1), a, alpha


class ShapesDetector:
    """GenEval's detector contract on ShapesWorld images (square RGB, any size)."""

    name = "shapes"
    classes = CLASSES
    colors = COLOR_NAMES

    def __init__(self, sharpness: float = SHARPNESS):
        self.sharpness = sharpness

    def check_size(self, width: int, height: int, where: str) -> None:
        w, h = width, height
        if h != w or h < 32:
            raise ValueError(
                f"{where}: ShapesWorld images are square and at least 32 px, got {w}x{h}; "
                "render or resize to a square canvas (64, 128 or 256 px)"
            )

    def detect(self, image: np.ndarray) -> list[Detection]:
        size = image.shape[0]
        labels, _, alpha = unmix(image)
        instances = []
        for k in np.unique(labels[labels >= 0]):
            comps, n = ndimage.label(labels == k, structure=np.ones((3, 3), dtype=bool))
            for i, sl in enumerate(ndimage.find_objects(comps), start=1):
                mask = np.zeros_like(labels, dtype=bool)
                mask[sl] = ndimage.binary_fill_holes(comps[sl] == i)
                instances.append((int(k), mask))
        owned = np.zeros(labels.shape, dtype=np.int32)  # which instance each pixel belongs to
        for j, (_, mask) in enumerate(instances, start=1):
            owned[mask] = j
        detections = []
        for j, (k, mask) in enumerate(instances, start=1):
            ys, xs = np.nonzero(mask)
            box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
            # Work in a window around the instance, wide enough for its anti-aliased rim and for
            # templates that overshoot it.
            pad = 3 + (xs.max() - xs.min() + ys.max() - ys.min()) // 4
            y0, x0 = max(ys.min() - pad, 0), max(xs.min() - pad, 0)
            y1, x1 = min(ys.max() + pad + 1, size), min(xs.max() + pad + 1, size)
            win = (slice(y0, y1), slice(x0, x1))
            # The instance's soft coverage: its colour's alpha on its mask grown by two pixels
            # (to take in the rim), excluding pixels of other instances.
            own = owned[win]
            region = ndimage.binary_dilation(mask[win], iterations=2) & ((own == 0) | (own == j))
            obj_alpha = np.where(region, alpha[win][..., k], 0.0).astype(np.float32)
            if obj_alpha.sum() < MIN_AREA * size * size:
                continue
            for cls, score in self._class_scores(obj_alpha, x0, y0, size).items():
                if score >= MIN_SCORE:
                    detections.append(Detection(cls, box, score, mask))
        return detections

    def _class_scores(self, obj_alpha: np.ndarray, x0: int, y0: int, size: int) -> dict[str, float]:
        """Class hypotheses for one instance's coverage window, whose top-left pixel is (x0, y0)."""
        area = float(obj_alpha.sum())
        ys, xs = np.indices(obj_alpha.shape)
        cx = float(((xs + 0.5) * obj_alpha).sum() / area) + x0
        cy = float(((ys + 0.5) * obj_alpha).sum() / area) + y0
        ious = np.empty(len(CLASSES))
        for i, cls in enumerate(CLASSES):
            frac, gx, gy = area_and_centroid(cls)
            side = np.sqrt(area / frac)
            box = ((cx - gx * side) / size, (cy - gy * side) / size, side / size)
            template = np.zeros_like(obj_alpha)
            alpha, px, py = coverage(cls, box, size)
            paste(template, alpha, px - x0, py - y0, 1.0)
            # Template mass outside the window counts against the fit.
            outside = alpha.sum() - template.sum()
            ious[i] = np.minimum(template, obj_alpha).sum() / (np.maximum(template, obj_alpha).sum() + outside)
        p = np.exp(self.sharpness * (ious - ious.max()))
        p /= p.sum()
        quality = np.clip((ious - 0.5) / 0.4, 0.0, 1.0)
        return {cls: float(p[i] * quality[i]) for i, cls in enumerate(CLASSES)}

    def classify_colors(self, image: np.ndarray, found: Sequence[Detection], cls: str) -> list[str]:
        return [nearest_color(np.median(image[det.mask].reshape(-1, 3), axis=0)) for det in found]

    def partial_credit(self, image: np.ndarray, metadata: dict) -> dict[str, float]:
        return named_object_recall(image, metadata, self)


# -- reading a scene back from an image, so the world's edit primitives can work on a sample ----


def instances(image: np.ndarray, detector, threshold: float = PARSE_THRESHOLD) -> list:
    """One detection per instance: its most confident class hypothesis above `threshold`."""
    best: dict[int, object] = {}
    for dets in filter_detections(detector.detect(image), threshold).values():
        for d in dets:
            key = id(d.mask)  # class hypotheses of one instance share its mask
            if key not in best or d.score > best[key].score:
                best[key] = d
    return list(best.values())


def parse_scene(image: np.ndarray, detector, threshold: float = PARSE_THRESHOLD) -> Scene:
    """The scene an image shows, as the detector reads it: one object per instance (its most
    confident class above `threshold`), its colour, and the square box its class implies."""
    objs = []
    for d in sorted(instances(image, detector, threshold), key=lambda d: (d.box[1], d.box[0])):
        box = implied_box(d.cls, d.box, image.shape[0])
        objs.append(Obj(d.cls, detector.classify_colors(image, [d], d.cls)[0], box))
    return Scene(tuple(objs))


def implied_box(cls: str, pixel_box, size: int) -> tuple[float, float, float]:
    """The square box (x, y, side in canvas units) whose drawn `cls` has the tight `pixel_box`."""
    ex0, ey0, ex1, ey1 = extent(cls)
    x1, y1, x2, y2 = (v / size for v in pixel_box)
    side = ((x2 - x1) / (ex1 - ex0) + (y2 - y1) / (ey1 - ey0)) / 2
    return (x1 - ex0 * side, y1 - ey0 * side, side)


# -- partial credit, for models too weak for GenEval's all-or-nothing rules ----------------------


def named_object_recall(image: np.ndarray, metadata: dict, detector) -> dict[str, float]:
    """Of the classes a prompt names, the share the image shows as an instance (any colour, GenEval's
    0.3 cut); of the colours it names, the share covering at least MIN_AREA of the canvas (any shape).
    A weak model earns colour long before class: these separate models that GenEval scores 0 alike."""
    classes = {c["class"] for c in metadata["include"]}
    colours = {c["color"] for c in metadata["include"] if c.get("color")}
    shown = {d.cls for d in instances(image, detector)}
    labels = unmix(image)[0]
    area = np.bincount(labels[labels >= 0], minlength=len(COLOR_NAMES)) / labels.size
    painted = {COLOR_NAMES[k] for k in np.nonzero(area >= MIN_AREA)[0]}
    out = {"class": len(classes & shown) / len(classes)}
    if colours:
        out["colour"] = len(colours & painted) / len(colours)
    return out
