"""Metadata files and GenEval's output layout, read and written with their checks.

GenEval's layout: `<dir>/<index:05d>/metadata.jsonl` (one JSON object: the prompt's record) and
`<dir>/<index:05d>/samples/<n:04d>.png`. Only all-digit sub-folders and `\\d+.png` samples count,
as in GenEval's evaluator. Every check runs before any long work, and every error names the file
(and line) and the fix.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from PIL import Image

from ..world.vocab import ALL_TAGS, RELATIONS

SAMPLE_NAME = re.compile(r"\d+\.png")


class LayoutError(ValueError):
    """Input that is not what the evaluator or a sampler reads; the message names file and fix."""


def resolve_metadata(name_or_path: str | os.PathLike) -> Path:
    """A metadata file path, or the name of a shipped benchmark (`shapes-geneval`, `shapes-reason`)."""
    from ..world.benchmarks import BENCHMARKS, shipped_path

    if str(name_or_path) in BENCHMARKS:
        return shipped_path(str(name_or_path))
    path = Path(name_or_path)
    if not path.is_file():
        raise LayoutError(f"metadata file {str(path)!r} not found; pass a JSONL file or one of {', '.join(BENCHMARKS)}")
    return path


def validate_record(meta: object, where: str, classes: Sequence[str], colors: Sequence[str]) -> dict:
    """Check one GenEval-style record against the tags, and a detector's classes and colours."""

    def fail(msg: str):
        raise LayoutError(f"{where}: {msg}")

    if not isinstance(meta, dict):
        fail(f"expected a JSON object, got {type(meta).__name__}")
    if meta.get("tag") not in ALL_TAGS:
        fail(f"unknown tag {meta.get('tag')!r}; expected one of {', '.join(ALL_TAGS)}")
    if not isinstance(meta.get("prompt"), str) or not meta["prompt"]:
        fail("missing 'prompt' (a non-empty string)")
    include = meta.get("include")
    if not isinstance(include, list) or not include:
        fail("missing 'include' (a non-empty list of clauses)")
    for kind in ("include", "exclude"):
        clauses = meta.get(kind, [])
        if not isinstance(clauses, list):
            fail(f"'{kind}' must be a list of clauses")
        for i, clause in enumerate(clauses):
            if not isinstance(clause, dict):
                fail(f"{kind}[{i}] must be an object")
            if clause.get("class") not in classes:
                fail(f"{kind}[{i}] has unknown class {clause.get('class')!r}; this detector knows: {', '.join(classes)}")
            count = clause.get("count")
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                fail(f"{kind}[{i}] has count {count!r}; expected a positive integer")
            if "color" in clause and clause["color"] not in colors:
                fail(f"{kind}[{i}] has unknown color {clause['color']!r}; expected one of {', '.join(colors)}")
            if "position" in clause:
                pos = clause["position"]
                if (
                    kind != "include"
                    or not isinstance(pos, (list, tuple))
                    or len(pos) != 2
                    or pos[0] not in RELATIONS
                    or not isinstance(pos[1], int)
                    or not 0 <= pos[1] < i
                ):
                    fail(
                        f"{kind}[{i}] has position {pos!r}; expected [relation, group] with relation one of "
                        f"{', '.join(RELATIONS)} and group the index of an earlier include clause"
                    )
    return meta


def read_metadata(path: str | os.PathLike, classes: Sequence[str], colors: Sequence[str]) -> list[dict]:
    """All records of a JSONL metadata file (blank lines skipped), each checked."""
    path = resolve_metadata(path)
    records = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path} line {lineno}"
            try:
                meta = json.loads(line)
            except json.JSONDecodeError as e:
                raise LayoutError(f"{where}: not valid JSON ({e.msg})") from None
            records.append(validate_record(meta, where, classes, colors))
    if not records:
        raise LayoutError(f"{path}: no metadata records")
    return records


@dataclass
class PromptFolder:
    index: str  # the folder's name, e.g. "00042"
    metadata: dict
    samples: list[Path]


def check_png(path: Path, detector) -> None:
    """An RGB PNG that decodes fully and that the detector can read, or a LayoutError naming it."""
    try:
        with Image.open(path) as im:
            fmt, mode, (w, h) = im.format, im.mode, im.size
            im.verify()  # walks every chunk and its CRC: finds truncated and corrupt files
    except Exception as e:  # PIL raises many kinds for broken files
        raise LayoutError(f"{path}: not a readable PNG ({type(e).__name__}: {e}); re-generate this sample") from None
    if fmt != "PNG":
        raise LayoutError(f"{path}: is a {fmt} file named .png; save samples as PNG")
    if mode != "RGB":
        raise LayoutError(f"{path}: image mode is {mode}, expected RGB; save samples with Image.convert('RGB')")
    try:
        detector.check_size(w, h, str(path))
    except ValueError as e:
        raise LayoutError(str(e)) from None


def scan_geneval_folder(root: str | os.PathLike, detector) -> list[PromptFolder]:
    """Every prompt folder of a GenEval output folder, with its metadata and samples, all checked."""
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: not a folder; pass the output folder of `reasongen sample geneval` or of GenEval")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit())
    if not folders:
        raise LayoutError(
            f"{root}: not in GenEval's layout: no all-digit sub-folders such as {root / '00000'}; "
            "expected <dir>/<index>/metadata.jsonl and <dir>/<index>/samples/<n>.png"
        )
    out = []
    for folder in folders:
        meta_path = folder / "metadata.jsonl"
        if not meta_path.is_file():
            raise LayoutError(f"{meta_path}: missing; each prompt folder holds its metadata record")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise LayoutError(f"{meta_path} line {e.lineno}: not one JSON object ({e.msg})") from None
        validate_record(meta, f"{meta_path} line 1", detector.classes, detector.colors)
        sample_dir = folder / "samples"
        samples = sorted(p for p in sample_dir.iterdir() if SAMPLE_NAME.fullmatch(p.name)) if sample_dir.is_dir() else []
        if not samples:
            raise LayoutError(f"{sample_dir}: no samples; expected PNG files named like 0000.png")
        for path in samples:
            check_png(path, detector)
        out.append(PromptFolder(folder.name, meta, samples))
    return out


def load_rgb(path: Path):
    import numpy as np

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except Exception as e:
        raise LayoutError(f"{path}: could not be decoded ({type(e).__name__}: {e})") from None
