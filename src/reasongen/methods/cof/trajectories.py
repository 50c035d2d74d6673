"""CoF trajectories: three-frame chains (draft, semantics corrected, finished) for ShapesWorld, the
project's analogue of CoF-T2I's CoF-Evol-Instruct.

Each chain ends at a target scene that satisfies its prompt:
- F1, a draft: the layout roughly right, every edge blocky, its semantics possibly wrong (a colour,
  a class, a count or a position);
- F2, the semantics corrected, still blocky;
- F3, the finished render (flat colours, anti-aliased edges).

Quality-aware routing (the paper routes each anchor image by its quality to one of several
construction strategies; public text does not give the details, so this is our design). An anchor
image, for instance a direct model's own sample, is read back into a scene by the detector
(`parse_scene`) and scored with GenEval's rules; its tier picks the strategy:

| tier | anchor | strategy |
| --- | --- | --- |
| `wrong` | fails its prompt | **repair**: F1 = the anchor's own content as a draft; F2 = the fewest primitive edits (recolour, replace class, add, remove, move) that satisfy the prompt, as a draft; F3 = F2 sharpened |
| `rough` | passes, but an object is below the counting confidence 0.9 | **polish**: F1 = the anchor's content with one injected flaw, as a draft; F2 = the anchor's content as a draft; F3 = it sharpened |
| `good` | passes, every object at 0.9 or more | **reverse**: F3 = the anchor itself; F2 = its draft; F1 = its draft with one injected flaw (the paper's reverse synthesis of flawed drafts from good images) |

The mapping to the paper's Unified Editing Primitive agent: the detector plays its perception
(what is in the image, where, which colour), `repair_scene` plays its planner (which primitive
edits the prompt needs), and the renderer plays its editing executor, with "sharpen" realised as
re-rendering a blocky draft at full quality.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...eval.run import score_image
from ...eval.shapes_detector import instances, parse_scene
from ...world import edit
from ...world.mutate import inject_flaw
from ...world.render import render_draft
from ...world.scene import Scene, placements_for, relation_holds, scene_for
from ...world.vocab import COLOR_NAMES

TIERS = ("wrong", "rough", "good")
STRATEGY = {"wrong": "repair", "rough": "polish", "good": "reverse"}


@dataclass
class Chain:
    frames: list[np.ndarray]  # F1, F2, F3 (uint8 H x W x 3)
    scenes: list[Scene]
    tier: str
    strategy: str
    flaw: str | None  # what F1 gets wrong, when known


def anchor_tier(image: np.ndarray, metadata: dict, detector) -> str:
    """`wrong`, `rough` or `good`, by GenEval's rules and the detector's confidence."""
    if not score_image(detector, image, metadata)["correct"]:
        return "wrong"
    scores = [d.score for d in instances(image, detector)]
    return "good" if scores and min(scores) >= 0.9 else "rough"


def repair_scene(scene: Scene, metadata: dict, rng: np.random.Generator) -> Scene:
    """A scene that satisfies `metadata`, reached from `scene` with few primitive edits: keep the
    objects that already fit a wanted placement, recolour or re-class the nearest misfits, add what
    is missing, remove what is left over, and move objects whose relation fails."""
    wanted = placements_for(metadata)
    objs = list(scene.objects)
    assigned: dict[int, int] = {}  # wanted index -> object index
    free = set(range(len(objs)))

    def cost(p, o):
        return (p.cls != o.cls) * 2 + (p.color is not None and p.color != o.color)

    for w in sorted(range(len(wanted)), key=lambda w: wanted[w].color is None):
        if not free:
            break
        j = min(free, key=lambda j: cost(wanted[w], objs[j]))
        if cost(wanted[w], objs[j]) <= 2:  # a wrong class or a wrong colour is edited in place
            assigned[w] = j
            free.discard(j)
    out = scene
    for w, j in assigned.items():
        p = wanted[w]
        if out.objects[j].cls != p.cls:
            out = edit.replace_class(out, j, p.cls)
        if p.color is not None and out.objects[j].color != p.color:
            out = edit.recolour(out, j, p.color)
    for j in sorted(free, reverse=True):  # leftovers would break counts or the top-1 checks
        out = edit.remove(out, j)
        assigned = {w: (k - (k > j)) for w, k in assigned.items()}
    for w, p in enumerate(wanted):
        if w not in assigned:
            color = p.color or COLOR_NAMES[int(rng.integers(len(COLOR_NAMES)))]
            grown = edit.add(out, p.cls, color, rng)
            if grown is None:
                return scene_for(metadata, rng)
            out, assigned[w] = grown, len(grown.objects) - 1
    for w, p in enumerate(wanted):
        if p.relation is not None:
            a, b = assigned[w], assigned[p.relation[1]]
            if not relation_holds(out.objects[a], out.objects[b], p.relation[0]):
                moved = edit.move(out, a, rng, (p.relation[0], out.objects[b]))
                if moved is None:
                    return scene_for(metadata, rng)
                out = moved
    return out


def build_chain(anchor: np.ndarray, metadata: dict, detector, rng: np.random.Generator) -> Chain:
    """Route an anchor image by its tier and build its three-frame chain."""
    size = anchor.shape[0]
    tier = anchor_tier(anchor, metadata, detector)
    parsed = parse_scene(anchor, detector)
    if tier == "wrong" or not parsed.objects:
        target = repair_scene(parsed, metadata, rng) if parsed.objects else scene_for(metadata, rng)
        scenes, flaw = [parsed if parsed.objects else target, target, target], "anchor"
        frames = [render_draft(scenes[0].objects, size), render_draft(target.objects, size), target.render(size)]
        return Chain(frames, scenes, "wrong", STRATEGY["wrong"], flaw)
    if tier == "rough" and not score_image(detector, parsed.render(size), metadata)["correct"]:
        parsed = repair_scene(parsed, metadata, rng)  # the blur hid a detail the re-render gets wrong
    flawed, flaw = inject_flaw(parsed, metadata, rng)
    if tier == "rough":
        frames = [render_draft(flawed.objects, size), render_draft(parsed.objects, size), parsed.render(size)]
    else:
        frames = [render_draft(flawed.objects, size), render_draft(parsed.objects, size), anchor]
    return Chain(frames, [flawed, parsed, parsed], tier, STRATEGY[tier], flaw)


def simulated_anchor(metadata: dict, rng: np.random.Generator, size: int, p_wrong: float = 0.4, p_rough: float = 0.3) -> np.ndarray:
    """A stand-in for a direct model's sample when none is trained yet: the target scene, with
    probability `p_wrong` carrying a flaw, with probability `p_rough` blurred."""
    from scipy import ndimage

    scene = scene_for(metadata, rng)
    u = rng.random()
    if u < p_wrong:
        scene, _ = inject_flaw(scene, metadata, rng)
    image = scene.render(size)
    if p_wrong <= u < p_wrong + p_rough:
        sigma = size / 64 * rng.uniform(0.8, 1.3)
        image = np.clip(ndimage.gaussian_filter(image.astype(np.float32), (sigma, sigma, 0)), 0, 255).round().astype(np.uint8)
    return image
