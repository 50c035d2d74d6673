"""FoX (MCoT) speed, all in one run: the wall time of each step of the chain (plan, act, reflect,
correct) and of the whole chain, against one direct generation by the same model (the paper implies
the chain costs about 2x).

    python benchmarks/fox_speed.py --model RUN/pipeline [--repeats 3] [--steps 50]

Correction is timed on a fixed mask (a 24 x 24 px square), so its time does not depend on what
reflection finds; the whole chain runs as the pipeline does (it corrects only when reflection finds
a flaw), and its time is also given with one correction forced. Medians after one warm-up run,
batch 1, on whatever threads torch uses here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from reasongen.methods.fox.pipeline import FoXPipeline
from reasongen.methods.fox.train import plan_parts

sys.path.insert(0, str(Path(__file__).parent))
from timing import median_time  # noqa: E402

PROMPT = "a photo of a red circle left of a blue star"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=None)
    args = ap.parse_args()
    pipe = FoXPipeline.from_pretrained(args.model)
    steps = args.steps or pipe.config["num_inference_steps"]
    g = pipe.config["guidance_scale"]

    def gen():
        return [torch.Generator().manual_seed(0)]

    caption, layout = pipe.plan(PROMPT)
    texts = [plan_parts(PROMPT, caption, layout)]
    image = pipe.act(texts, gen(), steps, g)[0]
    size = image.shape[0]
    mask = np.zeros(image.shape[:2], dtype=bool)
    mask[size // 2 - 12 : size // 2 + 12, size // 2 - 12 : size // 2 + 12] = True

    t = {
        "plan": median_time(lambda: pipe.plan(PROMPT), args.repeats),
        "act": median_time(lambda: pipe.act(texts, gen(), steps, g), args.repeats),
        "reflect": median_time(lambda: pipe.reflect([PROMPT], [image]), args.repeats),
        "correct": median_time(lambda: pipe.correct(texts, [image], [mask], gen(), steps, g), args.repeats),
        "direct": median_time(lambda: pipe(PROMPT, 0, mode="direct", num_inference_steps=steps), args.repeats),
        "chain": median_time(lambda: pipe(PROMPT, 0, mode="mcot", num_inference_steps=steps), args.repeats),
    }
    forced = t["plan"] + t["act"] + 2 * t["reflect"] + t["correct"]
    chain = pipe(PROMPT, 0, mode="mcot", num_inference_steps=steps)[0]
    print(f"{torch.get_num_threads()} threads, {size} px, {steps} steps, guidance {g}, batch 1, median of {args.repeats}")
    for k in ("plan", "act", "reflect", "correct", "direct"):
        print(f"{k:8s} {t[k]:.3f} s  ({t[k] / t['direct']:.2f}x direct)")
    print(f"chain    {t['chain']:.3f} s  ({t['chain'] / t['direct']:.2f}x direct; this prompt's chain made {len(chain.images) - 1} correction(s): {chain.stopped})")
    print(f"chain with one correction (sum of steps): {forced:.3f} s ({forced / t['direct']:.2f}x direct)")


if __name__ == "__main__":
    main()
