"""Time per clip of ReasonDiff sampling, one clip at a time against `--batch` clips together
(`ReasonDiffPipeline.many`), in the same run: the `shapes` DiT with AlignFormer at random weights, the
image VAE with frame-packed latents (as `reasondiff data` encodes by default) and the embedded MiniLM,
17-frame 64 x 64 clips. The cost does not depend on the weights.

    python benchmarks/reasondiff_sampling.py [--clips 8] [--batch 8] [--steps 10]
"""

from __future__ import annotations

import argparse
import time

import torch

from reasongen.backbones.text import load_text_encoder
from reasongen.backbones.wan import get_preset, load_vae
from reasongen.methods.reasondiff.bench import make_narrator
from reasongen.world.benchmarks import read_video_cases
from reasongen.methods.reasondiff.model import build_reasondiff_model
from reasongen.methods.reasondiff.pipeline import ReasonDiffPipeline

SHIPPED_VAE = "src/reasongen/models/shapes-vae"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    torch.manual_seed(0)
    preset, vae = get_preset("shapes"), load_vae(SHIPPED_VAE)
    text_encoder = load_text_encoder(preset.text_encoder)
    model = build_reasondiff_model(preset, vae.z_dim * vae.temporal, vae.temporal, text_encoder.dim)
    pipe = ReasonDiffPipeline(model, vae, text_encoder, clip_latents="packed")
    cases = read_video_cases("shapes-video-unpaired")[: args.clips]
    narrate = make_narrator("oracle")
    images, told = [c.image() for c in cases], [narrate(c) for c in cases]

    def per_clip(batch: int) -> float:
        t0 = time.perf_counter()
        for s in range(0, len(cases), batch):
            gens = [torch.Generator().manual_seed(i) for i in range(s, min(s + batch, len(cases)))]
            pipe.many(images[s : s + batch], told[s : s + batch], args.steps, 5.0, gens)
        return (time.perf_counter() - t0) / len(cases)

    per_clip(args.batch)  # warm-up
    alone, together = per_clip(1), per_clip(args.batch)
    print(f"{args.clips} clips, {args.steps} steps, guidance 5, {torch.get_num_threads()} threads: "
          f"{alone:.2f} s a clip alone, {together:.2f} s in batches of {args.batch} ({alone / together:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
