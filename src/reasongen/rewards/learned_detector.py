"""A learned ShapesWorld detector for the reward experts, independent of the evaluator.

The rule-based detector (`eval/shapes_detector.py`) is the evaluator's own eye: a reward read off it
is graded by the same code that grades the benchmark, so a benchmark that follows the reward cannot
rule out reward hacking. T2I-R1's experts are separate models from GenEval's; this is ours: a small
CenterNet (Zhou et al., "Objects as Points") trained from scratch on renders whose labels come from
the scene itself (class, colour and tight box of every object), never from the evaluator's rules.

Model (`CenterNetDetector`): a CNN over the 64 px image down to a stride-4 grid (16 x 16), with a
stride-8 stage added back for context; per cell a heatmap logit per class, the centre's offset
inside the cell, the box's width and height (in cells) and colour logits.
Targets (`scene_targets`): a Gaussian per object in its class's heatmap, 1 at the cell holding the
box centre (sigma a sixth of the box side per axis); offset, size and colour at that cell.
Loss: CenterNet's penalty-reduced focal loss on the heatmaps, L1 on offset and (weighted 0.1) size,
cross-entropy on colour, all at the centre cells.
Decoding (`decode`): heatmap peaks (3 x 3 max-pool suppression) above a floor; each peak gives a
class hypothesis with its heatmap value as score, the cell's box and the colour head's argmax.
Hypotheses of several classes at one cell share one mask, as one instance's do in the rule-based
detector, so `LearnedDetector` meets the `Detector` protocol (GenEval's rules run on it) and gives
one detection per instance (`instances_batch`), as `eval.shapes_detector.instances` does.

Training images are degraded half the time (`degrade`: an elastic warp, blur, a pass through a
smaller canvas, a colour cast, pixel noise), so the detector does not learn only perfect renders:
generated images are softer blobs with rough outlines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from torch.nn import functional as F

from ..eval.compbench import box_iou
from ..eval.geneval import Detection
from ..images import to_tensor
from ..world.dataset import draw_record
from ..world.vocab import CLASSES, COLOR_NAMES, TAGS
from .config import DetectorTrainConfig

STRIDE = 4
MIN_SCORE = 0.01  # class hypotheses below this are not reported
FOUND_THRESHOLD = 0.3  # what the held-out report counts as a detection (GenEval's ordinary cut)
DEGRADE_SHARE = 0.5  # share of training images degraded
WARP_SHARE = 0.5  # share of degraded images also warped (`warp`)
SIZE_WEIGHT = 0.1  # CenterNet's weight of the size loss


@dataclass
class ColoredDetection(Detection):
    """A detection with the colour the detector's colour head names."""

    color: str | None = None


def _stage(a: int, b: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(a, b, 3, stride=stride, padding=1), nn.GroupNorm(8, b), nn.SiLU(),
                         nn.Conv2d(b, b, 3, padding=1), nn.GroupNorm(8, b), nn.SiLU())  # fmt: skip


