"""CoF training data: chains built once, encoded once by the VAE, read by index.

`build_chains` draws n records of the seven tags (reason prompts from the in-distribution split
only), a simulated anchor for each (until a direct model's samples are given), and routes it to its
chain; frames are kept as uint8. `encode_chains` turns them into normalised latents for the three
training variants: `cof` (frame-wise, K = 3), `target` (the last frame alone, K = 1) and
`continuous` (the chain padded to F1 F2 F3 F3 F3 and encoded as one clip: 2 latent frames).
"""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ...images import to_tensor
from ...locks import holds_folder, write_atomic
from ...train.data import built_already
from ...world.dataset import draw_record
from ...eval.shapes_detector import ShapesDetector
from ...world.vocab import ALL_TAGS
from .trajectories import build_chain, simulated_anchor

VARIANTS = ("cof", "target", "continuous")


def _chain_job(args):
    seed, i, size = args
    meta, _ = draw_record(seed, i, ALL_TAGS, "in_distribution")
    rng = np.random.default_rng([seed, i, 2])
    chain = build_chain(simulated_anchor(meta, rng, size), meta, ShapesDetector(), rng)
    return np.stack(chain.frames), meta["prompt"], chain.tier


@holds_folder("data build")
def build_chains(out_dir: str | Path, n: int, size: int = 64, seed: int = 0, workers: int = 2) -> Path:
    """Write `chains.safetensors` (frames, uint8 N x 3 x H x W x 3) and `chains.json` (prompts, tiers)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "chains.safetensors"
    info_path = out_dir / "chains.json"
    if built_already(info_path, path, "chains", n, size, seed):
        return path
    jobs = [(seed, i, size) for i in range(n)]
    with mp.get_context("fork").Pool(workers) as pool:
        results = list(tqdm(pool.imap(_chain_job, jobs, chunksize=32), total=n, desc="cof chains", unit="chain"))
    frames = torch.from_numpy(np.stack([r[0] for r in results]))
    write_atomic(path, lambda tmp: save_file({"frames": frames}, tmp))  # each file whole or absent
    tiers = [r[2] for r in results]
    info = {"n": n, "size": size, "seed": seed, "prompts": [r[1] for r in results],
            "tiers": {t: tiers.count(t) for t in sorted(set(tiers))}}  # fmt: skip
    write_atomic(info_path, json.dumps(info))  # last: with it, the chains are whole
    return path


@torch.no_grad()
@holds_folder("data build")
def encode_chains(out_dir: str | Path, fvae, variant: str, batch_size: int = 64) -> Path:
    """Latents of every chain for one variant, cached as `latents-<variant>.safetensors`."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown CoF variant {variant!r}; choose from {', '.join(VARIANTS)}")
    out_dir = Path(out_dir)
    path = out_dir / f"latents-{variant}.safetensors"
    if path.is_file():
        return path
    frames = load_file(out_dir / "chains.safetensors")["frames"]
    outs = []
    for i in tqdm(range(0, len(frames), batch_size), desc=f"encode {variant}", unit="batch"):
        x = to_tensor(frames[i : i + batch_size].numpy())  # (B, 3, 3, H, W) in [-1, 1]
        if variant == "cof":
            z = fvae.encode_frames(x)
        elif variant == "target":
            z = fvae.encode_frames(x[:, -1:])
        else:
            z = fvae.encode_clip(fvae.pad_chain(x))
        outs.append(z.half())
    latents = torch.cat(outs).contiguous()
    write_atomic(path, lambda tmp: save_file({"latents": latents}, tmp))  # a killed run leaves no half file taken as done
    return path


class ChainLatents:
    """The loop's dataset: (latents, prompts) by index."""

    def __init__(self, out_dir: str | Path, variant: str):
        out_dir = Path(out_dir)
        path = out_dir / f"latents-{variant}.safetensors"
        if not path.is_file():
            raise ValueError(f"{out_dir} holds no {variant} latents: encode them (reasongen cof data --out {out_dir} --vae VAE "
                             f"--variants {variant}; continuous needs a VAE trained on chains, docs/cof.md)")  # fmt: skip
        self.latents = load_file(path)["latents"]
        info = json.loads((out_dir / "chains.json").read_text())
        self.prompts, self.size = info["prompts"], info["size"]

    def __len__(self) -> int:
        return len(self.prompts)

    def batch(self, indices):
        idx = torch.tensor(list(indices))
        return self.latents[idx].float(), [self.prompts[i] for i in indices]


def heldout_chains(n: int) -> int:
    """How many of a folder's n chains (the last ones) are held out when a VAE is fine-tuned on them."""
    return min(512, n // 10)


class ChainClips:
    """A data folder's chains as the continuous baseline's clips (F1 F2 F3 F3 F3 for a VAE of
    temporal stride 4), for fine-tuning a VAE's temporal layers on them (`train vae --chains`).
    `split="train"` is every chain but the last `heldout_chains(n)` (512, or a tenth of a small
    folder); `"heldout"` is those."""

    def __init__(self, data_dir: str | Path, split: str = "train", temporal: int = 4):
        data_dir = Path(data_dir)
        if not (data_dir / "chains.json").is_file():
            raise ValueError(f"{data_dir}: no chains.json; build chains first (reasongen cof data --out {data_dir} ...)")
        if split not in ("train", "heldout"):
            raise ValueError(f"split {split!r}: use train or heldout")
        info = json.loads((data_dir / "chains.json").read_text())
        held = heldout_chains(info["n"])
        if held < 1:
            raise ValueError(f"{data_dir} holds {info['n']} chains; a VAE fine-tuned on chains holds out a tenth of them: build at least 10")
        n = info["n"] - held
        self.offset, self.n = (0, n) if split == "train" else (n, held)
        with safe_open(data_dir / "chains.safetensors", framework="pt") as f:  # this split's frames alone
            self.frames = f.get_slice("frames")[self.offset : self.offset + self.n]
        self.seed, self.temporal = info["seed"], temporal

    def __len__(self) -> int:
        return self.n

    def chains(self, indices) -> torch.Tensor:
        """The chains themselves, (B, 3, 3, H, W) in [-1, 1]."""
        indices = [int(i) for i in indices]
        if any(not 0 <= i < self.n for i in indices):  # the train split must never reach the held-out chains
            raise IndexError(f"chain indices {indices} outside this split's {self.n}")
        return to_tensor(self.frames[indices].numpy())

    def batch(self, indices) -> torch.Tensor:
        from ...backbones.wan import pad_chain

        return pad_chain(self.chains(indices), self.temporal)

    def record(self, i: int) -> dict:
        """Chain i's GenEval record (its prompt, tag and objects), as `build_chains` drew it."""
        return draw_record(self.seed, self.offset + i, ALL_TAGS, "in_distribution")[0]
