"""Video metrics for ReasonDiff on ShapesWorld (issue: text and image consistency, motion smoothness,
dynamic degree, an imaging-quality proxy, anchor accuracy). Clips are uint8 (T, H, W, 3).

- **Text consistency** (the role of CLIP-T, read exactly): each frame is compared with the scene its
  narrative describes (the benchmark clip's frame). An object of the scene counts when the frame
  shows one of its class and colour at the same place word (3 x 3 grid, as the captions say it);
  a frame scores matched / max(objects described, objects shown), so extra objects cost too. The clip
  scores the mean over frames. A still image scores well on it: most of a frame is what the
  condition image already shows (the event changes one object, in part of the clip).
- **Event consistency** (ours; the part of text consistency that a still image cannot earn): only
  the frames whose scene differs from the scene at the anchor count, and each scores how much of
  that change it shows, as a product of three shares: the objects the change brings (a class and
  colour at a place word, or an object's new size, credited 1 at the new side and 0 at the old side
  or as far beyond the new), the objects it takes away being gone, and the objects it leaves being
  kept. The condition image held still scores 0, a blank frame 0, the true clip 1 (less the
  detector's misreadings). A clip scores the mean over its changed frames; a clip with none has no
  score.
- **Image consistency** (the role of CLIP-I): the same score between the condition image and the
  frame at the anchor, and the best over all frames (VBench-I2V's max over frames).
- **Motion smoothness** (VBench's rule with its AMT interpolator replaced by optical flow): from each
  pair of even frames (0, 2), (2, 4), ... the midpoint is interpolated with OpenCV's Farneback flow
  and compared with the real odd frame; score (255 - mean |difference|) / 255.
- **Dynamic degree** (VBench's rule with Farneback flow in place of RAFT): a pair of consecutive
  frames moves when the mean of its top 5% flow magnitudes exceeds 6 min(H, W) / 256 px; the clip is
  dynamic when at least round(4 T / 16) pairs move.
- **Imaging-quality proxy** (in place of MUSIQ, which needs its weights): the share of pixels within
  an RGB distance of 20 of the ground or a palette colour. Clean renders score about 0.96 (their
  anti-aliased rims are blends); blur, noise and smears score lower.
- **Anchor accuracy**: the narrator's anchor is one of the case's right anchors (every frame that
  looks exactly like the image).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from ..world.describe import object_place, place_words
from .shapes_detector import ShapesDetector, implied_box, instances
from ..world.scene import Scene
from ..world.vocab import COLORS, GROUND

MIN_CONFIDENCE = 0.3  # GenEval's detection threshold
SIZE_CHANGE = 0.05  # canvas units (3 px at 64): a smaller change of side is not read as a change
_PALETTE = np.array([GROUND, *COLORS.values()], dtype=np.float32)


def read_sized_objects(image: np.ndarray, detector: ShapesDetector | None = None) -> list[tuple[tuple[str, str, str], float]]:
    """((class, colour, place words), side in canvas units) of each object the detector finds."""
    detector = detector or ShapesDetector()
    size = image.shape[0]
    found = []
    for det in instances(image, detector, MIN_CONFIDENCE):
        x1, y1, x2, y2 = det.box
        colour = detector.classify_colors(image, [det], det.cls)[0]
        key = (det.cls, colour, place_words((x1 + x2) / 2 / size, (y1 + y2) / 2 / size))
        found.append((key, implied_box(det.cls, det.box, size)[2]))
    return found


def read_objects(image: np.ndarray, detector: ShapesDetector | None = None) -> list[tuple[str, str, str]]:
    """(class, colour, place words) of each object the detector finds in an image (its best class)."""
    return [key for key, _ in read_sized_objects(image, detector)]


def scene_objects(scene: Scene) -> list[tuple[str, str, str]]:
    return [(o.cls, o.color, object_place(o)) for o in scene.objects]


def match_score(shown: list[tuple], described: list[tuple]) -> float:
    """matched / max(len(described), len(shown)); 1 when both are empty."""
    if not shown and not described:
        return 1.0
    left = list(shown)
    matched = 0
    for obj in described:
        if obj in left:
            left.remove(obj)
            matched += 1
    return matched / max(len(described), len(shown))


def text_consistency(frames: np.ndarray, scenes: list[Scene], detector: ShapesDetector | None = None) -> float:
    if len(frames) != len(scenes):
        raise ValueError(f"{len(frames)} frames against {len(scenes)} described frames")
    detector = detector or ShapesDetector()
    return float(np.mean([match_score(read_objects(f, detector), scene_objects(s)) for f, s in zip(frames, scenes)]))


@dataclass(frozen=True)
class Change:
    """How a scene differs from the scene at the anchor: objects (class, colour, place) it adds,
    removes and keeps (counts), and kept objects whose side changed: (object, old side, new side)."""

    added: Counter
    removed: Counter
    kept: Counter
    resized: tuple[tuple[tuple[str, str, str], float, float], ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.resized)


def scene_change(before: Scene, after: Scene) -> Change:
    old, new = Counter(scene_objects(before)), Counter(scene_objects(after))
    kept = old & new
    resized = []
    for key in kept:  # objects that keep their class, colour and place, paired by size order
        sides = [sorted(o.box[2] for o in s.objects if (o.cls, o.color, object_place(o)) == key) for s in (before, after)]
        for a, b in list(zip(*sides))[: kept[key]]:
            if abs(b - a) >= SIZE_CHANGE:
                resized.append((key, a, b))
    return Change(new - old, old - new, kept, tuple(resized))


def change_shown(shown: list[tuple[tuple[str, str, str], float]], change: Change) -> float:
    """How much of `change` a frame shows (its detected sized objects): the share of the added objects
    shown (a new size counts 1 - |shown side - new| / |new - old|, at least 0), times the share of the
    removed ones gone, times the share of the kept ones kept. Counts are per object kind, on top of
    the scene at the anchor."""
    count = Counter(key for key, _ in shown)
    before = change.kept + change.removed
    brought = sum(min(max(count[k] - before[k], 0), n) for k, n in change.added.items())
    for key, a, b in change.resized:  # the shown object of this kind whose side is nearest the new one:
        sides = [side for k, side in shown if k == key]  # 1 at the new side, 0 at the old or as far past the new
        brought += max(1.0 - abs(min(sides, key=lambda s: abs(s - b)) - b) / abs(b - a), 0.0) if sides else 0.0
    to_bring = sum(change.added.values()) + len(change.resized)
    gone = sum(min(max(before[k] - count[k], 0), n) for k, n in change.removed.items())
    left = sum(min(count[k], n) for k, n in change.kept.items())
    shares = [brought / to_bring if to_bring else 1.0, gone / sum(change.removed.values()) if change.removed else 1.0,
              left / sum(change.kept.values()) if change.kept else 1.0]  # fmt: skip
    return float(np.prod(shares))


def event_consistency(frames: np.ndarray, scenes: list[Scene], anchor: int, detector: ShapesDetector | None = None) -> float | None:
    """Mean over the frames whose scene differs from the scene at `anchor` of the share of that change
    the frame shows (`change_shown`); None when no frame differs."""
    if len(frames) != len(scenes):
        raise ValueError(f"{len(frames)} frames against {len(scenes)} described frames")
    detector = detector or ShapesDetector()
    size = frames.shape[1]
    anchor_read = None  # the anchor's true render as the detector reads it, read once
    scores = []
    for frame, scene in zip(frames, scenes):
        change = scene_change(scenes[anchor], scene)
        if change.resized:  # sides as the detector reads the true renders, so its bias cancels
            if anchor_read is None:
                anchor_read = read_sized_objects(scenes[anchor].render(size), detector)
            scene_read = read_sized_objects(scene.render(size), detector)
            change = replace(change, resized=tuple((key, _nearest_side(anchor_read, key, a), _nearest_side(scene_read, key, b))
                                                   for key, a, b in change.resized))  # fmt: skip
        if change:
            scores.append(change_shown(read_sized_objects(frame, detector), change))
    return float(np.mean(scores)) if scores else None


def _nearest_side(read: list[tuple[tuple[str, str, str], float]], key: tuple, side: float) -> float:
    """Of the sides read for objects `key`, the one nearest the true `side` (itself if none was read)."""
    sides = [s for k, s in read if k == key]
    return min(sides, key=lambda s: abs(s - side)) if sides else side


def image_consistency(frames: np.ndarray, image: np.ndarray, anchor: int, detector: ShapesDetector | None = None) -> dict:
    """The condition image against the frame at `anchor`, and against its best frame."""
    detector = detector or ShapesDetector()
    want = read_objects(image, detector)
    scores = [match_score(read_objects(f, detector), want) for f in frames]
    return {"at_anchor": scores[anchor], "best_frame": max(scores)}


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import cv2

    ga, gb = (cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_RGB2GRAY) for x in (a, b))
    return cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 3, 9, 3, 5, 1.1, 0)


def _midpoint(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The frame halfway between a and b: each warped half-way along the flow, then averaged."""
    import cv2

    H, W = a.shape[:2]
    flow = _flow(a, b)
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    # backward warping with the flow at the target pixel, the usual approximation
    from_a = cv2.remap(a, xs - 0.5 * flow[..., 0], ys - 0.5 * flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    from_b = cv2.remap(b, xs + 0.5 * flow[..., 0], ys + 0.5 * flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return (from_a.astype(np.float32) + from_b.astype(np.float32)) / 2


def motion_smoothness(frames: np.ndarray) -> float:
    if len(frames) < 3:
        raise ValueError(f"motion smoothness needs at least 3 frames, got {len(frames)}")
    errors = [np.abs(_midpoint(frames[i], frames[i + 2]) - frames[i + 1].astype(np.float32)).mean()
              for i in range(0, len(frames) - 2, 2)]  # fmt: skip
    return float((255.0 - np.mean(errors)) / 255.0)


def dynamic_degree(frames: np.ndarray) -> int:
    """1 if the clip moves by VBench's rule (Farneback flow in place of RAFT), else 0."""
    H, W = frames.shape[1:3]
    threshold = 6.0 * min(H, W) / 256
    needed = round(4 * len(frames) / 16)
    cut = max(1, int(0.05 * H * W))
    moving = 0
    for a, b in zip(frames[:-1], frames[1:]):
        magnitude = np.linalg.norm(_flow(a, b), axis=-1).ravel()
        moving += float(np.sort(magnitude)[-cut:].mean()) > threshold
    return int(moving >= needed)


def palette_fidelity(frames: np.ndarray, tolerance: float = 20.0) -> float:
    """Share of pixels within `tolerance` (RGB distance) of the ground or a palette colour."""
    px = frames.reshape(-1, 3).astype(np.float32)
    d = np.sqrt(((px[:, None] - _PALETTE[None]) ** 2).sum(-1)).min(1)
    return float((d <= tolerance).mean())


def anchor_correct(predicted: int, anchors) -> bool:
    return int(predicted) in set(anchors)
