"""The ShapesWorld oracle reasoner: the exact plan a prompt asks for, read off its metadata.

A `reason` prompt names what to draw only through knowledge ("a shape with three corners, coloured
like the sky"); its metadata holds the resolved scene, so the oracle's plan names it directly ("one
blue triangle"). This is the semantic CoT that T2I-R1's model is fine-tuned to write on ShapesWorld:
brief, precise, every object and its colour, number and relation, nothing else (T2I-R1's reasoning
instruction asks for the same, in at most 50 words).
"""

from __future__ import annotations

from ..world.vocab import NUMBER_WORDS, PLURALS


def _objects(clause: dict) -> str:
    n = clause["count"]
    noun = clause["class"] if n == 1 else PLURALS[clause["class"]]
    color = f"{clause['color']} " if clause.get("color") else ""
    return f"{NUMBER_WORDS[n]} {color}{noun}"


def semantic_cot(metadata: dict) -> str:
    """'one blue triangle left of one black circle', 'four brown crosses', 'one square and one black heart'."""
    clauses = metadata["include"]
    placed = [c for c in clauses if "position" in c]
    if placed:
        a = placed[0]
        relation, group = a["position"]
        rest = [c for i, c in enumerate(clauses) if c is not a and i != group]
        text = f"{_objects(a)} {relation} {_objects(clauses[group])}"
        return " and ".join([text] + [_objects(c) for c in rest])
    return " and ".join(_objects(c) for c in clauses)
