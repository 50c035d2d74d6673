"""Score a GenEval output folder with any detector: the `reasongen eval geneval` command's engine."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

from tqdm import tqdm

from .detector import make_detector
from .geneval import (
    COUNTING_THRESHOLD,
    MAX_OBJECTS,
    MAX_OVERLAP,
    POSITION_THRESHOLD,
    THRESHOLD,
    confidence_threshold,
    evaluate,
    filter_detections,
    summarize,
)
from .layout import load_rgb, scan_geneval_folder

DEFAULT_OPTIONS = {
    "threshold": THRESHOLD,
    "counting_threshold": COUNTING_THRESHOLD,
    "max_objects": MAX_OBJECTS,
    "max_overlap": MAX_OVERLAP,
    "position_threshold": POSITION_THRESHOLD,
}


def score_image(detector, image, metadata: dict, options: dict = DEFAULT_OPTIONS) -> dict:
    """GenEval's per-image row (without the file name): correct, reason, detected boxes per class."""
    thr = confidence_threshold(metadata, options["threshold"], options["counting_threshold"])
    detected = filter_detections(detector.detect(image), thr, options["max_objects"], options["max_overlap"])
    correct, reason = evaluate(
        detected, metadata, lambda found, cls: detector.classify_colors(image, found, cls), options["position_threshold"]
    )
    row = {
        "tag": metadata["tag"],
        "prompt": metadata["prompt"],
        "correct": correct,
        "reason": reason,
        "metadata": json.dumps(metadata),
        "details": json.dumps({cls: [[*map(float, d.box), d.score] for d in dets] for cls, dets in detected.items()}),
    }
    if hasattr(detector, "partial_credit") and "include" in metadata:  # a detector that can grade below all-or-nothing
        row["partial"] = detector.partial_credit(image, metadata)
    return row


_worker: dict = {}


def _init_worker(detector_name: str, detector_options: dict, options: dict) -> None:
    _worker["detector"] = make_detector(detector_name, **detector_options)
    _worker["options"] = options


def _score_job(job: tuple[str, dict]) -> dict:
    path, metadata = job
    row = score_image(_worker["detector"], load_rgb(Path(path)), metadata, _worker["options"])
    return {"filename": path, **row}


def evaluate_folder(
    root: str | Path,
    detector: str = "shapes",
    detector_options: dict | None = None,
    options: dict | None = None,
    workers: int = 1,
    progress: bool = True,
) -> tuple[list[dict], dict]:
    """Score every sample under `root` (GenEval's layout). Returns per-image rows and the summary."""
    detector_options = detector_options or {}
    options = {**DEFAULT_OPTIONS, **(options or {})}
    _init_worker(detector, detector_options, options)  # builds the detector once: fails fast on bad options
    folders = scan_geneval_folder(root, _worker["detector"])
    jobs = [(str(p), f.metadata) for f in folders for p in f.samples]
    bar = dict(total=len(jobs), desc="scoring", unit="img", disable=not progress)
    if workers <= 1:
        rows = [_score_job(j) for j in tqdm(jobs, **bar)]
    else:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        with ctx.Pool(workers, initializer=_init_worker, initargs=(detector, detector_options, options)) as pool:
            rows = list(tqdm(pool.imap(_score_job, jobs, chunksize=16), **bar))
    summary = summarize(rows)
    summary["detector"] = detector
    summary["options"] = options
    return rows, summary


def format_table(summary: dict) -> str:
    lines = [f"{'tag':<24}{'score':>8}{'correct':>14}"]
    for tag, score in summary["tags"].items():
        ok, n = summary["tag_counts"][tag]
        lines.append(f"{tag:<24}{score:>8.4f}{f'{ok} / {n}':>14}")
    for split, score in summary.get("splits", {}).items():
        lines.append(f"  {split:<22}{score:>8.4f}")
    lines.append(f"{'overall (mean of tags)':<24}{summary['overall']:>8.4f}")
    for split, part in summary.get("compositions", {}).items():
        lines.append(f"  {split + ' compositions':<22}{part['overall']:>8.4f}   ({part['n_images']} images; mean of its tags)")
    if "partial" in summary:
        lines.append("partial credit (not GenEval): " + ", ".join(f"{k} named and shown {v:.4f}" for k, v in summary["partial"].items()))
    lines.append(f"% correct images {summary['correct_images']:.2%}  % correct prompts {summary['correct_prompts']:.2%}")
    lines.append(f"{summary['n_images']} images, {summary['n_prompts']} distinct prompts, detector {summary['detector']}")
    return "\n".join(lines)
