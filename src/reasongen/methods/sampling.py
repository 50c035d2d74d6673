"""Sample any generator over a metadata file into a benchmark's output layout (GenEval's, or the flat
folders of T2I-CompBench, WISE and Imagine-Bench), resumably."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..eval.layout import LayoutError, check_png
from ..images import save_png
from ..locks import folder_lock, write_atomic


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
    return write_samples(records, generator, outdir, GENEVAL_LAYOUT, n=n, seed=seed, progress=progress)


class GenevalLayout:
    """GenEval's: `<outdir>/<index:05d>/metadata.jsonl` and `<outdir>/<index:05d>/samples/<j:04d>.png`."""

    def image_path(self, outdir: Path, index: int, meta: dict, j: int, n: int) -> Path:
        return outdir / f"{index:05d}" / "samples" / f"{j:04d}.png"

    def begin(self, outdir: Path, records: list[dict], n: int) -> None:
        for index, meta in enumerate(records):
            meta_path = outdir / f"{index:05d}" / "metadata.jsonl"
            if meta_path.exists():
                existing = json.loads(meta_path.read_text(encoding="utf-8"))
                if existing != meta:
                    raise LayoutError(
                        f"{meta_path}: holds a different prompt ({existing.get('prompt')!r}, not {meta['prompt']!r}); "
                        "this folder belongs to another metadata file: choose another --outdir"
                    )

    def record_started(self, outdir: Path, index: int, meta: dict) -> None:
        meta_path = outdir / f"{index:05d}" / "metadata.jsonl"
        if not meta_path.exists():
            write_atomic(meta_path, json.dumps(meta) + "\n")


class FlatLayout:
    """Every image in one folder, `<outdir>/<folder>/<name(index, record, j, n)>`, as T2I-CompBench,
    WISE and Imagine-Bench read them; the records go to `<outdir>/metadata.jsonl` (one a line, in
    prompt order) and the image count to `<outdir>/sampling.json`, so a resumed run is checked to be
    the same run (the file names depend on both)."""

    def __init__(self, folder: str, name: Callable[[int, dict, int, int], str]):
        self.folder, self.name = folder, name

    def image_path(self, outdir: Path, index: int, meta: dict, j: int, n: int) -> Path:
        return outdir / self.folder / self.name(index, meta, j, n)

    def begin(self, outdir: Path, records: list[dict], n: int) -> None:
        meta_path, settings_path = outdir / "metadata.jsonl", outdir / "sampling.json"
        text = "".join(json.dumps(m) + "\n" for m in records)
        if meta_path.exists() and meta_path.read_text(encoding="utf-8") != text:
            raise LayoutError(f"{meta_path}: holds other prompts; this folder belongs to another benchmark or category: choose another --outdir")
        if settings_path.exists() and json.loads(settings_path.read_text()).get("n") != n:
            raise LayoutError(f"{outdir}: was sampled with --n {json.loads(settings_path.read_text()).get('n')}, "
                              f"not {n} (file names number the images); use that --n or another --outdir")  # fmt: skip
        (outdir / self.folder).mkdir(parents=True, exist_ok=True)
        write_atomic(meta_path, text)
        write_atomic(settings_path, json.dumps({"n": n}) + "\n")

    def record_started(self, outdir: Path, index: int, meta: dict) -> None:
        pass


GENEVAL_LAYOUT = GenevalLayout()


def write_samples(records: list[dict], generator, outdir: str | Path, layout, n: int = 4, seed: int = 0, progress: bool = True) -> int:
    """Write `n` samples per record in `layout` under `outdir`, resumably: samples already there are
    kept, broken ones drawn again. Returns the number of images generated now."""
    if n < 1:
        raise ValueError(f"--n {n}: need at least one image per prompt")
    outdir = Path(outdir)
    with folder_lock(outdir, "sampling run"):
        return _write_samples(records, generator, outdir, layout, n, seed, progress)


def _write_samples(records: list[dict], generator, outdir: Path, layout, n: int, seed: int, progress: bool) -> int:
    layout.begin(outdir, records, n)
    todo = []
    for index, meta in enumerate(records):
        missing = []
        for j in range(n):
            path = layout.image_path(outdir, index, meta, j, n)
            if path.exists():
                try:
                    check_png(path, _SizeCheck())
                    continue
                except LayoutError:
                    path.unlink()  # a broken sample from a killed run: draw it again
            missing.append(j)
        if missing:
            todo.append((index, meta, missing))
    total = sum(len(m) for *_, m in todo)
    made = 0
    # A generator with `many([(metadata, seeds), ...])` draws several records in one batch (up to
    # `records_per_call`); its images must not depend on the batch, as its per-record call's do not.
    per_call = getattr(generator, "records_per_call", 1) if hasattr(generator, "many") else 1
    with tqdm(total=total, desc=f"sampling {generator.name}", unit="img", disable=not progress) as bar:
        for start in range(0, len(todo), per_call):
            group = todo[start : start + per_call]
            asks = []
            for index, meta, missing in group:
                seeds = sample_seeds(seed, index, n)
                asks.append((meta, [seeds[j] for j in missing]))
            drawn = generator.many(asks) if per_call > 1 else [generator(*asks[0])]
            for (index, meta, missing), images in zip(group, drawn):
                layout.record_started(outdir, index, meta)
                for j, image in zip(missing, images):
                    path = layout.image_path(outdir, index, meta, j, n)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    save_png(image, path)
                made += len(missing)
                bar.update(len(missing))
    return made


def frame_index(frame: str) -> int:
    """`--frame` of `sample geneval`: a chain frame's index (-1 the last), or 'all' (-1 drawn: every frame is kept)."""
    if frame == "all":
        return -1
    try:
        return int(frame)
    except ValueError:
        raise ValueError(f"--frame {frame!r}: give a frame index (-1 for the last) or 'all'") from None


def write_geneval(records: list[dict], generator, outdir: Path, n: int = 4, seed: int = 0, every_frame: bool = False, say=print) -> None:
    """GenEval's layout in `outdir`, or with `every_frame` one chain per seed with each of its frames
    in its own folder, outdir/f1 .. outdir/fK; each folder's count is said as it is done."""
    views = [(generator.frame_view(k), outdir / f"f{k + 1}") for k in reversed(range(generator.num_frames))] if every_frame else [(generator, outdir)]
    for view, folder in views:
        made = write_geneval_samples(records, view, folder, n=n, seed=seed)
        say(f"{folder}: {len(records)} prompts x {n} images ({made} new)")


def sample_flat(records: list[dict], method: str, outdir: Path, layout: FlatLayout, n: int = 1, size: int = 64, seed: int = 0,
                **options) -> int:  # fmt: skip
    """A benchmark's prompts (T2I-CompBench, WISE, Imagine-Bench) sampled by `method` in its flat
    layout. What is cheap is refused first (the oracle on real prompts, any file name the layout
    could not carry), then the generator loads. Returns the number of images made now."""
    from . import get_generator

    if method == "oracle" and any("include" not in r for r in records):
        raise ValueError("the oracle draws ShapesWorld scenes only; these are real prompts: use --benchmark shapes, or a learned --method")
    for i, r in enumerate(records):
        layout.name(i, r, 0, n)  # refuse, before sampling, a prompt or count its file names could not carry
    return write_samples(records, get_generator(method, size=size, **options), outdir, layout, n=n, seed=seed)

