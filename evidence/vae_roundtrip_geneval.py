"""Pass every image of a GenEval sample folder through a VAE and write the results as a new GenEval
folder, to score with `reasongen eval geneval`. It asks whether a VAE's decoder alone moves the
detector's verdicts: for instance whether the chain-fine-tuned VAE that the continuous CoF baseline
decodes with makes other models' samples score higher (docs/cof.md, "Continuous encoding").

`--path frame`: each image encoded and decoded alone (the frame path, as CoF decodes).
`--path clip`: each image as a still chain F F F padded to F F F F F and passed whole (the clip
path, as the continuous baseline decodes its chains); the last decoded frame is kept.

    python evidence/vae_roundtrip_geneval.py out/cof4/f3 runs/chain-vae-free/vae --path clip --out out/cof4-f3-free
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import torch

from reasongen.backbones.wan import load_vae
from reasongen.eval.layout import load_rgb, scan_geneval_folder
from reasongen.eval.shapes_detector import ShapesDetector
from reasongen.images import save_png, to_tensor, to_uint8


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path, help="A GenEval sample folder (NNNNN/metadata.jsonl, NNNNN/samples/*.png).")
    ap.add_argument("vae", type=Path)
    ap.add_argument("--path", choices=("frame", "clip"), required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    vae = load_vae(args.vae)
    sources = []  # (prompt folder index, sample path)
    for prompt in scan_geneval_folder(args.folder, ShapesDetector()):
        (args.out / prompt.index / "samples").mkdir(parents=True, exist_ok=True)
        shutil.copy(args.folder / prompt.index / "metadata.jsonl", args.out / prompt.index / "metadata.jsonl")
        sources += [(prompt.index, path) for path in prompt.samples]
    for start in range(0, len(sources), args.batch_size):
        chunk = sources[start : start + args.batch_size]
        x = to_tensor(np.stack([load_rgb(path) for _, path in chunk]))  # (B, 3, H, W) in [-1, 1]
        with torch.no_grad():
            if args.path == "frame":
                y = vae.decode_frames(vae.encode_frames(x[:, None]))[:, 0]
            else:
                clip = vae.pad_chain(x[:, None].expand(-1, 3, -1, -1, -1))
                y = vae.decode_clip(vae.encode_clip(clip))[:, -1]
        for (name, path), image in zip(chunk, to_uint8(y)):
            save_png(image, args.out / name / "samples" / path.name)
        print(f"{start + len(chunk)} / {len(sources)}", flush=True)


if __name__ == "__main__":
    main()