class CenterNetDetector(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, classes: tuple = CLASSES, colors: tuple = COLOR_NAMES, width: int = 32, image_size: int = 64):
        super().__init__()
        if image_size % (2 * STRIDE) or width % 8:
            raise ValueError(f"image_size {image_size} must be a multiple of {2 * STRIDE} and width {width} of 8")
        w = width
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, padding=1), nn.GroupNorm(8, w), nn.SiLU())
        self.down = nn.ModuleList([_stage(w, w, 2), _stage(w, 2 * w, 2), _stage(2 * w, 4 * w, 2)])  # 1/2, 1/4, 1/8
        self.lateral = nn.Conv2d(4 * w, 2 * w, 1)  # the stride-8 context, added back at stride 4
        self.fuse = _stage(2 * w, 2 * w)
        self.trunk = nn.Sequential(nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.SiLU())
        outputs = {"heatmap": len(classes), "offset": 2, "size": 2, "color": len(colors)}
        self.heads = nn.ModuleDict({name: nn.Conv2d(2 * w, n, 1) for name, n in outputs.items()})
        nn.init.constant_(self.heads["heatmap"].bias, -2.19)  # CenterNet's prior: sigmoid = 0.1 everywhere at the start

    @property
    def grid(self) -> int:
        return self.config.image_size // STRIDE

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Images (B, 3, S, S) in [-1, 1] -> per cell of the (S/4) grid: heatmap logits (B, classes, G, G),
        offset and size in cells (B, 2, G, G), colour logits (B, colours, G, G)."""
        h = self.stem(images)
        h = self.down[0](h)
        quarter = self.down[1](h)
        eighth = self.down[2](quarter)
        h = self.fuse(quarter + F.interpolate(self.lateral(eighth), scale_factor=2, mode="nearest"))
        h = self.trunk(h)
        return {name: head(h) for name, head in self.heads.items()}


# -- targets from a scene's exact ground truth ------------------------------------------------------


def scene_targets(scene, classes=CLASSES, colors=COLOR_NAMES, size: int = 64) -> dict[str, np.ndarray]:
    """Training targets of a scene on the stride-4 grid: `heatmap` (classes, G, G), `offset` and `size`
    (2, G, G, in cells; x first), `color` (G, G; -1 off the centres) and `centre` (G, G, bool)."""
    g = size // STRIDE
    heatmap = np.zeros((len(classes), g, g), np.float32)
    offset, wh = np.zeros((2, g, g), np.float32), np.zeros((2, g, g), np.float32)
    color, centre = np.full((g, g), -1, np.int64), np.zeros((g, g), bool)
    rows, cols = np.mgrid[0:g, 0:g]
    for obj in scene.objects:
        x1, y1, x2, y2 = (v * size / STRIDE for v in obj.bbox)  # the tight box, in cells
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        col, row = min(int(cx), g - 1), min(int(cy), g - 1)
        sx, sy = (x2 - x1) / 6, (y2 - y1) / 6
        blob = np.exp(-((cols - col) ** 2 / (2 * sx**2) + (rows - row) ** 2 / (2 * sy**2)))
        k = classes.index(obj.cls)
        heatmap[k] = np.maximum(heatmap[k], blob)  # exactly 1 at the centre cell
        offset[:, row, col], wh[:, row, col] = (cx - col, cy - row), (x2 - x1, y2 - y1)
        color[row, col], centre[row, col] = colors.index(obj.color), True
    return {"heatmap": heatmap, "offset": offset, "size": wh, "color": color, "centre": centre}


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A render made to look a little like a generated image: each at random, a smooth elastic warp
    (`warp`: generated shapes have rough, bent outlines), a Gaussian blur (sigma 0.3-1 px), a pass
    through a half-size canvas (softer edges), a colour cast (up to 10 per channel, well inside the
    palette's gaps) and pixel noise (sigma up to 6)."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    x = image.astype(np.float32)
    if rng.random() < WARP_SHARE:
        x = warp(x, rng)
    if rng.random() < 0.5:
        s = rng.uniform(0.3, 1.0)
        x = gaussian_filter(x, sigma=(s, s, 0))
    if rng.random() < 0.3:
        n = x.shape[0]
        small = Image.fromarray(np.clip(np.rint(x), 0, 255).astype(np.uint8)).resize((n // 2, n // 2), Image.BILINEAR)
        x = np.asarray(small.resize((n, n), Image.BILINEAR), np.float32)
    if rng.random() < 0.5:
        x = x + rng.uniform(-10, 10, size=3)
    if rng.random() < 0.5:
        x = x + rng.normal(0, rng.uniform(1, 6), size=x.shape)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def warp(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An elastic deformation (Simard et al. 2003): a random displacement field smoothed by a Gaussian
    of sigma 1.5-3 px, scaled so its largest shift is 1.5-4 px, resampled bilinearly. Outlines wobble and
    corners round off as in generated samples, while every object keeps its class, colour and place,
    so the scene's labels still hold."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    n = x.shape[0]
    sigma, reach = rng.uniform(1.5, 3), rng.uniform(1.5, 4)
    field = np.stack([gaussian_filter(rng.normal(size=(n, n)), sigma) for _ in range(2)])
    field *= reach / max(np.abs(field).max(), 1e-6)
    rows, cols = np.mgrid[0:n, 0:n].astype(np.float32)
    where = [rows + field[0], cols + field[1]]
    return np.stack([map_coordinates(x[..., c], where, order=1, mode="nearest") for c in range(x.shape[2])], axis=-1)


class DetectorScenes:
    """The loop's dataset: scene i of (seed, i) from `draw_record` (the six GenEval tags, never a
    held-out composition), rendered, degraded with probability `degrade_share`, with its targets."""

    def __init__(self, n: int = 10**7, size: int = 64, seed: int = 0, degrade_share: float = DEGRADE_SHARE):
        self.n, self.size, self.seed, self.degrade_share = n, size, seed, degrade_share

    def __len__(self) -> int:
        return self.n

    def sample(self, i: int):
        """(image, scene) of index i."""
        _, scene = draw_record(self.seed, i, TAGS, "in_distribution")
        image = scene.render(self.size)
        rng = np.random.default_rng([self.seed, i, 11])
        if rng.random() < self.degrade_share:
            image = degrade(image, rng)
        return image, scene

    def batch(self, indices):
        samples = [self.sample(i) for i in indices]
        targets = [scene_targets(scene, size=self.size) for _, scene in samples]
        stacked = {k: torch.from_numpy(np.stack([t[k] for t in targets])) for k in targets[0]}
        return to_tensor(np.stack([image for image, _ in samples])), stacked


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss (alpha 2, beta 4), summed and divided by the objects."""
    p = logits.sigmoid()
    pos = target.eq(1).float()
    pos_term = F.logsigmoid(logits) * (1 - p) ** 2 * pos
    neg_term = F.logsigmoid(-logits) * p**2 * (1 - target) ** 4 * (1 - pos)
    return -(pos_term.sum() + neg_term.sum()) / pos.sum().clamp(min=1)


