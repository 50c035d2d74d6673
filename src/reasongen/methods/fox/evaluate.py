"""Held-out measures of a trained FoX model that need no image benchmark.

- **Reflection**: on held-out records (scenes the training data never drew), the heatmap of each
  flawed render thresholded as the pipeline does, against the exact flaw mask: IoU per flawed image
  (the issue's bar: above 0.5), by kind of flaw; how often a flawed image is caught (its mask reaches
  the pipeline's `min_mask_pixels`), and how often a clean render is passed (the chain stops).
- **Plans**: the model's own (greedy) plan for each prompt of a metadata file, judged by GenEval's
  rules as if the layout's boxes were detections (phrase -> colour and class, box -> place). This
  separates what the planner gets wrong from what acting then loses.
- **Task losses**: each training task's loss on the same records with fixed noise, so models of the
  expert ablation compare on what they were trained to do, with planning and acting measured on the
  full plan (no dropped plan or prompt).
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
import torch

from ...eval.geneval import Detection, evaluate, summarize
from ...world.vocab import CLASSES, COLOR_NAMES
from .data import TEXT_FIELDS, blank, record
from .plan import ORDINALS, parse_layout
from .train import TASKS, MCoTTask

HELDOUT_SEED = 1_000_003  # the training records use seed 0 (`reasongen fox data --seed`)


def heldout_records(n: int, size: int = 64, seed: int = HELDOUT_SEED) -> list[dict]:
    return [record(seed, i, size) for i in range(n)]


def mask_iou(pred: np.ndarray, true: np.ndarray) -> float:
    union = (pred | true).sum()
    return float((pred & true).sum() / union) if union else 1.0


@torch.no_grad()
def reflection_report(pipe, records: list[dict], batch_size: int = 64) -> dict:
    threshold, min_pixels = pipe.config["heatmap_threshold"], pipe.config["min_mask_pixels"]
    ious, caught, passed = defaultdict(list), [], []
    for i in range(0, len(records), batch_size):
        chunk = records[i : i + batch_size]
        heat = pipe.reflect([r["prompt"] for r in chunk], [r["flawed"] for r in chunk])
        for r, h in zip(chunk, heat):
            pred = h > threshold
            found = int(pred.sum()) >= min_pixels
            if r["flaw"] == "none":
                passed.append(not found)
            else:
                caught.append(found)
                ious[r["flaw"]].append(mask_iou(pred, r["mask"]))
    every = [v for vs in ious.values() for v in vs]
    return {
        "flawed_images": len(every),
        "clean_images": len(passed),
        "mean_iou": float(np.mean(every)) if every else None,
        "mean_iou_standard_error": float(np.std(every, ddof=1) / np.sqrt(len(every))) if len(every) > 1 else None,
        "share_iou_above_0.5": float(np.mean([v > 0.5 for v in every])) if every else None,
        "iou_by_flaw": {k: round(float(np.mean(v)), 4) for k, v in sorted(ious.items())},
        "flawed_caught": float(np.mean(caught)) if caught else None,
        "clean_passed": float(np.mean(passed)) if passed else None,
        "threshold": threshold,
        "min_mask_pixels": min_pixels,
    }


def _batch(pipe, chunk: list[dict]) -> dict:
    blanked = [blank(r["flawed"], r["mask"]) for r in chunk]
    out = {name: pipe._encode(images).float() for name, images in
           (("target", [r["target"] for r in chunk]), ("flawed", [r["flawed"] for r in chunk]), ("blanked", blanked))}  # fmt: skip
    out["mask"] = torch.from_numpy(np.stack([r["mask"] for r in chunk]).astype(np.float32)).to(pipe.device)
    out.update({k: [r[k] for r in chunk] for k in TEXT_FIELDS})
    return out


@torch.no_grad()
def task_losses(pipe, records: list[dict], batch_size: int = 64, seed: int = 0) -> dict:
    """Mean of each task's logged losses over the records, noise drawn from `seed`."""
    task = MCoTTask(pipe.tokenizer, shift=pipe.config["flow_shift"], drop_prob=0.0, direct_prob=0.0,
                    pixels_per_latent=pipe.vae.spatial)  # fmt: skip
    sums, counts = defaultdict(float), defaultdict(int)
    for kind in TASKS:
        task.kind = kind
        generator = torch.Generator().manual_seed(seed)
        for i in range(0, len(records), batch_size):
            chunk = records[i : i + batch_size]
            _, logged = task.loss(pipe.model, _batch(pipe, chunk), generator)
            for k, v in logged.items():
                sums[k] += v * len(chunk)
                counts[k] += len(chunk)
    return {k: round(sums[k] / counts[k], 5) for k in sums}


_PHRASE = re.compile(rf"^an? (?:(?:{'|'.join(o for o in ORDINALS if o)}) )?({'|'.join(COLOR_NAMES)}) ({'|'.join(CLASSES)})$")


def plan_detections(layout: dict, size: int) -> tuple[dict[str, list[Detection]], dict[int, str], list[str]]:
    """The parsed layout as GenEval detections (score 1), their colours by `id`, and the phrases that
    name no colour and class of the world (left out)."""
    detected, colors, unread = defaultdict(list), {}, []
    for phrase, box in layout.items():
        m = _PHRASE.match(phrase)
        if m is None:
            unread.append(phrase)
            continue
        d = Detection(m.group(2), tuple(v * size for v in box), 1.0)
        detected[d.cls].append(d)
        colors[id(d)] = m.group(1)
    return dict(detected), colors, unread


@torch.no_grad()
def plan_report(pipe, metadata: list[dict]) -> dict:
    """GenEval's summary of the plans alone, and how many layouts needed repair or lost a phrase."""
    rows, repaired, unread = [], 0, 0
    for meta, (_, text) in zip(metadata, pipe.plan_many([meta["prompt"] for meta in metadata])):
        parsed = parse_layout(text)
        detected, colors, lost = plan_detections(parsed.boxes, pipe.config["height"])
        correct, _ = evaluate(detected, meta, lambda found, cls: [colors[id(d)] for d in found])
        rows.append({"tag": meta["tag"], "correct": correct, "metadata": meta})
        repaired += bool(parsed.problems)
        unread += bool(lost)
    return {**summarize(rows), "plans": len(rows), "layouts_with_problems": repaired, "layouts_with_unread_phrases": unread}


def heldout_figures(pipe, n: int, prompts: list[dict], plan_metadata: str, model: str) -> dict:
    """`reasongen eval fox`: reflection against the true flaw masks and each task's loss on `n`
    held-out records, and the greedy plans of `prompts` (read from `plan_metadata`) judged alone."""
    records = heldout_records(n, pipe.config["height"])
    return {"model": model, "records": n, "reflection": reflection_report(pipe, records), "task_losses": task_losses(pipe, records),
            "plans": {"metadata": plan_metadata, **plan_report(pipe, prompts)}}  # fmt: skip
