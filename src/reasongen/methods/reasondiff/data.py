"""ReasonDiff training data on ShapesWorld: event clips with a condition frame, encoded once.

The paper trains on video clips with a randomly chosen frame as the condition image, the clip's
frames taken at widened intervals so that the image correlates only weakly with the frames around
it. Here an event is drawn over 1 + (T - 1) s frames for a stride s drawn from 1..max_stride; the
training clip keeps every s-th frame (T of them) and the condition image is any frame of the dense
event, whose anchor is the nearest kept frame. With s > 1 the image is often none of the clip's
frames exactly (a state between two of them), as a real frame taken between two sampled ones is.

The narratives are the kept frames' own captions (what a narrator should write for each frame). The
text side of the DiT reads only them, as in the released code; the user's text reaches the video
through the narrator.

Latents (`clip_latents`): 1 + (T - 1) / 4 latent frames for packed and video, the pixel frame a in
latent frame ceil(a / 4), T for frames; the condition image as a one-frame clip of the same kind.
- "video": the clip through a video VAE as one clip, as the paper does with Wan's (real checkpoints);
- "packed": every frame through the image VAE alone, four frames stacked per latent frame along
  channels (`FrameVAE.encode_packed`). ShapesWorld's default: no video VAE we could train on the CPU
  keeps a whole clip's objects (docs/reasondiff.md), and packing keeps each frame as the image VAE does;
- "frames": every frame through the image VAE alone, one latent frame each: the latents of the
  frame-wise text-to-video base (`shapes-wan`), which ReasonDiff can then start from (`--init-from`).
"""

from __future__ import annotations

import json
import multiprocessing as mp
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ...images import to_tensor
from ...locks import holds_folder, write_atomic
from ...train.data import built_already
from ...world.scene import Scene
from ...world.video import Clip, check_clip_length, sample_clip
from .latents import (  # noqa: F401  (the clip-latent helpers, shared with the pipeline)
    CLIP_LATENTS, check_clip_latents, clip_latent_channels, decode_clips, encode_clips, encode_narratives, frames_per_latent,
    group_by_latent_frame, latent_index, stored_clip_latents,
)  # fmt: skip


@dataclass(frozen=True)
class TrainingPair:
    clip: Clip  # the kept frames
    condition: Scene  # the condition image's scene: a frame of the dense event
    anchor: int  # the kept frame nearest to it
    stride: int


def training_pair(rng: np.random.Generator, num_frames: int = 17, max_stride: int = 3) -> TrainingPair:
    check_clip_length(num_frames)
    if max_stride < 1:
        raise ValueError(f"max_stride {max_stride}: use 1 (adjacent frames) or more (widened intervals)")
    stride = int(rng.integers(1, max_stride + 1))
    dense = sample_clip(rng, 1 + (num_frames - 1) * stride, held_out=False)  # 1 + 4k frames whatever the stride
    j = int(rng.integers(len(dense)))
    clip = Clip(dense.event, dense.scenes[::stride], dense.caption, dense.frame_captions[::stride])
    return TrainingPair(clip, dense.scenes[j], int(np.floor(j / stride + 0.5)), stride)


def _pair_job(args):
    seed, i, num_frames, max_stride, size = args
    pair = training_pair(np.random.default_rng([seed, i, 3]), num_frames, max_stride)
    return pair.clip.render(size), pair.condition.render(size), pair.anchor, pair.stride, pair.clip.caption, pair.clip.frame_captions


@holds_folder("data build")
def build_pairs(out_dir: str | Path, n: int, num_frames: int = 17, max_stride: int = 3, size: int = 64, seed: int = 0,
                workers: int = 2) -> Path:  # fmt: skip
    """Write `pairs.safetensors` (frames uint8 N x T x H x W x 3, condition uint8 N x H x W x 3) and
    `pairs.json` (anchors, strides, captions, frame captions)."""
    check_clip_length(num_frames)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path, info_path = out_dir / "pairs.safetensors", out_dir / "pairs.json"
    if built_already(info_path, path, "training pairs", n, size, seed):
        return path
    jobs = [(seed, i, num_frames, max_stride, size) for i in range(n)]
    with mp.get_context("fork").Pool(workers) as pool:
        rows = list(tqdm(pool.imap(_pair_job, jobs, chunksize=16), total=n, desc="reasondiff pairs", unit="pair"))
    arrays = {"frames": torch.from_numpy(np.stack([r[0] for r in rows])), "condition": torch.from_numpy(np.stack([r[1] for r in rows]))}
    write_atomic(path, lambda tmp: save_file(arrays, tmp))  # each file whole or absent
    info = {"n": n, "size": size, "seed": seed, "num_frames": num_frames, "max_stride": max_stride,
            "anchors": [r[2] for r in rows], "strides": [r[3] for r in rows], "captions": [r[4] for r in rows],
            "frame_captions": [list(r[5]) for r in rows]}  # fmt: skip
    write_atomic(info_path, json.dumps(info))  # last: with it, the pairs are whole
    return path


