"""Pass every image of a GenEval sample folder through a VAE and write the results as a new GenEval
folder, to score with `reasongen eval geneval`. It asks whether a VAE's decoder alone moves the
detector's verdicts: for instance whether the chain-fine-tuned VAE that the continuous CoF baseline
decodes with makes other models' samples score higher (docs/cof.md, "Continuous encoding").

`--path frame`: each image encoded and decoded alone (the frame path, as CoF decodes).
`--path clip`: each image as a still chain F F F padded to F F F F F and passed whole (the clip
path, as the continuous baseline decodes its chains); the last decoded frame is kept.

    python benchmarks/vae_roundtrip_geneval.py out/cof4/f3 runs/chain-vae-free/vae --path clip --out out/cof4-f3-free
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from reasongen.backbones.wan import load_vae


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path, help="A GenEval sample folder (NNNNN/metadata.jsonl, NNNNN/samples/*.png).")
    ap.add_argument("vae", type=Path)
    ap.add_argument("--path", choices=("frame", "clip"), required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    vae = load_vae(args.vae)
    prompts = sorted(p for p in args.folder.iterdir() if (p / "metadata.jsonl").is_file())
    if not prompts:
        raise SystemExit(f"{args.folder}: no GenEval prompt folders (NNNNN/metadata.jsonl) in it")
    sources = []
    for prompt in prompts:
        (args.out / prompt.name / "samples").mkdir(parents=True, exist_ok=True)
        shutil.copy(prompt / "metadata.jsonl", args.out / prompt.name / "metadata.jsonl")
        sources += sorted((prompt / "samples").glob("*.png"))
    for start in range(0, len(sources), args.batch_size):
        chunk = sources[start : start + args.batch_size]
        images = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in chunk])
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1  # (B, 3, H, W) in [-1, 1]
        with torch.no_grad():
            if args.path == "frame":
                y = vae.decode_frames(vae.encode_frames(x[:, None]))[:, 0]
            else:
                clip = vae.pad_chain(x[:, None].expand(-1, 3, -1, -1, -1))
                y = vae.decode_clip(vae.encode_clip(clip))[:, -1]
        out = ((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
        for path, image in zip(chunk, out):
            Image.fromarray(image).save(args.out / path.parent.parent.name / "samples" / path.name)
        print(f"{min(start + len(chunk), len(sources))} / {len(sources)}", flush=True)


if __name__ == "__main__":
    main()
