"""Time of one ReasonDiff training step (the `shapes` DiT preset with AlignFormer, the embedded MiniLM
text encoder, AdamW) under bf16 autocast, on random latents of the data's shape (17-frame 64 x 64
clips: 5 latent frames of 32 x 16 x 16 frame-packed, or 8 x 16 x 16 through a video VAE) and ShapesWorld-like narratives. The step's cost does not
depend on the latents' values. Stage 2 freezes the DiT, as `train reasondiff --stage 2` does.

    python benchmarks/reasondiff_train_step.py [--batch 16] [--steps 5] [--stage 1] [--clip-latents packed]
    python benchmarks/reasondiff_train_step.py --text-attention both   # all against frame, steps interleaved
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from reasongen.backbones.text import load_text_encoder
from reasongen.backbones.wan import get_preset
from reasongen.backbones.text import PromptCache
from reasongen.methods.reasondiff.model import build_reasondiff_model
from reasongen.methods.reasondiff.train import ReasonDiffTask

Z_DIM, TEMPORAL, FRAMES, LATENT_FRAMES = 8, 4, 17, 5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--stage", type=int, default=1)
    ap.add_argument("--clip-latents", choices=["packed", "video"], default="packed")
    ap.add_argument("--text-attention", choices=["all", "frame", "both"], default="all",
                    help="the DiT's cross-attention; both: the two in turn on one model, and their ratio")
    args = ap.parse_args()
    modes = ["all", "frame"] if args.text_attention == "both" else [args.text_attention]
    CHANNELS = Z_DIM * (TEMPORAL if args.clip_latents == "packed" else 1)
    torch.manual_seed(0)
    preset = get_preset("shapes")
    text_encoder = load_text_encoder(preset.text_encoder)
    model = build_reasondiff_model(preset, CHANNELS, TEMPORAL, text_encoder.dim)
    if args.stage == 2:
        model.transformer.requires_grad_(False)
    task = ReasonDiffTask(PromptCache(text_encoder), TEMPORAL, args.stage, shift=preset.flow_shift)
    clips = torch.randn(args.batch, CHANNELS, LATENT_FRAMES, 16, 16)
    cond = torch.randn(args.batch, CHANNELS, 16, 16)
    anchors = torch.randint(0, FRAMES, (args.batch,))  # pixel frames
    # distinct narratives per clip, as the data has (the prompt cache sees each string once)
    narratives = [[f"a red circle {i} moves right, frame {f}" for f in range(FRAMES)] for i in range(args.batch)]
    captions = [f"a red circle {i} moves right" for i in range(args.batch)]
    params = [p for p in model.parameters() if p.requires_grad]
    opt, g = torch.optim.AdamW(params, 5e-4), torch.Generator().manual_seed(0)
    times = {mode: [] for mode in modes}
    for _ in range(args.steps):
        for mode in modes:  # interleaved, so that both see the same machine
            model.text_attention = mode
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss, _ = task.loss(model, (clips, cond, anchors, narratives, captions), g)
            loss.backward()
            opt.step()
            opt.zero_grad()
            times[mode].append(time.perf_counter() - t0)
    n = sum(p.numel() for p in params)
    median = {mode: statistics.median(t[1:]) for mode, t in times.items()}
    for mode in modes:
        print(f"stage {args.stage}, batch {args.batch}, {FRAMES} frames, {args.clip_latents} latents, {n / 1e6:.1f}M trained parameters, bf16 autocast, "
              f"text attention {mode}, {torch.get_num_threads()} threads: {median[mode]:.2f} s/step (median of {args.steps - 1})")  # fmt: skip
    if len(modes) == 2:
        print(f"frame / all: {median['frame'] / median['all']:.3f}")


if __name__ == "__main__":
    main()