@torch.no_grad()
@holds_folder("data build")
def encode_pairs(out_dir: str | Path, fvae, clip_latents: str = "packed", batch_size: int = 16) -> Path:
    """`latents.safetensors`: the clips (N, C', F, h, w) and the condition images (N, C', h, w), fp16;
    its metadata names the kind of clip latents."""
    out_dir = Path(out_dir)
    path = out_dir / "latents.safetensors"
    if path.is_file():
        have = stored_clip_latents(path)
        if have != clip_latents:
            raise ValueError(f"{path} holds {have} clip latents, not {clip_latents}: delete it to re-encode, or use another --out")
        return path
    check_clip_latents(clip_latents)
    data = load_file(out_dir / "pairs.safetensors")
    clips, conds = [], []
    for i in tqdm(range(0, len(data["frames"]), batch_size), desc="encode pairs", unit="batch"):
        clips.append(encode_clips(fvae, to_tensor(data["frames"][i : i + batch_size].numpy()), clip_latents).half())
        still = to_tensor(data["condition"][i : i + batch_size].numpy())[:, None]
        conds.append(encode_clips(fvae, still, clip_latents)[:, :, 0].half())
    latents = {"clips": torch.cat(clips).contiguous(), "condition": torch.cat(conds).contiguous(), "temporal": torch.tensor(frames_per_latent(fvae, clip_latents))}
    # a killed run leaves no half-written latents that a rerun would take as done
    write_atomic(path, lambda tmp: save_file(latents, tmp, metadata={"clip_latents": clip_latents}))
    return path


@holds_folder("data build")
def encode_image_states(out_dir: str | Path, image_encoder, batch_size: int = 16) -> Path:
    """`image_states.safetensors`: each pair's condition image through the image-to-video DiT's CLIP
    encoder (N, tokens, dim), fp16, as the released code caches them."""
    out_dir = Path(out_dir)
    path = out_dir / "image_states.safetensors"
    if path.is_file():
        return path
    with safe_open(out_dir / "pairs.safetensors", framework="pt") as pairs:  # the condition frames alone, not every clip
        frames = pairs.get_tensor("condition").numpy()
    states = [image_encoder(frames[i : i + batch_size]).half().cpu()
              for i in tqdm(range(0, len(frames), batch_size), desc="encode images", unit="batch")]  # fmt: skip
    image_states = torch.cat(states).contiguous()
    write_atomic(path, lambda tmp: save_file({"image_states": image_states}, tmp))
    return path


class PairLatents:
    """The loop's dataset: (clip latents, condition latents, anchor frames, per-frame narratives, clip
    captions, the condition images' CLIP states or None)."""

    def __init__(self, out_dir: str | Path):
        out_dir = Path(out_dir)
        states = out_dir / "image_states.safetensors"
        self.image_states = load_file(states)["image_states"] if states.is_file() else None
        lat = load_file(out_dir / "latents.safetensors")
        self.clips, self.condition, temporal = lat["clips"], lat["condition"], int(lat["temporal"])
        self.clip_latents = stored_clip_latents(out_dir / "latents.safetensors")
        info = json.loads((out_dir / "pairs.json").read_text())
        self.anchors = torch.tensor(info["anchors"])  # pixel frames
        self.narratives, self.captions = info["frame_captions"], info["captions"]
        self.size, self.temporal = info["size"], temporal

    def __len__(self) -> int:
        return len(self.narratives)

    def batch(self, indices):
        idx = torch.tensor(list(indices))
        return (self.clips[idx].float(), self.condition[idx].float(), self.anchors[idx],
                [self.narratives[i] for i in indices], [self.captions[i] for i in indices],
                None if self.image_states is None else self.image_states[idx].float())  # fmt: skip
