"""The flow loss of a `train wan` checkpoint's saved (EMA) weights against its raw weights, on the
same 512 training scenes, noise and uniform noise levels: how much the EMA helps or hurts.

    python evidence/ema_vs_raw.py runs/study/A-base 1500
"""

from __future__ import annotations

import argparse

import torch
from safetensors.torch import load_file

from reasongen.backbones.text import PromptCache
from reasongen.flow import flow_loss
from reasongen.methods.cof.pipeline import CoFPipeline
from reasongen.methods.wan.data import FrameLatents


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run", help="a `reasongen train wan` run folder")
    ap.add_argument("step", type=int, help="the checkpoint's step")
    ap.add_argument("--data", default="data/wan-frames")
    ap.add_argument("--scenes", type=int, default=512)
    args = ap.parse_args()
    pipe = CoFPipeline.from_pretrained(f"{args.run}/pipeline")
    model = pipe.transformer.eval()
    data, prompts = FrameLatents(args.data), PromptCache(pipe.text_encoder)
    picked = list(range(0, len(data), len(data) // args.scenes))[: args.scenes]

    def loss(state: dict) -> float:
        model.load_state_dict(state, strict=False)
        gen, total, batches = torch.Generator().manual_seed(123), 0.0, 0
        with torch.no_grad():
            for i in range(0, len(picked), 64):
                x0, text, _ = data.batch(picked[i : i + 64])
                ctx = prompts(list(text))
                total += float(flow_loss(lambda x, t: model(x, t, ctx, return_dict=False)[0], x0, gen, 1.0, "uniform"))
                batches += 1
        return total / batches

    ckpt = f"{args.run}/checkpoints/step-{args.step:08d}"
    print(f"EMA weights: flow loss {loss(load_file(f'{ckpt}/ema.safetensors')):.3f}")
    print(f"raw weights: flow loss {loss(load_file(f'{ckpt}/model.safetensors')):.3f}")


if __name__ == "__main__":
    main()
