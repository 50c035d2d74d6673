"""`ShapesNarrator`: the world's own reasoner as ReasonDiff's narrator, for a text and an image alone.

The oracle narrator needs the clip. This one does what a VisionNarrator does, with exact tools:
it reads the image with the ShapesWorld detector (class, colour and box of each object) and the text
with the grammar of the event captions (`world/video.py`, with or without colours), then lays the
event out through the image's state and says where the image falls:

| event | the image is ... | anchor |
| --- | --- | --- |
| move | where the object stands along its way (its place in the room it has to move) | proportional |
| appear / disappear | after the change if the object is (is not) there, else before | last / first frame |
| recolour | after if the object has the new colour, else before | last / first frame |
| grow / shrink | how large the object is between the smallest and largest sides | proportional |
| split / merge | one object: before the split (after the merge); two: apart by as far as they drifted | first (last) / proportional |
| swap | as far through the swap as their offset says (sharing a row: the start) | proportional |

What the image cannot tell (the colour before a recolour, where a vanished object stood) is left out
of the narratives rather than invented. Text it cannot read, or an image without the named object,
gives the image held still at frame 0, with the reason in `problems`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ...world.describe import object_place, reading_order, size_word
from ...eval.shapes_detector import ShapesDetector
from ...eval.shapes_detector import instances
from ...world.scene import Obj, Scene, tight_box
from ...world.render import area_and_centroid
from ...world.vocab import CLASSES, COLOR_NAMES, MAX_SIDE, MIN_SIDE, with_article
from .narrator import Narration

MIN_CONFIDENCE = 0.3
MOVE_TRAVEL = 0.5  # canvas units a move covers here (the world's moves cover at least 0.35)
SPLIT_SPREAD = 0.2  # how far each half travels after a split (the world draws 0.15 to 0.25)
_CELL = {"top": 1 / 6, "bottom": 5 / 6, "left": 1 / 6, "right": 5 / 6}


@dataclass(frozen=True)
class Thing:
    """An object as the narrator knows it: colour or box may be unknown (None)."""

    cls: str
    color: str | None
    box: tuple[float, float, float] | None

    def phrase(self) -> str:
        words = ([size_word(self.box[2])] if self.box else []) + ([self.color] if self.color else []) + [self.cls]
        text = with_article(" ".join(words))
        if self.box:  # placed by the drawn shape's tight box, as the world's captions place it
            text += " " + object_place(self)
        return text

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return tight_box(self.cls, self.box)


def read_image(image: np.ndarray, detector: ShapesDetector | None = None) -> list[Thing]:
    """The objects the detector finds (best class per instance), with boxes in the world's terms."""
    detector = detector or ShapesDetector()
    size = image.shape[0]
    things = []
    for det in instances(image, detector, MIN_CONFIDENCE):
        # side from the area and corner from the centroid, as the detector fits its templates: finer
        # than the pixel box, whose one-pixel steps flip size words at their limits
        area, cx, cy = area_and_centroid(det.cls)
        ys, xs = np.nonzero(det.mask)
        s = float(np.sqrt(len(xs) / area)) / size
        color = detector.classify_colors(image, [det], det.cls)[0]
        things.append(Thing(det.cls, color, ((xs.mean() + 0.5) / size - cx * s, (ys.mean() + 0.5) / size - cy * s, s)))
    return things


_NOUN = r"(?:(?P<{0}c>" + "|".join(COLOR_NAMES) + r") )?(?P<{0}>\w+)"
_EVENTS = [
    ("move", rf"(?:a|an) {_NOUN.format('a')} moves (?P<dir>left|right|up|down)"),
    ("appear", rf"(?:a|an) {_NOUN.format('a')} appears(?: at the (?P<place>[a-z ]+))?"),
    ("disappear", rf"(?:a|an) {_NOUN.format('a')} disappears"),
    ("recolour", rf"(?:a|an) {_NOUN.format('a')} turns (?P<new>" + "|".join(COLOR_NAMES) + ")"),
    ("grow", rf"(?:a|an) {_NOUN.format('a')} grows"),
    ("shrink", rf"(?:a|an) {_NOUN.format('a')} shrinks"),
    ("split", rf"(?:a|an) {_NOUN.format('a')} splits in two"),
    ("merge", rf"two {_NOUN.format('a')} merge into one"),
    ("swap", rf"(?:a|an) {_NOUN.format('a')} and (?:a|an) {_NOUN.format('b')} swap places"),
]


