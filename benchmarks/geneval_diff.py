"""What changed between two GenEval output folders drawn from the same prompts and seeds: how many
images differ at all, and among those, how many the second folder fixed (correct only there) or broke
(correct only in the first), by GenEval's rules with the ShapesWorld detector.

For FoX, `plan_act` against `mcot` counts what correction did: both draw the same first image, and
only the chains that reflection sends to a correction differ. For CoF, the same model sampled at 20
and at 50 steps shows what the fewer steps give up: how far the pixels move (mean and largest
absolute difference, of 1) and how many verdicts change. For two models on the same prompts and
seeds, `fixed` and `broken` are the discordant pairs of McNemar's test; `mcnemar_p` is its exact
two-sided p-value (a sign test on them): small when one model is correct where the other is not
more often than chance allows. It takes the samples as independent; the samples of one prompt are
not, so `prompts_better` and `prompts_worse` count the prompts whose samples the second folder gets
right more (or less) often, and `prompt_sign_p` is the same test over them (reasongen.eval.stats, which
`reasongen report` uses too).

    python benchmarks/geneval_diff.py out/mcot-f-plan_act out/mcot-f-mcot
    python benchmarks/geneval_diff.py out/cof-50/f3 out/cof-20/f3 --common

`--common` compares the samples both folders hold (one may hold 4 a prompt, the other the first 1:
the seeds depend on the prompt and the sample's index only) and says how many each had beside them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from reasongen.eval.run import evaluate_folder
from reasongen.eval.stats import paired_verdicts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--common", action="store_true", help="Compare only the samples both folders hold.")
    ap.add_argument("--out", type=Path, help="Write the counts (JSON) here.")
    args = ap.parse_args()

    def scored(folder: Path) -> dict[str, dict]:
        rows, _ = evaluate_folder(folder, progress=False)
        return {str(Path(r["filename"]).relative_to(folder)): r for r in rows}

    before, after = scored(args.before), scored(args.after)
    names = sorted(before.keys() & after.keys())
    if before.keys() != after.keys() and not args.common:
        raise SystemExit(f"the folders hold different samples ({len(before)} against {len(after)} images); "
                         f"--common compares the {len(names)} both hold")  # fmt: skip
    if not names:
        raise SystemExit("the folders hold no sample in common")
    changed = 0
    mean_diff, max_diff = [], []
    for name in names:
        a = np.asarray(Image.open(args.before / name).convert("RGB"), dtype=np.float32) / 255
        b = np.asarray(Image.open(args.after / name).convert("RGB"), dtype=np.float32) / 255
        diff = np.abs(a - b)
        mean_diff.append(diff.mean())
        max_diff.append(diff.max())
        changed += bool(diff.any())
    # the detector is deterministic: an unchanged image keeps its verdict, so every fixed or broken image changed
    paired = paired_verdicts({n: before[n]["correct"] for n in names}, {n: after[n]["correct"] for n in names})
    counts = {"images": len(names), "only_before": len(before) - len(names), "only_after": len(after) - len(names),
              "correct_before": paired["correct_before"], "correct_after": paired["correct_after"], "changed": changed,
              **{k: paired[k] for k in ("fixed", "broken", "mcnemar_p", "prompts", "prompts_better", "prompts_worse", "prompt_sign_p")},
              "pixel_mean_abs_diff": round(float(np.mean(mean_diff)), 4),
              "pixel_max_abs_diff_median": round(float(np.median(max_diff)), 4),
              "pixel_max_abs_diff_max": round(float(np.max(max_diff)), 4)}  # fmt: skip
    print(json.dumps(counts))
    if args.out:
        args.out.write_text(json.dumps(counts, indent=1) + "\n")


if __name__ == "__main__":
    main()
