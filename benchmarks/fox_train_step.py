"""Time of one FoX training step of each task (the `shapes` FoXperts preset, AdamW), under bf16
autocast, on ShapesWorld records with random latents of the right shape (the step's cost does not
depend on their values).

    python benchmarks/fox_train_step.py [--batch 32] [--steps 5] [--experts functional]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from reasongen.backbones.foxperts import build_foxperts
from reasongen.backbones.text import shapes_tokenizer
from reasongen.methods.fox.data import record
from reasongen.methods.fox.train import TASKS, MCoTTask


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--experts", default="functional")
    args = ap.parse_args()
    torch.manual_seed(0)
    tok = shapes_tokenizer()
    model = build_foxperts("shapes", vocab_size=len(tok), experts=args.experts)
    records = [record(0, i, 64) for i in range(args.batch)]
    batch = {k: torch.randn(args.batch, 8, 16, 16) for k in ("target", "flawed", "blanked")}
    batch["mask"] = torch.from_numpy(np.stack([r["mask"] for r in records]).astype(np.float32))
    batch.update({k: [r[k] for r in records] for k in ("prompt", "caption", "layout")})
    task, opt, g = MCoTTask(tok), torch.optim.AdamW(model.parameters(), 1e-4), torch.Generator().manual_seed(0)
    print(f"{args.experts} experts, batch {args.batch}, bf16 autocast, {torch.get_num_threads()} threads, median of {args.steps - 1} steps:")
    for kind in TASKS:
        task.kind, times = kind, []
        for _ in range(args.steps):
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss, _ = task.loss(model, batch, g)
            loss.backward()
            opt.step()
            opt.zero_grad()
            times.append(time.perf_counter() - t0)
        print(f"  {kind:9s} {statistics.median(times[1:]):.2f} s/step")


if __name__ == "__main__":
    main()
