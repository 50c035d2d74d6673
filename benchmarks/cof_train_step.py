"""Time of one CoF training step (the `shapes` DiT preset, rectified-flow loss, AdamW) in fp32 and
under bf16 autocast, in the same run.

    python benchmarks/cof_train_step.py [--batch 32] [--frames 3] [--steps 6]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from reasongen.backbones.wan import build_transformer, get_preset
from reasongen.flow import flow_loss


def time_steps(bf16: bool, batch: int, frames: int, steps: int) -> list[float]:
    torch.manual_seed(0)
    model = build_transformer("shapes")
    opt = torch.optim.AdamW(model.parameters(), 5e-4)
    x0 = torch.randn(batch, 8, frames, 16, 16)
    ctx = torch.randn(batch, 64, model.config.text_dim)
    g = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = flow_loss(lambda x, t: model(x, t, ctx, return_dict=False)[0], x0, g, get_preset("shapes").flow_shift)
        loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t0)
    return times[2:]  # the first steps warm up the allocator and kernels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--steps", type=int, default=6)
    args = ap.parse_args()
    fp32 = statistics.median(time_steps(False, args.batch, args.frames, args.steps))
    bf16 = statistics.median(time_steps(True, args.batch, args.frames, args.steps))
    print(f"batch {args.batch}, {args.frames} frames, {torch.get_num_threads()} threads: "
          f"fp32 {fp32:.2f} s/step, bf16 autocast {bf16:.2f} s/step ({fp32 / bf16:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
