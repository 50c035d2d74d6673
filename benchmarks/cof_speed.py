"""CoF-T2I sampling speed, all in one run (ratios are what to compare across machines):

1. a 3-frame CoF image against a direct 1-frame image from the same model (same steps, guidance);
2. our `CoFPipeline` against diffusers' `WanPipeline` at the same config (1 frame, same scheduler,
   same weights and text encoder): the overhead of our wrapper, timed with the guided and unguided
   passes batched (our default) and as two calls a step (as `WanPipeline` runs them);
3. the latency of one image from a model at its own defaults (load excluded), and at the 20 steps
   that the documented ShapesWorld evaluations sample with (`--eval-steps`).

    python benchmarks/cof_speed.py [--model DIR] [--repeats 5] [--steps 50] [--eval-steps 20]

Without --model it times the shipped ShapesWorld model. Medians over `--repeats` runs after one
warm-up run, batch 1, on whatever threads torch uses here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from reasongen.methods import model_path
from reasongen.methods.cof.pipeline import CoFPipeline

sys.path.insert(0, str(Path(__file__).parent))
from timing import median_time  # noqa: E402

PROMPT = "a photo of a red circle left of a blue star"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    ap.add_argument("--eval-steps", type=int, default=20, help="also time one image at these steps (docs/cof.md samples with 20)")
    args = ap.parse_args()
    from diffusers import WanPipeline

    pipe = CoFPipeline.from_pretrained(model_path(args.model, "cof-shapes", "reasongen train cof"))
    steps = args.steps or pipe.config["num_inference_steps"]
    g, size = pipe.config["guidance_scale"], pipe.config["height"]

    def ours(frames, batch_guidance=True, steps=steps):
        def run():
            pipe.config["batch_guidance"] = batch_guidance
            pipe(PROMPT, num_frames=frames, num_inference_steps=steps, generator=torch.Generator().manual_seed(0))
            pipe.config["batch_guidance"] = True

        return run

    wan = WanPipeline(tokenizer=pipe.text_encoder.tokenizer, text_encoder=pipe.text_encoder.model, vae=pipe.vae.vae,
                      scheduler=pipe.scheduler, transformer=pipe.transformer)  # fmt: skip
    wan.set_progress_bar_config(disable=True)

    def theirs():
        return wan(PROMPT, negative_prompt="", height=size, width=size, num_frames=1, num_inference_steps=steps,
                   guidance_scale=g, max_sequence_length=pipe.text_encoder.max_length, output_type="np",
                   generator=torch.Generator().manual_seed(0))  # fmt: skip

    cof = median_time(ours(pipe.config["num_frames"]), args.repeats)
    direct = median_time(ours(1), args.repeats)
    unbatched = median_time(ours(1, batch_guidance=False), args.repeats)
    wan_t = median_time(theirs, args.repeats)
    print(f"{torch.get_num_threads()} threads, {size} px, {steps} steps, guidance {g}, batch 1, median of {args.repeats}")
    print(f"CoF {pipe.config['num_frames']}-frame image: {cof:.3f} s; direct 1-frame image, same model: {direct:.3f} s ({cof / direct:.2f}x)")
    print(f"CoFPipeline 1 frame: {direct:.3f} s; with two calls a step: {unbatched:.3f} s; diffusers WanPipeline 1 frame: "
          f"{wan_t:.3f} s (ours / theirs {direct / wan_t:.3f}; two calls / theirs {unbatched / wan_t:.3f})")
    if steps == pipe.config["num_inference_steps"]:
        print(f"latency of one image at the model's defaults: {cof:.3f} s")
    if args.eval_steps != steps:
        fast = median_time(ours(pipe.config["num_frames"], steps=args.eval_steps), args.repeats)
        print(f"latency of one image at {args.eval_steps} steps: {fast:.3f} s")


if __name__ == "__main__":
    main()
