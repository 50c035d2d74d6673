"""Seconds per training step of the ShapesWorld Wan DiT (rectified-flow loss, AdamW) under the
throughput options of the shapes-wan recipe study, measured interleaved in one run. An arm is a
precision (fp32 or bf16 autocast) with options joined by '+': compile (torch.compile), patch1 (256
tokens), text16 (16 text states instead of 64), clips2 (two 17-frame clips beside the image batch,
as `train wan --clips-per-step 2` adds them); --frames 3 gives a CoF chain.

    python benchmarks/wan_train_step.py [--batch 64] [--frames 1] [--steps 8] [--arms fp32,bf16,fp32+compile]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from reasongen.backbones.wan import build_transformer
from reasongen.flow import flow_loss

OPTIONS = ("compile", "patch1", "text16", "clips2")
CLIP_FRAMES = 17


class Arm:
    def __init__(self, name: str, batch: int, frames: int):
        precision, *options = name.split("+")
        if precision not in ("fp32", "bf16") or any(o not in OPTIONS for o in options):
            raise SystemExit(f"arm {name!r}: fp32 or bf16, then any of +{', +'.join(OPTIONS)}")
        torch.manual_seed(0)
        patch = 1 if "patch1" in options else 2
        self.name, self.bf16 = name, precision == "bf16"
        self.model = build_transformer("shapes", patch_size=(1, patch, patch))
        self.fn = torch.compile(self.model, dynamic=False) if "compile" in options else self.model
        self.opt = torch.optim.AdamW(self.model.parameters(), 1e-3)
        self.x0 = torch.randn(batch, 8, frames, 16, 16)
        self.ctx = torch.randn(batch, 16 if "text16" in options else 64, self.model.config.text_dim)
        self.g = torch.Generator().manual_seed(0)
        self.clips = None
        if "clips2" in options:  # latents and text states of two clips, read in a second forward as train wan does
            self.clips = torch.randn(2, 8, CLIP_FRAMES, 16, 16), torch.randn(2, self.ctx.shape[1], self.model.config.text_dim)
        self.times: list[float] = []

    def step(self) -> None:
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            loss = flow_loss(lambda x, t: self.fn(x, t, self.ctx, return_dict=False)[0], self.x0, self.g)
            if self.clips is not None:
                x0, ctx = self.clips
                loss = loss + flow_loss(lambda x, t: self.fn(x, t, ctx, return_dict=False)[0], x0, self.g)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad()
        self.times.append(time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--frames", type=int, default=1)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--arms", default="fp32,bf16,fp32+compile")
    args = ap.parse_args()
    arms = [Arm(a, args.batch, args.frames) for a in args.arms.split(",")]
    for arm in arms:  # warm-up (and compilation) outside the timed steps
        arm.step(), arm.step()
        arm.times.clear()
    for _ in range(args.steps):  # interleaved, so drift in the machine's speed hits every arm alike
        for arm in arms:
            arm.step()
    base = statistics.median(arms[0].times)
    print(f"batch {args.batch}, {args.frames} frame(s), {torch.get_num_threads()} threads, median of {args.steps} steps:")
    for arm in arms:
        med = statistics.median(arm.times)
        print(f"  {arm.name:<14} {med:.3f} s/step  {args.batch / med:6.1f} samples/s  "
              f"(spread {min(arm.times):.3f}-{max(arm.times):.3f})  {base / med:.2f}x {arms[0].name}")


if __name__ == "__main__":
    main()
