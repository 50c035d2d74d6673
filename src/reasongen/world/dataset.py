"""Write ShapesWorld datasets: an image folder with `metadata.jsonl` beside the images (the layout
Hugging Face `datasets` reads as an image folder), resumable after a kill.

Record i is drawn from its own seed (seed, i), so a resumed run writes exactly what an uninterrupted
run would. Each line holds the image's `file_name`, its GenEval-style record and the scene drawn
(class, colour and box of every object), so methods can use the exact ground truth.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from ..locks import folder_lock, write_atomic
from .heldout import scene_holds_held_out
from .knowledge import SPLITS
from .prompts import sample_metadata
from .scene import scene_for
from .vocab import ALL_TAGS


def draw_record(seed: int, index: int, tags: Sequence[str], split: str) -> tuple[dict, "object"]:
    """Training record `index`: its GenEval-style metadata and the scene drawn for it. A draw that
    shows a held-out composition (world/heldout.py) is redrawn from the next stream (seed, index,
    attempt), so no training record holds one and every other record is what it always was."""
    for attempt in range(1000):
        rng = np.random.default_rng([seed, index] + ([attempt] if attempt else []))
        tag = tags[int(rng.integers(len(tags)))]
        meta = sample_metadata(tag, rng, split)
        scene = scene_for(meta, rng)
        if not scene_holds_held_out(scene.objects):
            return meta, scene
    raise RuntimeError(f"record {index} (seed {seed}, tags {list(tags)}) drew a held-out composition 1000 times")


def write_dataset(
    outdir: str | Path,
    n: int,
    tags: Sequence[str] = ALL_TAGS,
    size: int = 64,
    seed: int = 0,
    split: str = "in_distribution",
    progress: bool = True,
) -> int:
    """Write `n` images; returns how many were written now (0 when the dataset is already whole)."""
    unknown = [t for t in tags if t not in ALL_TAGS]
    if unknown or not tags:
        raise ValueError(f"unknown tags {unknown or tags}; choose from {', '.join(ALL_TAGS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if n < 1 or size < 32:
        raise ValueError(f"need n >= 1 and size >= 32 px, got n={n}, size={size}")
    outdir = Path(outdir)
    with folder_lock(outdir, "dataset writer"):
        return _write(outdir, n, tags, size, seed, split, progress)


def _write(outdir: Path, n: int, tags: Sequence[str], size: int, seed: int, split: str, progress: bool) -> int:
    config = {"tags": list(tags), "size": size, "seed": seed, "split": split}
    config_path = outdir / "dataset.json"
    if config_path.exists():
        old = json.loads(config_path.read_text())
        old_cfg = {k: old.get(k) for k in config}
        if old_cfg != config:
            raise ValueError(f"{outdir} holds a dataset made with {old_cfg}, not {config}; choose another folder")
    write_atomic(config_path, json.dumps({**config, "n": n}, indent=1) + "\n")

    meta_path = outdir / "metadata.jsonl"
    done = 0
    if meta_path.exists():  # resume after the last complete line
        lines = meta_path.read_text(encoding="utf-8").split("\n")
        complete = [ln for ln in lines[:-1] if ln.strip()]
        done = len(complete)
        write_atomic(meta_path, "".join(ln + "\n" for ln in complete))  # a kill here loses no complete line
    from ..images import save_png

    with open(meta_path, "a", encoding="utf-8") as f:
        for i in tqdm(range(done, n), initial=done, total=n, desc="world sample", unit="img", disable=not progress):
            meta, scene = draw_record(seed, i, tags, split)
            name = f"{i:07d}.png"
            save_png(scene.render(size), outdir / name)
            f.write(json.dumps({"file_name": name, **meta, "scene": scene.to_json()}) + "\n")
            f.flush()
    return max(n - done, 0)
