"""Why `reasongen train vae` initialises and warms up the Wan VAE as it does: overfit eight
ShapesWorld frames with the `shapes` preset under each recipe and print the reconstruction PSNR.

    python evidence/vae_collapse.py [--steps 300] [--lr 1e-3]

The grey mean image scores about 21.3 dB on these frames; a recipe stuck there has collapsed.
"""

from __future__ import annotations

import argparse
import time

import torch

from reasongen.backbones.wan import build_vae
from reasongen.train.data import ShapesImages
from reasongen.train.vae import PatchPCA, VAETask, init_for_training, psnr


def overfit(recipe: str, frames: torch.Tensor, teacher: PatchPCA, steps: int, lr: float, teacher_steps: int) -> list[tuple[int, float]]:
    torch.manual_seed(0)
    vae = build_vae("shapes")
    if recipe != "default init":
        init_for_training(vae)
    task = VAETask(teacher, teacher_steps if recipe == "zero init + teacher warm-up" else 0)
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    curve = []
    for step in range(steps + 1):
        if step % 50 == 0:
            with torch.no_grad():
                rec = vae.decode(vae.encode(frames[:, :, None]).latent_dist.mean).sample[:, :, 0]
            curve.append((step, psnr(rec, frames)))
        task.set_step(step)
        loss, _ = task.loss(vae, frames, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return curve


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--teacher-steps", type=int, default=150)
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    frames = ShapesImages(8, seed=1).batch(range(8))
    teacher = PatchPCA(ShapesImages(512, seed=1).batch(range(512)), 4, 8)
    print(f"grey mean image: {psnr(torch.zeros_like(frames), frames):.2f} dB; "
          f"patch-PCA code alone: {psnr(teacher.decode(teacher.encode(frames)).clamp(-1, 1), frames):.2f} dB")  # fmt: skip
    for recipe in ("default init", "zero init", "zero init + teacher warm-up"):
        t0 = time.perf_counter()
        curve = overfit(recipe, frames, teacher, args.steps, args.lr, args.teacher_steps)
        print(f"{recipe:30s} " + "  ".join(f"{s}: {p:.1f}" for s, p in curve) + f"   ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
