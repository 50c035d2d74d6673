"""CoF-T2I sampling speed, all in one run (ratios are what to compare across machines):

1. a 3-frame CoF image against a direct 1-frame image from the same model (same steps, guidance);
2. our `CoFPipeline` against diffusers' `WanPipeline` at the same config (1 frame, same scheduler,
   same weights and text encoder): the overhead of our wrapper, timed with the guided and unguided
   passes batched (our default) and as two calls a step (as `WanPipeline` runs them);
3. the latency of one image from a model at its own defaults (load excluded), and at the 20 steps
   that the documented ShapesWorld evaluations sample with (`--eval-steps`);
4. with `--bf16`, the CoF image under bf16 autocast and with the DiT's weights cast to bf16, and how
   far each moves the image's pixels from the fp32 one; with `--profile`, where the time of a 10-step
   CoF image goes (torch.profiler, the costliest operators' share of it).

    python benchmarks/cof_speed.py [--model DIR] [--repeats 5] [--steps 50] [--eval-steps 20] [--bf16] [--profile]

Without --model it times the shipped base, shapes-wan: the same DiT a CoF model has (speed does not
depend on what the weights learned), drawing chains of three frames as CoF does. Medians over `--repeats` runs after one
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
    ap.add_argument("--bf16", action="store_true", help="also time the CoF image in bf16 (autocast; weights cast)")
    ap.add_argument("--profile", action="store_true", help="also print where a 10-step CoF image spends its time")
    args = ap.parse_args()
    from diffusers import WanPipeline

    pipe = CoFPipeline.from_pretrained(model_path(args.model, "shapes-wan", "reasongen train wan"))
    steps = args.steps or pipe.config["num_inference_steps"]
    g, size = pipe.config["guidance_scale"], pipe.config["height"]

    def ours(frames, batch_guidance=True, steps=steps):
        def run():
            pipe.register_to_config(batch_guidance=batch_guidance)
            pipe(PROMPT, num_frames=frames, num_inference_steps=steps, generator=torch.Generator().manual_seed(0))
            pipe.register_to_config(batch_guidance=True)

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
    if args.profile:
        print_profile(ours(pipe.config["num_frames"], steps=10))
    if args.bf16:
        time_bf16(pipe, steps, args.repeats, cof)


def cof_image(pipe, steps):
    return pipe(PROMPT, num_inference_steps=steps, generator=torch.Generator().manual_seed(0), output_type="np").images[0]


def time_bf16(pipe, steps, repeats, fp32_time):
    """The CoF image under bf16 autocast, then with the DiT's weights cast to bf16 (the pipeline runs
    the DiT in its weights' dtype): time, and the largest pixel change against the fp32 image."""
    reference = cof_image(pipe, steps)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast_time = median_time(lambda: cof_image(pipe, steps), repeats)
        autocast_image = cof_image(pipe, steps)
    pipe.transformer.to(torch.bfloat16)
    weights_time = median_time(lambda: cof_image(pipe, steps), repeats)
    weights_image = cof_image(pipe, steps)
    pipe.transformer.to(torch.float32)
    for name, t, image in [("bf16 autocast", autocast_time, autocast_image), ("DiT weights in bf16", weights_time, weights_image)]:
        print(f"CoF image, {name}: {t:.3f} s ({fp32_time / t:.2f}x faster than fp32); largest pixel change "
              f"{abs(image - reference).max():.3f} (of 1)")


def print_profile(run, top: int = 4):
    from torch.profiler import profile

    run()  # warm-up
    with profile() as prof:
        run()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    print("a 10-step CoF image, share of CPU time: " + ", ".join(f"{e.key} {e.self_cpu_time_total / total:.0%}" for e in events[:top]))


if __name__ == "__main__":
    main()
