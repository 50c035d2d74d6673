"""What the CoF training chains look like to the evaluator.

Builds chains for the prompts of shapes-geneval (4 simulated anchors per prompt, each routed by its
tier) and scores F1, F2 and F3 of every chain with the ShapesWorld detector and GenEval's rules.

    python evidence/cof_chain_stats.py
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from reasongen.eval.geneval import summarize
from reasongen.eval.run import score_image
from reasongen.eval.shapes_detector import ShapesDetector
from reasongen.methods.cof.trajectories import build_chain, simulated_anchor
from reasongen.world.benchmarks import build


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--n", type=int, default=4)
    args = ap.parse_args()
    detector = ShapesDetector()
    rows: list[list[dict]] = [[], [], []]
    tiers: dict[str, int] = {}
    for i, meta in enumerate(build("shapes-geneval")):
        for j in range(args.n):
            rng = np.random.default_rng([i, j, 99])
            chain = build_chain(simulated_anchor(meta, rng, args.size), meta, detector, rng)
            tiers[chain.strategy] = tiers.get(chain.strategy, 0) + 1
            for k, frame in enumerate(chain.frames):
                rows[k].append(score_image(detector, frame, meta))
    result = {"strategies": tiers}
    for k in range(3):
        s = summarize(rows[k])
        result[f"F{k + 1}"] = {"overall": round(s["overall"], 4), **{t: round(v, 4) for t, v in s["tags"].items()}}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
