"""Sample any generator over a metadata file into GenEval's output layout, resumably."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..eval.layout import LayoutError, SAMPLE_NAME, check_png
from ..images import save_png  # noqa: F401  (the harness's writer)
from ..locks import folder_lock


def sample_seeds(seed: int, index: int, n: int) -> list[int]:
    """Seeds of the `n` images of prompt `index`: independent of every other prompt, so a resumed or
    partial run draws exactly what a full run would."""
    return [int(np.random.SeedSequence([seed, index, j]).generate_state(1)[0]) for j in range(n)]


class _SizeCheck:
    """Lets `check_png` verify an existing sample without a detector's size rule."""

    def check_size(self, width, height, where):
        pass


def write_geneval_samples(
    records: list[dict], generator, outdir: str | Path, n: int = 4, seed: int = 0, progress: bool = True
) -> int:
    """Write `n` samples per record under `outdir`; samples already there are kept. Returns the
    number of images generated now."""
    if n < 1:
        raise ValueError(f"--n {n}: need at least one image per prompt")
    outdir = Path(outdir)
    with folder_lock(outdir, "sampling run"):
        return _write_samples(records, generator, outdir, n, seed, progress)


def _write_samples(records: list[dict], generator, outdir: Path, n: int, seed: int, progress: bool) -> int:
    todo = []
    for index, meta in enumerate(records):
        folder = outdir / f"{index:05d}"
        meta_path = folder / "metadata.jsonl"
        if meta_path.exists():
            existing = json.loads(meta_path.read_text(encoding="utf-8"))
            if existing != meta:
                raise LayoutError(
                    f"{meta_path}: holds a different prompt ({existing.get('prompt')!r}, not {meta['prompt']!r}); "
                    "this folder belongs to another metadata file: choose another --outdir"
                )
        have = set()
        if (folder / "samples").is_dir():
            for p in (folder / "samples").iterdir():
                if SAMPLE_NAME.fullmatch(p.name):
                    try:
                        check_png(p, _SizeCheck())
                        have.add(p.name)
                    except LayoutError:
                        p.unlink()  # a broken sample from a killed run: draw it again
        missing = [j for j in range(n) if f"{j:04d}.png" not in have]
        if missing:
            todo.append((index, meta, folder, missing))
    total = sum(len(m) for *_, m in todo)
    made = 0
    # A generator with `many([(metadata, seeds), ...])` draws several records in one batch (up to
    # `records_per_call`); its images must not depend on the batch, as its per-record call's do not.
    per_call = getattr(generator, "records_per_call", 1) if hasattr(generator, "many") else 1
    with tqdm(total=total, desc=f"sampling {generator.name}", unit="img", disable=not progress) as bar:
        for start in range(0, len(todo), per_call):
            group = todo[start : start + per_call]
            asks = []
            for index, meta, _, missing in group:
                seeds = sample_seeds(seed, index, n)
                asks.append((meta, [seeds[j] for j in missing]))
            drawn = generator.many(asks) if per_call > 1 else [generator(*asks[0])]
            for (index, meta, folder, missing), images in zip(group, drawn):
                (folder / "samples").mkdir(parents=True, exist_ok=True)
                meta_path = folder / "metadata.jsonl"
                if not meta_path.exists():
                    tmp = meta_path.with_name("metadata.jsonl.tmp")
                    tmp.write_text(json.dumps(meta) + "\n", encoding="utf-8")
                    os.replace(tmp, meta_path)
                for j, image in zip(missing, images):
                    save_png(image, folder / "samples" / f"{j:04d}.png")
                made += len(missing)
                bar.update(len(missing))
    return made
