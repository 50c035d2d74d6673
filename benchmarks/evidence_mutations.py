"""Each single corruption of the ground truth fails the tag it breaks.

For every prompt of shapes-geneval whose tag a mutation breaks, renders 4 oracle scenes with that
one mutation applied (wrong colour, wrong class, one object removed, one extra object, position
mirrored) and scores them with the ShapesWorld detector and GenEval's rules.

    python benchmarks/evidence_mutations.py --size 64 256
"""

from __future__ import annotations

import argparse

import numpy as np

from reasongen.eval.geneval import summarize
from reasongen.eval.run import score_image
from reasongen.world.benchmarks import build
from reasongen.eval.shapes_detector import ShapesDetector
from reasongen.world.mutate import BREAKS, mutate
from reasongen.world.scene import scene_for


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, nargs="+", default=[64, 256])
    args = ap.parse_args()
    detector, records = ShapesDetector(), build("shapes-geneval")
    print(f"{'mutation':<18}{'tag broken':<16}" + "".join(f"{f'{s} px':>10}" for s in args.size) + f"{'images':>8}")
    for kind, tag in BREAKS.items():
        scores = []
        for size in args.size:
            rows = []
            for i, meta in enumerate(records):
                if meta["tag"] == tag:
                    for j in range(4):
                        rng = np.random.default_rng([i, j])
                        rows.append(score_image(detector, mutate(scene_for(meta, rng), meta, kind, rng).render(size), meta))
            scores.append(summarize(rows)["tags"][tag])
        print(f"{kind:<18}{tag:<16}" + "".join(f"{s:>10.4f}" for s in scores) + f"{len(rows):>8}")


if __name__ == "__main__":
    main()
