"""A picture of held-out ShapesWorld clips passed whole through video VAEs: per clip, the true frames
on the first row, then one row per VAE (encode_clip, then decode_clip), and with `--packed VAE` a last
row through that VAE's frame-packed latents (encode_packed, then decode_packed: what ReasonDiff on
ShapesWorld uses). With `--chains DATA` the clips are that CoF data folder's held-out chains, padded as
the continuous baseline pads them (F1 F2 F3 F3 F3), instead of event clips. For the docs' VAE figures.

    python evidence/vae_clip_strips.py src/reasongen/models/shapes-vae runs/video-vae-keep/vae \
        --labels image keep --packed src/reasongen/models/shapes-vae --clips 3 5 --out docs/img/video-vae-clips.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from reasongen.backbones.wan import load_vae
from reasongen.images import to_uint8
from reasongen.methods.cof.data import ChainClips
from reasongen.train.data import ShapesClips

HELDOUT_SEED = 1_000_003  # eval vae --clips reads the same clips


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vaes", nargs="+", type=Path)
    ap.add_argument("--labels", nargs="+", help="Printed with each row on stdout (default: the folder names).")
    ap.add_argument("--packed", type=Path, help="A VAE whose frame-packed round trip is drawn as the last row.")
    ap.add_argument("--clips", nargs="+", type=int, default=[0], help="Held-out clip indices.")
    ap.add_argument("--chains", type=Path, help="A `reasongen cof data` folder: draw its held-out chains instead of event clips.")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if args.chains is not None:
        data = ChainClips(args.chains, "heldout")
        captions = [data.record(i)["prompt"] for i in args.clips]
    else:
        data = ShapesClips(max(args.clips) + 1, 17, 64, HELDOUT_SEED)
        captions = [data.event(i).caption for i in args.clips]
    x = data.batch(args.clips)
    rows = [("truth", to_uint8(x))]
    for vae_dir, label in zip(args.vaes, args.labels or [str(v) for v in args.vaes]):
        vae = load_vae(vae_dir)
        with torch.no_grad():
            rows.append((label, to_uint8(vae.decode_clip(vae.encode_clip(x)).clamp(-1, 1))))
    if args.packed is not None:
        vae = load_vae(args.packed)
        with torch.no_grad():
            rows.append(("packed", to_uint8(vae.decode_packed(vae.encode_packed(x)).clamp(-1, 1))))
    strips = []
    for k, i in enumerate(args.clips):
        print(f"clip {i}: {captions[k]}")
        strips += [np.concatenate(list(clips[k]), axis=1) for _, clips in rows]
    print("rows per clip: " + ", ".join(label for label, _ in rows))
    Image.fromarray(np.concatenate(strips, axis=0)).save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
