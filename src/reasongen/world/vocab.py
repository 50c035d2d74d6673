"""The fixed vocabulary of ShapesWorld: classes, colours, relations, number words.

Everything here is fixed by the world's specification (shapesworld.md); other tools rely on it.
"""

CLASSES = ("circle", "square", "triangle", "star", "heart", "hexagon", "diamond", "cross")
# GenEval's mechanical plural rule: "es" after a final "s", else "s".
PLURALS = {c: c + "es" if c.endswith("s") else c + "s" for c in CLASSES}

# GenEval's ten colours, in GenEval's order, each with the one exact sRGB value a finished image uses.
COLORS = {
    "red": (220, 40, 40),
    "orange": (245, 140, 30),
    "yellow": (240, 220, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 220),
    "purple": (140, 60, 190),
    "pink": (245, 150, 200),
    "brown": (130, 80, 40),
    "black": (20, 20, 20),
    "white": (245, 245, 245),
}
COLOR_NAMES = tuple(COLORS)
GROUND = (128, 128, 128)

RELATIONS = ("left of", "right of", "above", "below")
TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
REASON_TAG = "reason"
ALL_TAGS = TAGS + (REASON_TAG,)

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight")

# Scene limits (units of the canvas side).
MIN_SIDE, MAX_SIDE = 0.16, 0.34
MIN_GAP = 0.03
MAX_PER_CLASS, MAX_OBJECTS = 4, 6


def with_article(word: str) -> str:
    """GenEval's article rule: "an" before a vowel letter, else "a"."""
    return ("an " if word[0] in "aeiou" else "a ") + word
