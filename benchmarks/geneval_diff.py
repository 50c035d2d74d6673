"""What changed between two GenEval output folders drawn from the same prompts and seeds: how many
images differ at all, and among those, how many the second folder fixed (correct only there) or broke
(correct only in the first), by GenEval's rules with the ShapesWorld detector.

For FoX, `plan_act` against `mcot` counts what correction did: both draw the same first image, and
only the chains that reflection sends to a correction differ.

    python benchmarks/geneval_diff.py out/mcot-f-plan_act out/mcot-f-mcot
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from reasongen.eval.run import evaluate_folder


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--out", type=Path, help="Write the counts (JSON) here.")
    args = ap.parse_args()

    def scored(folder: Path) -> dict[str, dict]:
        rows, _ = evaluate_folder(folder, progress=False)
        return {str(Path(r["filename"]).relative_to(folder)): r for r in rows}

    before, after = scored(args.before), scored(args.after)
    if before.keys() != after.keys():
        raise SystemExit(f"the folders hold different samples ({len(before)} against {len(after)} images)")
    changed = fixed = broken = 0
    for name in sorted(before):
        a = np.asarray(Image.open(args.before / name).convert("RGB"))
        b = np.asarray(Image.open(args.after / name).convert("RGB"))
        if np.array_equal(a, b):
            continue
        changed += 1
        fixed += after[name]["correct"] and not before[name]["correct"]
        broken += before[name]["correct"] and not after[name]["correct"]
    counts = {"images": len(before), "changed": changed, "fixed": int(fixed), "broken": int(broken)}
    print(json.dumps(counts))
    if args.out:
        args.out.write_text(json.dumps(counts, indent=1) + "\n")


if __name__ == "__main__":
    main()
