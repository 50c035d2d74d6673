"""A trained `shapes-wan` pipeline made into a shipped model folder (`reasongen wan ship`).

Shipped models stay small: the DiT in fp16, and no copy of the VAE, which every shipped Wan
pipeline shares by naming it (`"vae_folder": "../shapes-vae"` in model_index.json). The VAE is
named only if it is the one the run trained over, tensor for tensor; `training.json` (images seen,
recipe) travels with the weights, so a warm restart from the shipped folder continues the count.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from ...locks import write_atomic


def same_weights(a: Path, b: Path) -> bool:
    """Whether two safetensors files hold the same tensors (compared in fp32)."""
    from safetensors.torch import load_file

    x, y = load_file(a), load_file(b)
    return x.keys() == y.keys() and all(x[k].shape == y[k].shape and torch.equal(x[k].float(), y[k].float()) for k in x)


def ship_pipeline(pipeline_dir: str | Path, out: str | Path, vae_folder: str | Path) -> Path:
    """Write `pipeline_dir` (a one-frame pipeline from `reasongen train wan`) to `out`: fp16 DiT,
    the VAE named as `vae_folder` (relative to `out`), training.json kept. `out` must not exist;
    it appears whole or not at all."""
    from ..cof.pipeline import CoFPipeline

    src, out, vae_folder = Path(pipeline_dir), Path(out), Path(vae_folder)
    if out.exists():
        raise ValueError(f"--out {out} exists; remove it first (the shipped model it holds stays in git history)")
    if not (src / "training.json").is_file():
        raise ValueError(f"{src}: no training.json; pass the pipeline folder a `reasongen train wan` run wrote (RUN/pipeline)")
    own = src / "vae" / "diffusion_pytorch_model.safetensors"
    shared = vae_folder / "diffusion_pytorch_model.safetensors"
    if not shared.is_file() or not own.is_file() or not same_weights(own, shared):
        raise ValueError(f"{src}: its VAE is not the one in {vae_folder}; ship it with its own VAE or train over {vae_folder}")
    pipe = CoFPipeline.from_pretrained(src)
    if pipe.config["num_frames"] != 1:
        raise ValueError(f"{src} draws a chain of {pipe.config['num_frames']} frames: it is a CoF model, not the wan base")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp, dtype=torch.float16)
    shutil.rmtree(tmp / "vae")
    index = json.loads((tmp / "model_index.json").read_text())
    index["vae_folder"] = os.path.relpath(vae_folder.resolve(), out.resolve())
    write_atomic(tmp / "model_index.json", json.dumps(index, indent=1) + "\n")
    shutil.copy(src / "training.json", tmp / "training.json")
    tmp.rename(out)
    return out