class DetectorTask:
    def loss(self, model, batch, generator):
        images, targets = batch
        device = next(model.parameters()).device
        out = model(images.to(device))
        t = {k: v.to(device) for k, v in targets.items()}
        centre = t["centre"]
        n = centre.sum().clamp(min=1)

        def at_centres(pred, target):  # L1 over the centre cells, per object and coordinate
            return ((pred.float() - target).abs() * centre[:, None]).sum() / (2 * n)

        heat = focal_loss(out["heatmap"].float(), t["heatmap"])
        offset, size = at_centres(out["offset"], t["offset"]), at_centres(out["size"], t["size"])
        color_logits = out["color"].float().permute(0, 2, 3, 1)[centre]
        color = F.cross_entropy(color_logits, t["color"][centre]) if centre.any() else heat * 0
        loss = heat + offset + SIZE_WEIGHT * size + color
        return loss, {"heatmap": heat.item(), "offset": offset.item(), "size": size.item(), "color": color.item()}


# -- decoding ------------------------------------------------------------------------------------


def decode(heatmap: torch.Tensor, offset: torch.Tensor, size: torch.Tensor, color_logits: torch.Tensor, classes, colors,
           image_size: int, min_score: float = MIN_SCORE) -> list[list[ColoredDetection]]:  # fmt: skip
    """Per image, the class hypotheses at heatmap peaks (a cell that is the maximum of its 3 x 3
    neighbourhood in that class's map) scoring above `min_score`; heatmap holds probabilities
    (B, classes, G, G). Boxes are in pixels, clipped to the canvas; hypotheses at one cell share a mask."""
    peaks = heatmap * (heatmap == F.max_pool2d(heatmap, 3, stride=1, padding=1))
    out: list[list[ColoredDetection]] = [[] for _ in range(heatmap.shape[0])]
    cells: dict[tuple[int, int, int], tuple[tuple, np.ndarray, str]] = {}  # (image, row, col) -> box, mask, colour
    for b, k, row, col in (peaks > min_score).nonzero().tolist():
        if (b, row, col) not in cells:
            box, mask = _cell_box(offset[b, :, row, col], size[b, :, row, col], row, col, image_size)
            cells[b, row, col] = (box, mask, colors[int(color_logits[b, :, row, col].argmax())])
        box, mask, color = cells[b, row, col]
        out[b].append(ColoredDetection(classes[k], box, float(heatmap[b, k, row, col]), mask, color))
    return out


