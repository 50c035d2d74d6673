"""FoX training data on ShapesWorld: one record per prompt serves all four tasks.

A record holds the prompt (the six GenEval tags), the oracle's plan (caption and layout, `plan.py`),
the target render, a visual question about it with its answer (`world.questions`, for Stage II's
understanding), and a flawed render with its exact flaw mask:

- with probability `P_CLEAN` the "flawed" image is the target itself and the mask is empty (reflection
  must learn to find nothing, which is what ends the chain);
- otherwise one flaw the prompt would catch (`inject_flaw`: a wrong colour, class, count or
  position) or a malformed shape (one object drawn as a coarse blocky draft). The mask covers
  every object that differs between the two scenes, old place and new, grown by `MASK_GROW`
  pixels, so that the correction task can redraw the object whole.

Tasks read it as: planning (prompt -> caption -> layout), acting (plan -> target), reflection
(prompt + flawed -> mask), correction (plan + flawed with the mask blanked -> target). Images are
kept as uint8 and encoded once by the VAE.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ...images import to_tensor
from ...locks import holds_folder, write_atomic
from ...train.data import built_already
from .inputs import blank  # noqa: F401  (the correction task's input, also the pipeline's)
from ...world.dataset import draw_record
from ...world.mutate import inject_flaw
from ...world.questions import visual_question
from ...world.render import object_alpha, object_mask, render_draft
from ...world.scene import Scene
from ...world.vocab import GROUND, TAGS
from .plan import plan_text

P_CLEAN = 0.3
P_MALFORMED = 0.2  # among flawed records
MALFORMED_FACTOR = 4  # the malformed object is drawn at 1/4 of the size and enlarged without smoothing
MASK_GROW = 2  # pixels, at 64 px (scaled with the canvas)


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    if pixels <= 0:
        return mask
    img = Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(2 * pixels + 1))
    return np.asarray(img) > 0


def footprint(objects, size: int) -> np.ndarray:
    out = np.zeros((size, size), dtype=bool)
    for o in objects:
        out |= object_alpha(o.cls, o.box, size) > 0
    return out


def flaw_mask(target: Scene, flawed: Scene, size: int) -> np.ndarray:
    """Where the flawed scene differs from the target: every changed object, old and new place."""
    changed = set(target.objects) ^ set(flawed.objects)
    return grow(footprint(changed, size), MASK_GROW * size // 64)


def malformed(scene: Scene, i: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The scene with object i drawn as a coarse blocky draft, and the mask of that object."""
    obj = scene.objects[i]
    image = Scene(scene.objects[:i] + scene.objects[i + 1 :]).render(size)
    draft = render_draft([obj], size, MALFORMED_FACTOR)
    drawn = (draft != np.array(GROUND, dtype=np.uint8)).any(-1)
    image[drawn] = draft[drawn]
    return image, grow(drawn | footprint([obj], size), MASK_GROW * size // 64)


def make_record(metadata: dict, scene: Scene, rng: np.random.Generator, size: int) -> dict:
    target = scene.render(size)
    u = rng.random()
    if u < P_CLEAN:
        flawed, mask, kind = target, np.zeros((size, size), dtype=bool), "none"
    elif u < P_CLEAN + (1 - P_CLEAN) * P_MALFORMED:
        flawed, mask = malformed(scene, int(rng.integers(len(scene.objects))), size)
        kind = "malformed"
    else:
        bad, kind = inject_flaw(scene, metadata, rng)
        flawed, mask = bad.render(size), flaw_mask(scene, bad, size)
    caption, layout = plan_text(scene)
    return {"target": target, "flawed": flawed, "mask": mask, "flaw": kind, "prompt": metadata["prompt"],
            "caption": caption, "layout": layout, "tag": metadata["tag"]}  # fmt: skip


def record(seed: int, i: int, size: int) -> dict:
    """Record i of the records drawn from `seed`."""
    meta, scene = draw_record(seed, i, TAGS, "in_distribution")
    question, answer = visual_question(scene, np.random.default_rng([seed, i, 4]))  # its own stream: the rest stays as it was
    return {**make_record(meta, scene, np.random.default_rng([seed, i, 3]), size), "question": question, "answer": answer}


def _record_job(args):
    return record(*args)


TEXT_FIELDS = ("prompt", "caption", "layout", "flaw", "tag", "question", "answer")


@holds_folder("data build")
def build_records(out_dir: str | Path, n: int, size: int = 64, seed: int = 0, workers: int = 2) -> Path:
    """Write `records.safetensors` (target, flawed: uint8 N x H x W x 3; mask: uint8 N x H x W) and
    `records.json` (the text fields). A folder that holds the same records is left as it is."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path, info_path = out_dir / "records.safetensors", out_dir / "records.json"
    if built_already(info_path, path, "records", n, size, seed):
        return path
    jobs = [(seed, i, size) for i in range(n)]
    with mp.get_context("fork").Pool(workers) as pool:
        recs = list(tqdm(pool.imap(_record_job, jobs, chunksize=32), total=n, desc="fox records", unit="record"))
    arrays = {k: torch.from_numpy(np.stack([r[k] for r in recs]).astype(np.uint8)) for k in ("target", "flawed", "mask")}
    write_atomic(path, lambda tmp: save_file(arrays, tmp))  # each file whole or absent: a killed build is redone
    info = {"n": n, "size": size, "seed": seed, **{k: [r[k] for r in recs] for k in TEXT_FIELDS}}
    write_atomic(info_path, json.dumps(info))  # last: with it, the records are whole
    return path


@holds_folder("data build")
def encode_records(out_dir: str | Path, fvae, batch_size: int = 64) -> Path:
    """Normalised VAE latents of the target, the flawed and the blanked flawed image of every record."""
    out_dir = Path(out_dir)
    path = out_dir / "latents.safetensors"
    if path.is_file():
        return path
    rec = load_file(out_dir / "records.safetensors")
    blanked = rec["flawed"].clone()
    blanked[rec["mask"].bool()] = torch.tensor(GROUND, dtype=torch.uint8)
    out = {}
    with torch.no_grad():
        for name, images in (("target", rec["target"]), ("flawed", rec["flawed"]), ("blanked", blanked)):
            chunks = []
            for i in tqdm(range(0, len(images), batch_size), desc=f"encode {name}", unit="batch"):
                x = to_tensor(images[i : i + batch_size].numpy())[:, None]  # (B, 1, 3, H, W)
                chunks.append(fvae.encode_frames(x)[:, :, 0].half())
            out[name] = torch.cat(chunks).contiguous()
    write_atomic(path, lambda tmp: save_file(out, tmp))  # a killed run leaves no half file that a rerun would take as done
    return path


class MCoTRecords:
    """The loop's dataset: a batch is a dict of latents (float), masks (float, H x W) and texts."""

    def __init__(self, out_dir: str | Path):
        out_dir = Path(out_dir)
        self.latents = load_file(out_dir / "latents.safetensors")
        records = load_file(out_dir / "records.safetensors")
        self.masks = records["mask"]
        cell = records["target"].shape[1] // self.latents["target"].shape[-1]  # pixels per latent cell
        self.objects = torch.from_numpy(object_mask(records["target"].numpy(), cell))  # the target's objects, per latent cell
        self.info = json.loads((out_dir / "records.json").read_text())
        self.size = self.info["size"]

    def __len__(self) -> int:
        return self.info["n"]

    def batch(self, indices) -> dict:
        idx = torch.as_tensor(list(indices))
        out = {k: v[idx].float() for k, v in self.latents.items()}
        out["mask"] = self.masks[idx].float()
        out["objects"] = self.objects[idx].float()
        out.update({k: [self.info[k][i] for i in idx.tolist()] for k in TEXT_FIELDS if k in self.info})  # older folders lack questions
        return out
