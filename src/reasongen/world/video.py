"""ShapesWorld video: short clips of one event each (shapesworld.md, "Video"), for ReasonDiff.

A clip is one scene per frame, drawn by the world's renderer, with a caption for the whole event and
one per frame (what the frame shows, `describe`). Lengths are 1 + 4k frames (9, 13, 17, ...) so that
the Wan VAE takes them whole. The events:

| event | what happens | caption |
| --- | --- | --- |
| move | one object slides left, right, up or down by at least 0.35 of the canvas | "a red circle moves right" |
| appear / disappear | an object pops in (out) at a frame between 30% and 70% of the clip; another object stays | "a blue star appears at the top left" |
| recolour | an object changes colour at such a frame | "a red heart turns blue" |
| grow / shrink | an object's side changes by a factor of 1.4 or more about a fixed centre | "a purple diamond grows" |
| split / merge | one object becomes two of 0.7 of its side that move apart (merge: the reverse) | "a yellow hexagon splits in two" |
| swap | two objects of one row exchange places, one passing above the other, never touching | "a red circle and a blue star swap places" |

Boxes stay inside the canvas in every frame, and objects stay apart (the scene rules' gap) in every
frame but one kind: the two halves of a split touch at the moment they part (and of a merge when
they join).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .describe import describe, place_words
from .heldout import scene_holds_held_out
from .scene import Obj, Scene, boxes_apart, pick
from .vocab import CLASSES, COLOR_NAMES, MIN_GAP, MIN_SIDE, with_article

EVENTS = ("move", "appear", "disappear", "recolour", "grow", "shrink", "split", "merge", "swap")
DEFAULT_FRAMES = 17
MIN_SHIFT = 0.35  # how far a moving object travels, canvas units
MAX_TRIES = 200


@dataclass(frozen=True)
class Clip:
    event: str
    scenes: tuple[Scene, ...]  # one per frame
    caption: str  # what happens
    frame_captions: tuple[str, ...]  # what each frame shows

    def __len__(self) -> int:
        return len(self.scenes)

    def render(self, size: int = 64) -> np.ndarray:
        """uint8 (T, H, W, 3)."""
        return np.stack([s.render(size) for s in self.scenes])


def dense_caption(text: str, first: str, last: str) -> str:
    """One prompt for a whole clip: what happens, then where it starts and ends ("a pink diamond
    moves left, from a small pink diamond at the bottom right to a small pink diamond at the bottom
    left"). Wan2.1 trains on dense recaptions; an event caption alone does not say where things are."""
    return f"{text}, from {first} to {last}"


def check_clip_length(num_frames: int) -> None:
    if num_frames < 5 or (num_frames - 1) % 4:
        raise ValueError(f"a clip of {num_frames} frames: use 1 + 4k frames with k >= 1 (5, 9, 13, 17, ...), the lengths the Wan VAE encodes whole")



def _name(cls: str, color: str) -> str:
    return with_article(f"{color} {cls}")


def _clip(event: str, frames: list[list[Obj]], caption: str) -> Clip:
    # boxes rounded as scenes are stored (6 decimals), so a clip read back from JSON is the same clip
    scenes = tuple(Scene(tuple(Obj(o.cls, o.color, tuple(round(float(v), 6) for v in o.box)) for o in objs)) for objs in frames)
    return Clip(event, scenes, caption, tuple(describe(s) for s in scenes))


def _times(T: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, T)


def _switch(rng) -> float:
    return float(rng.uniform(0.3, 0.7))


def _static(rng, avoid: list[tuple[float, float, float]], side_max: float = 0.24) -> Obj | None:
    """A still object apart from every box in `avoid` (None if there is no room)."""
    for _ in range(MAX_TRIES):
        s = float(rng.uniform(MIN_SIDE, side_max))
        x, y = (float(v) for v in rng.uniform(0, 1 - s, 2))
        if all(boxes_apart((x, y, s), b) for b in avoid):
            return Obj(pick(rng, CLASSES), pick(rng, COLOR_NAMES), (x, y, s))
    return None


def _move(rng, T):
    cls, color = pick(rng, CLASSES), pick(rng, COLOR_NAMES)
    s = float(rng.uniform(MIN_SIDE, 0.26))
    direction = pick(rng, ("right", "left", "up", "down"))
    while True:
        a, b = sorted(float(v) for v in rng.uniform(0, 1 - s, 2))
        if b - a >= MIN_SHIFT:
            break
    start, end = (a, b) if direction in ("right", "down") else (b, a)
    across = float(rng.uniform(0, 1 - s))  # the fixed coordinate
    horizontal = direction in ("right", "left")

    def box(p):
        return (p, across, s) if horizontal else (across, p, s)

    # a still object, kept clear of the whole strip the mover sweeps (half of the clips)
    still = None
    if rng.random() < 0.5:
        candidate = _static(rng, [box(start), box(end)])
        if candidate is not None:
            lo = candidate.box[1] if horizontal else candidate.box[0]  # its extent across the motion
            if lo + candidate.box[2] + MIN_GAP <= across or across + s + MIN_GAP <= lo:
                still = candidate
    frames = [[Obj(cls, color, box(start + (end - start) * u))] + ([still] if still else []) for u in _times(T)]
    return _clip("move", frames, f"{_name(cls, color)} moves {direction}")


def _pop(rng, T, appear: bool):
    still = _static(rng, [])
    obj = None
    while obj is None:
        obj = _static(rng, [still.box], side_max=0.3)
    k = _switch(rng)
    frames = [[still] + ([obj] if (u >= k) == appear else []) for u in _times(T)]
    x1, y1, x2, y2 = obj.bbox
    where = f" {place_words((x1 + x2) / 2, (y1 + y2) / 2)}" if appear else ""
    return _clip("appear" if appear else "disappear", frames, f"{_name(obj.cls, obj.color)} {'appears' if appear else 'disappears'}{where}")


def _recolour(rng, T):
    obj = _static(rng, [], side_max=0.3)
    new = pick(rng, [c for c in COLOR_NAMES if c != obj.color])
    still = _static(rng, [obj.box]) if rng.random() < 0.5 else None
    k = _switch(rng)
    frames = [[Obj(obj.cls, obj.color if u < k else new, obj.box)] + ([still] if still else []) for u in _times(T)]
    return _clip("recolour", frames, f"{_name(obj.cls, obj.color)} turns {new}")


def _resize(rng, T, grow: bool):
    cls, color = pick(rng, CLASSES), pick(rng, COLOR_NAMES)
    small = float(rng.uniform(MIN_SIDE, 0.22))
    large = float(rng.uniform(max(1.4 * small, 0.26), 0.34))
    cx, cy = (float(v) for v in rng.uniform(large / 2, 1 - large / 2, 2))
    a, b = (small, large) if grow else (large, small)
    frames = []
    for u in _times(T):
        s = a + (b - a) * u
        frames.append([Obj(cls, color, (cx - s / 2, cy - s / 2, s))])
    return _clip("grow" if grow else "shrink", frames, f"{_name(cls, color)} {'grows' if grow else 'shrinks'}")


def _split(rng, T, split: bool):
    cls, color = pick(rng, CLASSES), pick(rng, COLOR_NAMES)
    s = float(rng.uniform(0.22, 0.3))
    c = 0.7 * s
    spread = float(rng.uniform(0.15, 0.25))  # how far each half travels after parting
    cx = float(rng.uniform(c + spread, 1 - c - spread))
    cy = float(rng.uniform(s / 2, 1 - s / 2))
    k = _switch(rng)
    frames = []
    for u in _times(T):
        t = u if split else 1 - u
        if t < k:
            frames.append([Obj(cls, color, (cx - s / 2, cy - s / 2, s))])
        else:
            d = spread * (t - k) / (1 - k)
            frames.append([Obj(cls, color, (cx - c - d, cy - c / 2, c)), Obj(cls, color, (cx + d, cy - c / 2, c))])
    caption = f"{_name(cls, color)} splits in two" if split else f"two {color} {cls}{'es' if cls.endswith('s') else 's'} merge into one"
    return _clip("split" if split else "merge", frames, caption)


def _swap(rng, T):
    s = float(rng.uniform(MIN_SIDE, 0.22))
    reach = s + MIN_GAP  # centres closer than this along both axes would make the boxes touch
    while True:
        xa, xb = (float(v) for v in rng.uniform(0, 1 - s, 2))
        gap = abs(xa - xb)
        if gap < reach + 0.1:
            continue
        # while the two are within `reach` of each other across, they must be `reach` apart vertically:
        # each bends away by lift * sin(pi u), enough at the first moment they come that close
        first_close = (1 - reach / gap) / 2
        lift = reach / (2 * np.sin(np.pi * first_close))
        if 1 - s - 2 * lift >= 0:
            break
    y = float(rng.uniform(lift, 1 - s - lift))
    a = Obj(pick(rng, CLASSES), pick(rng, COLOR_NAMES), (xa, y, s))
    b = Obj(pick(rng, [c for c in CLASSES if c != a.cls]), pick(rng, COLOR_NAMES), (xb, y, s))
    frames = []
    for u in _times(T):
        bend = lift * np.sin(np.pi * u)
        frames.append([Obj(a.cls, a.color, (xa + (xb - xa) * u, y - bend, s)), Obj(b.cls, b.color, (xb + (xa - xb) * u, y + bend, s))])
    return _clip("swap", frames, f"{_name(a.cls, a.color)} and {_name(b.cls, b.color)} swap places")


_BUILDERS = {
    "move": _move,
    "appear": lambda rng, T: _pop(rng, T, True),
    "disappear": lambda rng, T: _pop(rng, T, False),
    "recolour": _recolour,
    "grow": lambda rng, T: _resize(rng, T, True),
    "shrink": lambda rng, T: _resize(rng, T, False),
    "split": lambda rng, T: _split(rng, T, True),
    "merge": lambda rng, T: _split(rng, T, False),
    "swap": _swap,
}


def sample_clip(rng: np.random.Generator, num_frames: int = DEFAULT_FRAMES, event: str | None = None,
                held_out: bool = True) -> Clip:  # fmt: skip
    """One clip of `event` (default: any, uniformly). `held_out=False` (training data) redraws, from
    the same generator, a clip any of whose frames shows a held-out composition (world/heldout.py);
    a clip that shows none is the same either way."""
    check_clip_length(num_frames)
    if event is not None and event not in _BUILDERS:
        raise ValueError(f"unknown event {event!r}; choose from {', '.join(EVENTS)}")
    for _ in range(1000):
        clip = _BUILDERS[event if event is not None else pick(rng, EVENTS)](rng, num_frames)
        if held_out or not any(scene_holds_held_out(s.objects) for s in clip.scenes):
            return clip
    raise RuntimeError(f"drew a held-out composition in 1000 clips of {event or 'any event'}")


# -- cases: a text and an image, and where in the clip the image belongs ---------------------------

_PHRASE = re.compile(r"\b(a|an|two) (" + "|".join(COLOR_NAMES) + r") (\w+)")


def without_colours(caption: str) -> str:
    """The caption with the colour of every named object left out ('a red heart turns blue' ->
    'a heart turns blue'), so that the text says what happens without describing the image."""

    def plain(m):
        det, _, noun = m.groups()
        return f"two {noun}" if det == "two" else with_article(noun)

    return _PHRASE.sub(plain, caption)


@dataclass(frozen=True)
class VideoCase:
    """A text and an image for text+image-to-video. The image is frame `anchor` of `clip`; every
    frame in `anchors` looks exactly like it (a state that lasts), so any of them is a right answer.
    Paired: the text is the clip's own caption and the image its first frame. Unpaired: the text
    names the event without the objects' colours and the image is any frame."""

    clip: Clip
    text: str
    anchor: int
    anchors: tuple[int, ...]
    paired: bool

    def image(self, size: int = 64) -> np.ndarray:
        return self.clip.scenes[self.anchor].render(size)

    def to_json(self) -> dict:
        c = self.clip
        return {"text": self.text, "anchor": self.anchor, "anchors": list(self.anchors), "paired": self.paired,
                "event": c.event, "caption": c.caption, "frame_captions": list(c.frame_captions),
                "scenes": [s.to_json() for s in c.scenes]}  # fmt: skip

    @classmethod
    def from_json(cls, d: dict) -> "VideoCase":
        clip = Clip(d["event"], tuple(Scene.from_json(s) for s in d["scenes"]), d["caption"], tuple(d["frame_captions"]))
        return cls(clip, d["text"], d["anchor"], tuple(d["anchors"]), d["paired"])


def make_case(rng: np.random.Generator, num_frames: int = DEFAULT_FRAMES, paired: bool = False, event: str | None = None,
              held_out: bool = True) -> VideoCase:  # fmt: skip
    clip = sample_clip(rng, num_frames, event, held_out)
    anchor = 0 if paired else int(rng.integers(num_frames))
    anchors = tuple(i for i, s in enumerate(clip.scenes) if s == clip.scenes[anchor])
    return VideoCase(clip, clip.caption if paired else without_colours(clip.caption), anchor, anchors, paired)
