"""`shapes-wan` pretraining data: ShapesWorld scenes rendered once, encoded once by the VAE, read by index.

`build_frames` draws n training records (`world.dataset.draw_record`: never a held-out composition)
of the chosen tags, renders each at the VAE's size and encodes it frame-wise into normalised latents
(fp16). It also keeps, per record, its tag and a mask of the latent cells the objects cover, for
object-weighted losses and curricula. The work is cut into shards written atomically, so a killed
build resumes at the first missing shard and gives the same data as an uninterrupted one.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ...images import to_tensor
from ...locks import holds_folder, write_atomic
from ...world.dataset import draw_record
from ...world.render import object_mask
from ...world.vocab import TAGS

SHARD = 8192


def _render_job(args):
    seed, i, tags, size = args
    meta, scene = draw_record(seed, i, tags, "in_distribution")
    return scene.render(size), meta["prompt"], meta["tag"]


@torch.no_grad()
@holds_folder("data build")
def build_frames(out_dir: str | Path, n: int, fvae, seed: int = 0, tags: Sequence[str] = TAGS, size: int = 64,
                 workers: int = 2, batch_size: int = 64, progress: bool = True) -> Path:  # fmt: skip
    """Write `frames.json` and shards `frames-XXXXX.safetensors` (latents, objects) into `out_dir`."""
    return _build(Path(out_dir), n, fvae, seed, tags, size, workers, batch_size, progress)


def _build(out_dir: Path, n: int, fvae, seed: int, tags: Sequence[str], size: int, workers: int, batch_size: int, progress: bool) -> Path:
    info_path = out_dir / "frames.json"
    config = {"n": n, "seed": seed, "tags": list(tags), "size": size, "shard": SHARD}
    if info_path.is_file():
        old = json.loads(info_path.read_text())
        if {k: old[k] for k in config} != config:
            raise ValueError(f"{out_dir} holds frames made with {({k: old[k] for k in config})}, not {config}; choose another folder")
    else:
        write_atomic(info_path, json.dumps(config))
    fvae.check_size(size, size)
    shards = -(-n // SHARD)
    with mp.get_context("fork").Pool(workers) as pool:
        for s in range(shards):
            path = out_dir / f"frames-{s:05d}.safetensors"
            if path.is_file():
                continue
            jobs = [(seed, i, tuple(tags), size) for i in range(s * SHARD, min(n, (s + 1) * SHARD))]
            results = list(tqdm(pool.imap(_render_job, jobs, chunksize=64), total=len(jobs), disable=not progress,
                                desc=f"render shard {s + 1}/{shards}", unit="img"))  # fmt: skip
            images = np.stack([r[0] for r in results])
            latents = torch.cat([fvae.encode_frames(to_tensor(images[i : i + batch_size])[:, None]).half()
                                 for i in range(0, len(images), batch_size)])  # fmt: skip
            tensors = {"latents": latents.contiguous(), "objects": torch.from_numpy(object_mask(images, fvae.spatial))}
            meta = {"prompts": json.dumps([r[1] for r in results]), "tags": json.dumps([r[2] for r in results])}
            write_atomic(path, lambda tmp: save_file(tensors, tmp, metadata=meta))
    return out_dir


class FrameLatents:
    """The loop's dataset: (latents (B, C, 1, h, w), prompts, object masks (B, h, w)) by index.
    `tags` keeps only records of those tags (a curriculum's stage)."""

    def __init__(self, out_dir: str | Path, tags: Sequence[str] | None = None):
        from safetensors import safe_open

        out_dir = Path(out_dir)
        info_path = out_dir / "frames.json"
        if not info_path.is_file():
            raise ValueError(f"{out_dir} holds no frames; build them with `reasongen train wan-data --out {out_dir}`")
        info = json.loads(info_path.read_text())
        shards = sorted(out_dir.glob("frames-*.safetensors"))
        if len(shards) != -(-info["n"] // info["shard"]):
            raise ValueError(f"{out_dir} holds {len(shards)} of its {-(-info['n'] // info['shard'])} shards; run the build again to finish it")
        latents, objects, self.prompts, self.tags = [], [], [], []
        for path in shards:
            tensors = load_file(path)
            with safe_open(path, framework="pt") as f:
                meta = f.metadata()
            latents.append(tensors["latents"])
            objects.append(tensors["objects"])
            self.prompts += json.loads(meta["prompts"])
            self.tags += json.loads(meta["tags"])
        self.latents, self.objects, self.size = torch.cat(latents), torch.cat(objects), info["size"]
        self.index = np.arange(len(self.prompts))
        if tags is not None:
            unknown = sorted(set(tags) - set(info["tags"]))
            if unknown:
                raise ValueError(f"tags {unknown} are not in {out_dir} (it holds {', '.join(info['tags'])})")
            self.index = np.array([i for i, t in enumerate(self.tags) if t in set(tags)])

    def __len__(self) -> int:
        return len(self.index)

    def batch(self, indices):
        idx = torch.from_numpy(self.index[list(indices)])
        return self.latents[idx].float(), [self.prompts[i] for i in idx.tolist()], self.objects[idx]
