"""`shapes-wan` pretraining data: ShapesWorld scenes and clips rendered once, encoded once by the VAE, read by index.

`build_frames` draws n training records (`world.dataset.draw_record`: never a held-out composition)
of the chosen tags, renders each at the VAE's size and encodes it frame-wise into normalised latents
(fp16). It also keeps, per record, its tag and a mask of the latent cells the objects cover, for
object-weighted losses and curricula. `build_clips` does the same for clips of the video world
(`world.video.sample_clip(..., held_out=False)`): every frame encoded alone by the same image VAE, a
mask per frame, and one dense caption per clip (`world.video.dense_caption`). The work is cut into
shards written atomically, so a killed build resumes at the first missing shard and gives the same
data as an uninterrupted one.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ...images import to_tensor
from ...locks import holds_folder, write_atomic
from ...world.dataset import draw_record
from ...world.render import object_mask
from ...world.video import DEFAULT_FRAMES, check_clip_length, dense_caption, sample_clip
from ...world.vocab import TAGS

SHARD = 8192
CLIP_SHARD = 1024  # a clip of 17 frames weighs 17 images
CLIP_STREAM = 6  # clip i is drawn from the stream (seed, i, 6): no other builder's
KINDS = ("frames", "clips")  # what a data folder holds; never both


def _render_job(args):
    seed, i, tags, size = args
    meta, scene = draw_record(seed, i, tags, "in_distribution")
    return scene.render(size), meta["prompt"], meta["tag"]


def training_clip(seed: int, i: int, num_frames: int):
    """Clip `i` of a clips build: any event, never a held-out composition in any frame."""
    return sample_clip(np.random.default_rng([seed, i, CLIP_STREAM]), num_frames, held_out=False)


def _clip_job(args):
    seed, i, num_frames, size = args
    clip = training_clip(seed, i, num_frames)
    return clip.render(size), dense_caption(clip.caption, clip.frame_captions[0], clip.frame_captions[-1]), clip.event


@torch.no_grad()
@holds_folder("data build")
def build_frames(out_dir: str | Path, n: int, fvae, seed: int = 0, tags: Sequence[str] = TAGS, size: int = 64,
                 workers: int = 2, batch_size: int = 64, progress: bool = True) -> Path:  # fmt: skip
    """Write `frames.json` and shards `frames-XXXXX.safetensors` (latents, objects) into `out_dir`."""
    fvae.check_size(size, size)

    def encode(results):
        images = np.stack([r[0] for r in results])
        latents = torch.cat([fvae.encode_frames(to_tensor(images[i : i + batch_size])[:, None]).half()
                             for i in range(0, len(images), batch_size)])  # fmt: skip
        tensors = {"latents": latents.contiguous(), "objects": torch.from_numpy(object_mask(images, fvae.spatial))}
        return tensors, {"prompts": json.dumps([r[1] for r in results]), "tags": json.dumps([r[2] for r in results])}

    config = {"n": n, "seed": seed, "tags": list(tags), "size": size, "shard": SHARD}
    return _build(Path(out_dir), "frames", config, _render_job, lambda i: (seed, i, tuple(tags), size), encode, workers, progress, 64)


@torch.no_grad()
@holds_folder("data build")
def build_clips(out_dir: str | Path, n: int, fvae, seed: int = 0, num_frames: int = DEFAULT_FRAMES, size: int = 64,
                workers: int = 2, batch_size: int = 8, text_max_length: int = 64, progress: bool = True) -> Path:  # fmt: skip
    """Write `clips.json` and shards `clips-XXXXX.safetensors` into `out_dir`: per clip its latents
    (C, T, h, w) fp16, each frame encoded alone (`encode_frames`), and its object masks (T, h, w); its
    dense caption and event in the shard's metadata. `batch_size` clips are encoded at once. Every
    caption must fit `text_max_length` tokens of the MiniLM text encoder (the `shapes` preset's): a
    shard with a longer one is refused before it is encoded, never cropped."""
    from ...backbones.text import load_text_encoder

    check_clip_length(num_frames)
    fvae.check_size(size, size)
    text = load_text_encoder("minilm", max_length=text_max_length)

    def encode(results):
        prompts = [r[1] for r in results]
        try:
            text.tokenize(prompts)
        except ValueError as e:
            raise ValueError(f"a clip caption does not fit {text_max_length} MiniLM tokens ({e}); build with a larger "
                             "text_max_length and train with that --text-max-length") from None  # fmt: skip
        clips = np.stack([r[0] for r in results])  # (B, T, H, W, 3)
        latents = torch.cat([fvae.encode_frames(to_tensor(clips[i : i + batch_size])).half() for i in range(0, len(clips), batch_size)])
        objects = object_mask(clips.reshape(-1, *clips.shape[2:]), fvae.spatial).reshape(*clips.shape[:2], size // fvae.spatial, -1)
        tensors = {"latents": latents.contiguous(), "objects": torch.from_numpy(objects)}
        return tensors, {"prompts": json.dumps(prompts), "events": json.dumps([r[2] for r in results])}

    config = {"n": n, "seed": seed, "num_frames": num_frames, "size": size, "shard": CLIP_SHARD}
    return _build(Path(out_dir), "clips", config, _clip_job, lambda i: (seed, i, num_frames, size), encode, workers, progress, 4)


def _build(out_dir: Path, kind: str, config: dict, job: Callable, job_args: Callable[[int], tuple], encode: Callable,
           workers: int, progress: bool, chunksize: int) -> Path:  # fmt: skip
    """The shared machinery: `KIND.json` (a different build into the same folder is refused), then
    shard after shard: `job(job_args(i))` for its records on a fork pool, `encode(results) ->
    (tensors, metadata)`, written atomically as `KIND-XXXXX.safetensors`; shards already there are kept."""
    other = [k for k in KINDS if k != kind and (out_dir / f"{k}.json").is_file()]
    if other:
        raise ValueError(f"{out_dir} holds {other[0]}; build the {kind} into another folder")
    info_path = out_dir / f"{kind}.json"
    if info_path.is_file():
        old = json.loads(info_path.read_text())
        if {k: old.get(k) for k in config} != config:
            raise ValueError(f"{out_dir} holds {kind} made with {({k: old.get(k) for k in config})}, not {config}; choose another folder")
    else:
        write_atomic(info_path, json.dumps(config))
    n, shard = config["n"], config["shard"]
    shards = -(-n // shard)
    with mp.get_context("fork").Pool(workers) as pool:
        for s in range(shards):
            path = out_dir / f"{kind}-{s:05d}.safetensors"
            if path.is_file():
                continue
            jobs = [job_args(i) for i in range(s * shard, min(n, (s + 1) * shard))]
            results = list(tqdm(pool.imap(job, jobs, chunksize=chunksize), total=len(jobs), disable=not progress,
                                desc=f"render shard {s + 1}/{shards}", unit=kind))  # fmt: skip
            tensors, meta = encode(results)
            write_atomic(path, lambda tmp: save_file(tensors, tmp, metadata=meta))
    return out_dir


def _read(out_dir: Path, kind: str, build: str) -> tuple[dict, dict[str, torch.Tensor], dict[str, list]]:
    """A whole data folder of `kind`: its `KIND.json`, its tensors (concatenated over the shards) and
    its metadata lists; a missing or unfinished build is refused with the command that makes it."""
    from safetensors import safe_open

    info_path = out_dir / f"{kind}.json"
    if not info_path.is_file():
        raise ValueError(f"{out_dir} holds no {kind}; build them with `reasongen wan data --out {out_dir}{build}`")
    info = json.loads(info_path.read_text())
    shards = sorted(out_dir.glob(f"{kind}-*.safetensors"))
    if len(shards) != -(-info["n"] // info["shard"]):
        raise ValueError(f"{out_dir} holds {len(shards)} of its {-(-info['n'] // info['shard'])} shards; run the build again to finish it")
    tensors: dict[str, list] = {}
    meta: dict[str, list] = {}
    for path in shards:
        for k, v in load_file(path).items():
            tensors.setdefault(k, []).append(v)
        with safe_open(path, framework="pt") as f:
            for k, v in f.metadata().items():
                meta.setdefault(k, []).extend(json.loads(v))
    return info, {k: torch.cat(v) for k, v in tensors.items()}, meta


class FrameLatents:
    """The loop's dataset: (latents (B, C, 1, h, w), prompts, object masks (B, h, w)) by index.
    `tags` keeps only records of those tags (a curriculum's stage)."""

    def __init__(self, out_dir: str | Path, tags: Sequence[str] | None = None):
        out_dir = Path(out_dir)
        info, tensors, meta = _read(out_dir, "frames", "")
        self.latents, self.objects, self.size = tensors["latents"], tensors["objects"], info["size"]
        self.prompts, self.tags = meta["prompts"], meta["tags"]
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


class ClipLatents:
    """Clips by index: (latents (B, C, T, h, w), dense captions, object masks (B, T, h, w))."""

    def __init__(self, out_dir: str | Path):
        out_dir = Path(out_dir)
        info, tensors, meta = _read(out_dir, "clips", " --clips N")
        self.latents, self.objects, self.size, self.num_frames = tensors["latents"], tensors["objects"], info["size"], info["num_frames"]
        self.prompts, self.events = meta["prompts"], meta["events"]

    def __len__(self) -> int:
        return len(self.prompts)

    def batch(self, indices):
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        return self.latents[idx].float(), [self.prompts[i] for i in idx.tolist()], self.objects[idx]


class JointLatents:
    """Images and clips in one step (Wan2.1's joint image-video stages): `batch(indices)` gives the
    image batch of those indices and `clips_per_step` clips, or None without clips. The clips are
    drawn from the step's image indices alone, which the loop draws from (seed, step, rank), so a
    resumed run picks the clips the uninterrupted run picked. Its length is the images'."""

    def __init__(self, frames: FrameLatents, clips: ClipLatents | None = None, clips_per_step: int = 0):
        if clips is not None:
            if clips_per_step > len(clips):
                raise ValueError(f"clips_per_step {clips_per_step}: the clips folder holds only {len(clips)} clips")
            image, clip = frames.latents.shape, clips.latents.shape
            if (image[1], *image[3:]) != (clip[1], *clip[3:]):
                raise ValueError(f"the clips' latents are {clip[1]} x {clip[3]} x {clip[4]} per frame, the images' {image[1]} x {image[3]} x "
                                 f"{image[4]}: build both with the same VAE and size")  # fmt: skip
        self.frames, self.clips, self.clips_per_step = frames, clips, clips_per_step

    def __len__(self) -> int:
        return len(self.frames)

    def batch(self, indices):
        images = self.frames.batch(indices)
        if self.clips is None or not self.clips_per_step:
            return images, None
        picked = np.random.default_rng([CLIP_STREAM, *map(int, indices)]).choice(len(self.clips), self.clips_per_step, replace=False)
        return images, self.clips.batch(picked.tolist())