def parse_event(text: str) -> tuple[str, dict] | None:
    """(event, fields) of a ShapesWorld event caption, or None. Classes must be the world's."""
    t = " ".join(text.lower().strip().rstrip(".").split())
    for event, pattern in _EVENTS:
        m = re.fullmatch(pattern, t)
        if m is None:
            continue
        fields = m.groupdict()
        for k in ("a", "b"):
            if k in fields:
                fields[k] = _singular(fields[k])
        if all(fields[k] in CLASSES for k in ("a", "b") if k in fields):
            return event, fields
    return None


def _singular(word: str) -> str:
    """'crosses' -> 'cross', 'hexagons' -> 'hexagon' (the world's plurals); a class stays itself."""
    for ending in ("es", "s"):
        if word not in CLASSES and word.endswith(ending) and word[: -len(ending)] in CLASSES:
            return word[: -len(ending)]
    return word


class ShapesNarrator:
    def __init__(self, detector: ShapesDetector | None = None):
        self.detector = detector or ShapesDetector()

    def __call__(self, text: str, image: np.ndarray, num_frames: int) -> Narration:
        things = read_image(image, self.detector)
        parsed = parse_event(text)
        if parsed is None:
            return _still(things, num_frames, f"the text {text!r} names no ShapesWorld event; the image is held still at frame 0")
        event, f = parsed
        named = [t for t in things if t.cls == f["a"] and (f["ac"] is None or t.color == f["ac"])]
        if event == "swap":
            other = [t for t in things if t.cls == f["b"] and (f["bc"] is None or t.color == f["bc"])]
            if not named or not other:
                return _still(things, num_frames, f"the image shows no {f['a'] if not named else f['b']} to swap; held still at frame 0")
            return _swap(things, named[0], other[0], num_frames)
        if event in ("move", "grow", "shrink", "recolour") and not named:
            return _still(things, num_frames, f"the image shows no {f['a']} that could {event}; held still at frame 0")
        return _BUILDERS[event](things, named, f, num_frames)


def _narration(frames: list[list[Thing]], anchor: int, problems=()) -> Narration:
    def say(objs):
        parts = [t.phrase() for t in reading_order([t for t in objs if t.box])] + [t.phrase() for t in objs if not t.box]
        if not parts:
            return "nothing"
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

    complete = all(t.box and t.color for f in frames for t in f)
    scenes = [Scene(tuple(Obj(t.cls, t.color, t.box) for t in f)) for f in frames] if complete else None
    return Narration(anchor, [say(f) for f in frames], list(problems), scenes)


def _still(things, T, problem) -> Narration:
    return _narration([list(things)] * T, 0, [problem])


def _switch(T: int) -> int:
    return T // 2  # the change happens mid-clip (the world's events switch between 30% and 70%)


def _others(things, subject):
    return [t for t in things if t is not subject]


def _move(things, named, f, T):
    o = named[0]
    x, y, s = o.box
    horizontal = f["dir"] in ("left", "right")
    p, room = (x if horizontal else y), 1 - s
    travel = min(MOVE_TRAVEL, room)
    forward = f["dir"] in ("right", "down")
    done = p / room if forward else (room - p) / room  # how far along its room the object already is
    anchor = int(round(done * (T - 1)))
    step = (travel if forward else -travel) / (T - 1)
    frames = []
    for t in range(T):  # through the image's own position at the anchor frame
        q = p + (t - anchor) * step
        frames.append([Thing(o.cls, o.color, (q, y, s) if horizontal else (x, q, s))] + _others(things, o))
    return _narration(frames, anchor)


def _pop(things, named, f, T, appear: bool):
    k = _switch(T)
    if named:  # the object is in the image: after it appeared, before it disappears
        o, rest = named[0], _others(things, named[0])
        anchor = T - 1 if appear else 0
    else:
        place = f.get("place")
        box = None
        if place:
            words = place.split()
            cx = next((_CELL[w] for w in words if w in ("left", "right")), 0.5)
            cy = next((_CELL[w] for w in words if w in ("top", "bottom")), 0.5)
            box = (cx - 0.1, cy - 0.1, 0.2)
        o, rest = Thing(f["a"], f["ac"], box), list(things)
        anchor = 0 if appear else T - 1
    frames = [rest + ([o] if (t < k) != appear else []) for t in range(T)]
    return _narration(frames, anchor)


def _recolour(things, named, f, T):
    o, rest, k = named[0], _others(things, named[0]), _switch(T)
    if o.color == f["new"]:  # already changed: the colour before is unknown unless the text said it
        before, after, anchor = Thing(o.cls, f["ac"], o.box), o, T - 1
    else:
        before, after, anchor = o, Thing(o.cls, f["new"], o.box), 0
    return _narration([[before if t < k else after] + rest for t in range(T)], anchor)


