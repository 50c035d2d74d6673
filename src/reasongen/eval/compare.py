"""Two results compared pair by pair, and runs' logs side by side: the figures that
`reasongen eval diff` and `reasongen eval log` print, and the docs quote.

- `diff_geneval`: two GenEval output folders drawn from the same prompts and seeds. How many images
  differ at all, and among those, how many the second folder fixed (correct only there) or broke
  (correct only in the first), by GenEval's rules; McNemar's exact test on them and a sign test by
  prompt (stats.py, which `reasongen report` uses too); how far the pixels moved. For FoX,
  `plan_act` against `mcot` counts what correction did (both draw the same first image); for one
  model sampled at 20 and at 50 steps, what the fewer steps give up.
- `diff_video`: two `eval video --out` results over the same cases and seeds: the mean difference
  A - B of each per-clip score with its standard error, and each side's mean with its standard error.
- `log_table`: runs' `log.jsonl` at given steps, each cell the mean of the logged records over the
  last `window` steps up to the mark.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .stats import paired_verdicts

VIDEO_KEYS = ("text_consistency", "event_consistency", "image_at_anchor", "image_best_frame")


def diff_geneval(before: str | Path, after: str | Path, common: bool = False, detector: str = "shapes",
                 workers: int = 1) -> dict:  # fmt: skip
    """The paired counts of two GenEval output folders (one JSON-ready dict). Without `common` both must
    hold the same samples; with it, the samples both hold are compared (the seeds depend on the prompt
    and the sample's index only, so the first sample of a prompt pairs with the first of the other)."""
    from PIL import Image

    from .run import evaluate_folder

    before, after = Path(before), Path(after)

    def scored(folder: Path) -> dict[str, dict]:
        rows, _ = evaluate_folder(folder, detector, workers=workers, progress=False)
        return {Path(r["filename"]).relative_to(folder).as_posix(): r for r in rows}

    a, b = scored(before), scored(after)
    names = sorted(a.keys() & b.keys())
    if a.keys() != b.keys() and not common:
        raise ValueError(f"the folders hold different samples ({len(a)} against {len(b)} images); "
                         f"--common compares the {len(names)} both hold")  # fmt: skip
    if not names:
        raise ValueError("the folders hold no sample in common")
    changed = 0
    mean_diff, max_diff = [], []
    for name in names:
        x = np.asarray(Image.open(before / name).convert("RGB"), dtype=np.float32) / 255
        y = np.asarray(Image.open(after / name).convert("RGB"), dtype=np.float32) / 255
        if x.shape != y.shape:
            raise ValueError(f"{name}: {x.shape[1]}x{x.shape[0]} px in {before}, {y.shape[1]}x{y.shape[0]} in {after}; "
                             "compare folders sampled at one size")  # fmt: skip
        diff = np.abs(x - y)
        mean_diff.append(diff.mean())
        max_diff.append(diff.max())
        changed += bool(diff.any())
    # the detector is deterministic: an unchanged image keeps its verdict, so every fixed or broken image changed
    paired = paired_verdicts({n: a[n]["correct"] for n in names}, {n: b[n]["correct"] for n in names})
    return {"images": len(names), "only_before": len(a) - len(names), "only_after": len(b) - len(names),
            "correct_before": paired["correct_before"], "correct_after": paired["correct_after"], "changed": changed,
            **{k: paired[k] for k in ("fixed", "broken", "mcnemar_p", "prompts", "prompts_better", "prompts_worse", "prompt_sign_p")},
            "pixel_mean_abs_diff": round(float(np.mean(mean_diff)), 4),
            "pixel_max_abs_diff_median": round(float(np.median(max_diff)), 4),
            "pixel_max_abs_diff_max": round(float(np.max(max_diff)), 4)}  # fmt: skip


def read_clips(path: str | Path) -> dict[int, dict]:
    """The per-clip rows of an `eval video --out` result, by case index."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not readable as JSON ({e})") from None
    if not isinstance(data, dict) or "clips" not in data:
        raise ValueError(f"{path}: not a result of `reasongen eval video --out` (no per-clip rows)")
    return {row["index"]: row for row in data["clips"]}


def _stderr(x: np.ndarray) -> float:
    return float(x.std(ddof=1) / np.sqrt(len(x)))


def diff_video(path_a: str | Path, path_b: str | Path) -> list[str]:
    """The paired comparison of two video results, as the lines to print."""
    path_a, path_b = Path(path_a), Path(path_b)
    a, b = read_clips(path_a), read_clips(path_b)
    if set(a) != set(b):
        raise ValueError(f"{path_a} and {path_b} score different cases ({len(a)} and {len(b)}): compare runs over the same benchmark")
    cases = sorted(a)
    lines = [f"{path_a.stem} - {path_b.stem}, {len(cases)} cases"]
    for key in VIDEO_KEYS:
        if key not in a[cases[0]] or key not in b[cases[0]]:
            lines.append(f"  {key}: not in both (score older results again with `reasongen eval video`)")
            continue
        scored = [i for i in cases if a[i][key] is not None]  # event consistency: clips whose scene changes
        x = np.array([float(a[i][key]) for i in scored])
        y = np.array([float(b[i][key]) for i in scored])
        lines.append(f"  {key}: {(x - y).mean():+.3f} ± {_stderr(x - y):.3f} ({x.mean():.3f} ± {_stderr(x):.3f} against "
                     f"{y.mean():.3f} ± {_stderr(y):.3f}" + (f", {len(scored)} clips scored)" if len(scored) < len(cases) else ")"))  # fmt: skip
    return lines


def read_log(run: str | Path) -> list[dict]:
    """A run's logged records: its folder's `log.jsonl`, or that file."""
    path = Path(run)
    path = path / "log.jsonl" if path.is_dir() else path
    if not path.is_file():
        raise ValueError(f"{run}: no log.jsonl; pass a run folder written by a `reasongen train` command")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows or not all(isinstance(r, dict) and "step" in r for r in rows):
        raise ValueError(f"{path}: not a training log (each line a JSON object with a `step`)")
    return rows


def log_table(runs: list[str | Path], keys: list[str], marks: list[int], window: int = 30) -> tuple[list[str], list[str]]:
    """A markdown table: one row a run and a mark, one column a logged key, each cell the mean of the
    records over the last `window` steps up to the mark (each record is already the mean of its
    `log_every` steps). A mark past a run's last record leaves that row out; the notes say so."""
    lines = ["| run | step | " + " | ".join(keys) + " |", "| --- | --- | " + " | ".join("---" for _ in keys) + " |"]
    notes = []
    for run in runs:
        rows, name = read_log(run), Path(run).name if Path(run).is_dir() else Path(run).parent.name
        last = max(r["step"] for r in rows)
        for mark in marks:
            if mark > last:  # runs of different lengths in one table
                notes.append(f"{run}: step {mark:,} is past the run's last record ({last:,}); row left out")
                continue
            kept = [r for r in rows if mark - window < r["step"] <= mark]
            if not kept:
                raise ValueError(f"{run}: no records between steps {mark - window} and {mark}; give a wider --window")
            cells = []
            for key in keys:
                values = [r[key] for r in kept if key in r]
                cells.append(f"{np.mean(values):.3f}" if values else "")
            lines.append(f"| {name} | {mark:,} | " + " | ".join(cells) + " |")
    return lines, notes
