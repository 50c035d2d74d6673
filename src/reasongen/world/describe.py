"""Words for what a ShapesWorld scene shows: each object's size, colour, class and place on a 3 x 3
grid, in reading order. FoX's detailed captions and the video clips' per-frame captions use them."""

from __future__ import annotations

from .scene import Obj, Scene
from .vocab import with_article

SIZE_WORDS = ((0.22, "small"), (0.28, "medium"), (1.0, "large"))  # by box side, canvas units


def size_word(side: float) -> str:
    return next(word for limit, word in SIZE_WORDS if side < limit)


def place_words(x: float, y: float) -> str:
    """'at the top left', 'at the right', 'at the centre' for a point in canvas units (y down)."""
    row = "top" if y < 1 / 3 else "bottom" if y > 2 / 3 else ""
    col = "left" if x < 1 / 3 else "right" if x > 2 / 3 else ""
    return f"at the {row} {col}".replace("  ", " ").strip() if (row or col) else "at the centre"


def reading_order(objects) -> list[Obj]:
    return sorted(objects, key=lambda o: (round(o.box[1] + o.box[2] / 2, 2), o.box[0]))


def object_place(o: Obj) -> str:
    """The place words of an object's drawn shape (the centre of its tight box)."""
    x1, y1, x2, y2 = o.bbox
    return place_words((x1 + x2) / 2, (y1 + y2) / 2)


def describe_object(o: Obj) -> str:
    """'a large red circle at the top left'."""
    return f"{with_article(size_word(o.box[2]))} {o.color} {o.cls} {object_place(o)}"


def describe(scene: Scene) -> str:
    """Every object in reading order: 'a large red circle at the top left and a small blue star at the
    bottom right'; 'nothing' for an empty scene."""
    parts = [describe_object(o) for o in reading_order(scene.objects)]
    if not parts:
        return "nothing"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