def _cell_box(offset, size, row: int, col: int, image_size: int) -> tuple[tuple, np.ndarray]:
    cx, cy = (col + float(offset[0])) * STRIDE, (row + float(offset[1])) * STRIDE
    w, h = float(size[0]) * STRIDE, float(size[1]) * STRIDE
    box = tuple(float(np.clip(v, 0, image_size)) for v in (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    mask = np.zeros((image_size, image_size), bool)
    mask[int(round(box[1])) : int(round(box[3])), int(round(box[0])) : int(round(box[2]))] = True
    return box, mask


class LearnedDetector:
    """The trained model as a detector: GenEval's `Detector` protocol, and one detection per instance."""

    name = "learned"

    def __init__(self, model: CenterNetDetector, device: str = "cpu", min_score: float = MIN_SCORE,
                 batch_size: int = 256):  # fmt: skip
        self.model = model.eval().to(device)
        self.classes, self.colors = tuple(model.config.classes), tuple(model.config.colors)
        self.size, self.min_score, self.batch_size = model.config.image_size, min_score, batch_size

    def check_size(self, width: int, height: int, where: str) -> None:
        if (width, height) != (self.size, self.size):
            raise ValueError(f"{where}: the learned detector reads {self.size} px images (its training size), got "
                             f"{width}x{height}; sample or resize to {self.size} x {self.size}")  # fmt: skip

    @torch.no_grad()
    def detect_batch(self, images) -> list[list[ColoredDetection]]:
        """Every class hypothesis of each image (uint8 H x W x 3 arrays)."""
        for i, image in enumerate(images):
            self.check_size(image.shape[1], image.shape[0], f"image {i}")
        device = next(self.model.parameters()).device
        found = []
        for start in range(0, len(images), self.batch_size):
            out = self.model(to_tensor(np.stack(images[start : start + self.batch_size])).to(device))
            out = {k: v.float().cpu() for k, v in out.items()}
            found += decode(out["heatmap"].sigmoid(), out["offset"], out["size"], out["color"], self.classes,
                            self.colors, self.size, self.min_score)  # fmt: skip
        return found

    def detect(self, image: np.ndarray) -> list[ColoredDetection]:
        return self.detect_batch([image])[0]

    def instances_batch(self, images, threshold: float) -> list[list[ColoredDetection]]:
        """Per image, one detection per instance: its most confident class, kept when above `threshold`."""
        return [best_per_instance(dets, threshold) for dets in self.detect_batch(images)]

    def classify_colors(self, image: np.ndarray, found, cls: str) -> list[str]:
        return [d.color for d in found]


def best_per_instance(detections, threshold: float) -> list:
    """The most confident hypothesis of each instance (hypotheses of one share its mask), if above `threshold`."""
    best: dict[int, Detection] = {}
    for d in detections:
        if d.score > threshold and (id(d.mask) not in best or d.score > best[id(d.mask)].score):
            best[id(d.mask)] = d
    return list(best.values())


# -- held-out report, training, loading --------------------------------------------------------------


def match_scene(found, scene, size: int, min_iou: float = 0.5) -> dict:
    """Counts for one image: objects, detections, objects found (a detection of their class whose box
    overlaps theirs at IoU >= `min_iou`, each detection used once), of those the colour right, and
    the summed absolute box error in pixels."""
    free = list(found)
    hits, colour_right, box_error = 0, 0, 0.0
    for obj in scene.objects:
        truth = [v * size for v in obj.bbox]
        scored = [(box_iou(d.box, truth), j) for j, d in enumerate(free) if d.cls == obj.cls]
        iou, j = max(scored, default=(0.0, -1))
        if iou >= min_iou:
            d = free.pop(j)
            hits, colour_right = hits + 1, colour_right + (d.color == obj.color)
            box_error += float(np.mean(np.abs(np.subtract(d.box, truth))))
    return {"objects": len(scene.objects), "detections": len(found), "found": hits, "colour_right": colour_right,
            "box_error": box_error}  # fmt: skip


def heldout_report(detector: LearnedDetector, seed: int, n: int = 500) -> dict:
    """Recall, precision, colour accuracy and box error on `n` fresh scenes, clean and degraded."""
    report = {"heldout_images": n}
    for name, share in (("clean", 0.0), ("degraded", 1.0)):
        data = DetectorScenes(size=detector.size, seed=seed, degrade_share=share)
        samples = [data.sample(i) for i in range(n)]
        found = detector.instances_batch([image for image, _ in samples], FOUND_THRESHOLD)
        rows = [match_scene(f, scene, detector.size) for f, (_, scene) in zip(found, samples)]
        total = {k: sum(r[k] for r in rows) for k in rows[0]}
        report[name] = {"objects": total["objects"], "detections": total["detections"],
                        "recall": total["found"] / total["objects"],
                        "precision": total["found"] / max(total["detections"], 1),
                        "colour_accuracy": total["colour_right"] / max(total["found"], 1),
                        "box_error_px": total["box_error"] / max(total["found"], 1)}  # fmt: skip
    return report


def train_detector(cfg: DetectorTrainConfig, progress: bool = True) -> dict:
    """Train (or resume) the detector on fresh scenes; writes `output_dir/detector` and
    `detector_report.json` (held-out recall, precision, colour accuracy on scenes of another seed),
    returns the report."""
    import json

    from ..locks import write_atomic
    from ..train.loop import train

    cfg.check()
    torch.manual_seed(cfg.seed)
    model = train(CenterNetDetector(width=cfg.width), DetectorTask(), DetectorScenes(seed=cfg.seed), cfg.loop(), progress).eval()
    model.save_pretrained(Path(cfg.output_dir) / "detector", safe_serialization=True)
    report = heldout_report(LearnedDetector(model), cfg.seed + 1_000_003, cfg.heldout)
    write_atomic(Path(cfg.output_dir) / "detector_report.json", json.dumps(report, indent=1) + "\n")
    return report


def load_detector(path, device: str = "cpu") -> LearnedDetector:
    """A detector folder written by `reasongen train detector` (RUN/detector)."""
    if path is None or not (Path(path) / "config.json").is_file():
        raise ValueError(f"{path}: no trained detector here; pass RUN/detector, a folder written by "
                         "`reasongen train detector`")
    model = CenterNetDetector.from_pretrained(path, local_files_only=True, use_safetensors=True)
    return LearnedDetector(model, device=device)