def _resize(things, named, f, T, grow: bool):
    o = named[0]
    x, y, s = o.box
    cx, cy = x + s / 2, y + s / 2
    small, large = min(s, 0.2), max(s, min(MAX_SIDE, 1.4 * min(s, 0.2)))
    done = (s - small) / (large - small) if grow else (large - s) / (large - small)
    anchor = int(round(done * (T - 1)))
    step = (large - small) / (T - 1) * (1 if grow else -1)
    frames = []
    for t in range(T):  # through the image's own size at the anchor frame
        side = s + (t - anchor) * step
        frames.append([Thing(o.cls, o.color, (cx - side / 2, cy - side / 2, side))] + _others(things, o))
    return _narration(frames, anchor)


def _split(things, named, f, T, split: bool):
    k = _switch(T)
    pair = named[:2]
    if len(pair) == 2:  # two halves in the image
        (a, b), rest = pair, [t for t in things if t not in pair]
        xa, ya, sa = a.box
        xb, yb, sb = b.box
        side = min(MAX_SIDE, max(MIN_SIDE, sa / 0.7))
        cx, cy = (xa + sa / 2 + xb + sb / 2) / 2, (ya + sa / 2 + yb + sb / 2) / 2
        whole = Thing(a.cls, a.color, (cx - side / 2, cy - side / 2, side))
        halves = [a, b]
        # the halves drift apart after parting: their gap says how long ago (assuming the world's
        # middle values, a switch at half the clip and a spread of 0.2 of the canvas)
        (left, right) = sorted(halves, key=lambda t: t.box[0])
        drift = max(0.0, (right.box[0] - left.box[0] - left.box[2]) / 2)
        since = 0.5 + 0.5 * min(1.0, drift / SPLIT_SPREAD)
        anchor = int(round((since if split else 1 - since) * (T - 1)))
        k = min(anchor, k) if split else max(anchor + 1, k)  # the anchor frame shows the halves
    elif len(pair) == 1:
        whole, rest = pair[0], _others(things, pair[0])
        x, y, s = whole.box
        c = 0.7 * s
        halves = [Thing(whole.cls, whole.color, (x + s / 2 - c - 0.1, y + s / 2 - c / 2, c)),
                  Thing(whole.cls, whole.color, (x + s / 2 + 0.1, y + s / 2 - c / 2, c))]  # fmt: skip
        anchor = 0 if split else T - 1
    else:
        return _still(things, T, f"the image shows no {f['a']} to {'split' if split else 'merge'}; held still at frame 0")
    first, last = ([whole], halves) if split else (halves, [whole])
    return _narration([(first if t < k else last) + rest for t in range(T)], anchor)


def _swap(things, a, b, T):
    """The two exchange places along a row, bending apart to pass. The image fixes how far apart
    they are now and how far they have bent; `a` is taken to start on the left, and the swap to span
    at least 0.4 of the canvas."""
    rest = [t for t in things if t is not a and t is not b]
    (xa, ya, sa), (xb, yb, sb) = a.box, b.box
    gap = xb - xa  # b's lead over a now
    span = max(abs(gap), 0.4) if abs(yb - ya) > 0.02 else abs(gap)  # bent apart: mid-swap
    u0 = (1 - gap / span) / 2 if span else 0.0  # how far through the swap the image is
    start_a = xa - span * u0
    row, bend_now = (ya + yb) / 2, (yb - ya) / 2
    lift = bend_now / np.sin(np.pi * u0) if 0 < u0 < 1 else 0.0
    frames = []
    for u in np.linspace(0, 1, T):
        bend = lift * np.sin(np.pi * u)
        frames.append([Thing(a.cls, a.color, (start_a + span * u, row - bend, sa)),
                       Thing(b.cls, b.color, (start_a + span * (1 - u), row + bend, sb))] + rest)  # fmt: skip
    return _narration(frames, int(round(u0 * (T - 1))))


_BUILDERS = {
    "move": _move,
    "appear": lambda things, named, f, T: _pop(things, named, f, T, True),
    "disappear": lambda things, named, f, T: _pop(things, named, f, T, False),
    "recolour": _recolour,
    "grow": lambda things, named, f, T: _resize(things, named, f, T, True),
    "shrink": lambda things, named, f, T: _resize(things, named, f, T, False),
    "split": lambda things, named, f, T: _split(things, named, f, T, True),
    "merge": lambda things, named, f, T: _split(things, named, f, T, False),
}
