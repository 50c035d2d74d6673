"""Anchor accuracy of a trained narrator and of the world's reasoner, by event, on held-out unpaired
cases (the trained narrator's held-out seed).

    python evidence/narrator_by_event.py runs/narrator/narrator [--cases 600]
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from reasongen.methods.reasondiff.trained_narrator import (
    HELDOUT_SEED,
    AnchorCases,
    load_trained_narrator,
)
from reasongen.methods.reasondiff.world_narrator import ShapesNarrator


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("narrator")
    ap.add_argument("--cases", type=int, default=600)
    args = ap.parse_args()
    trained, world = load_trained_narrator(args.narrator), ShapesNarrator()
    data = AnchorCases(args.cases, trained.num_frames, trained.model.config.image_size, HELDOUT_SEED, paired_share=0.0)
    hits = defaultdict(lambda: [0, 0, 0])  # cases, trained right, world right
    for i in range(args.cases):
        case = data.case(i)
        image = case.image(data.size)
        row = hits[case.clip.event]
        row[0] += 1
        row[1] += trained.anchors([case.text], [image])[0] in case.anchors
        row[2] += world(case.text, image, data.num_frames).anchor in case.anchors
    print(f"{'event':10s} cases  trained  world")
    for event, (n, t, w) in sorted(hits.items()):
        print(f"{event:10s} {n:5d}  {t / n:7.2f}  {w / n:5.2f}")


if __name__ == "__main__":
    main()
