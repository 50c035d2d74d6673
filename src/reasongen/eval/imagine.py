"""Imagine-Bench (introduced with Echo-4o, yejy53/Echo-4o; CoF-T2I reports 7.468 on it): fantasy
prompts judged by a chat model, restated from the official test_scripts/Eval-gpt-4.1-Imagine.py.

Prompts: the shipped `Imagine.jsonl` (270 records `{"id", "instruction", "note", "type"}`; Apache-2.0);
images `{id}.png` (or .jpg, .jpeg, .webp) in one folder. The judge reads the instruction and the note
(the fantasy element wanted and the identity to keep) and gives three integers 0 to 10: Fantasy
Fulfillment (FF), Identity Preservation (IP) and Aesthetic Quality (AQ).

Per image S = 0.8 min(FF, IP) + 0.2 AQ, rounded to 3 decimals; a score the answer lacks counts -1
and an answer never parsed scores 0, as in the official script. Types merge into groups (colour,
shape, size: Attribute shift; material, combination: Hybridization; time, environment:
Spatiotemporal); the overall is the weighted mean of group means with weights 3, 2, 2 and 2 for a
"TWO_OBJECT" group that the shipped data never names, so its 60 Multi-Object prompts are reported but
left out of the overall (the official script's behaviour with its own data). The instruction below
is this project's wording of the official one.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import numpy as np

GROUPS = {"COLOR": "Attribute shift", "SHAPE": "Attribute shift", "SIZE": "Attribute shift", "MATERIAL": "Hybridization",
          "COMBINATION": "Hybridization", "TIME": "Spatiotemporal", "ENVIRONMENT": "Spatiotemporal"}  # fmt: skip
WEIGHTS = {"Attribute shift": 3, "Hybridization": 2, "Spatiotemporal": 2, "TWO_OBJECT": 2}
KEYS = ("Fantasy Fulfillment", "Identity Preservation", "Aesthetic Quality")


def shipped_path() -> Path:
    return Path(str(resources.files("reasongen") / "data" / "benchmarks" / "imagine_bench" / "Imagine.jsonl"))


def read_prompts(path=None) -> list[dict]:
    """Imagine-Bench's records, each with the prompt under `prompt` (the generators read that)."""
    path = Path(path) if path else shipped_path()
    if not path.is_file():
        raise ValueError(f"--prompts {path}: not found; pass Imagine.jsonl (Echo-4o's test_scripts), or leave it out for the shipped copy")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{**r, "prompt": r["instruction"], "tag": "imagine"} for r in records]


def image_name(index: int, meta: dict, j: int, n: int) -> str:
    if n != 1:
        raise ValueError(f"--n {n}: Imagine-Bench takes one image per prompt ({{id}}.png)")
    return f"{meta['id']}.png"


INSTRUCTION = """You judge an image that a text-to-image model drew for an imaginative prompt: a real object, animal or
person with something impossible about it.
Prompt: {instruction}
What the image must show: {note}

Give three integer scores from 0 to 10.
Fantasy Fulfillment: is the impossible element there, clear and convincing? Weak or confusing changes score low.
Identity Preservation: is the base object still recognisable in realistic detail? A stylised or cartoon-like
rendering scores lower even when the outline is right.
Aesthetic Quality: is the image well made, coherent and pleasing?

Answer with exactly these three lines:
Fantasy Fulfillment: <score>
Identity Preservation: <score>
Aesthetic Quality: <score>"""


def messages(record: dict) -> list[dict]:
    return [{"role": "user", "content": INSTRUCTION.format(**record)}]


def parse(answer: str) -> dict:
    """The three scores, each clipped to [0, 10]; a score not found is -1 (the official default)."""
    scores = dict.fromkeys(KEYS, -1.0)
    for key, value in re.findall(r"(Fantasy Fulfillment|Identity Preservation|Aesthetic Quality)\s*[:：]?\s*(\d{1,2})", answer):
        scores[key] = float(min(max(int(value), 0), 10))
    return scores


def image_score(scores: dict | None) -> float:
    """0.8 min(FF, IP) + 0.2 AQ, rounded to 3 decimals; 0 when the judge never answered."""
    if scores is None:
        return 0.0
    return round(0.8 * min(scores["Fantasy Fulfillment"], scores["Identity Preservation"]) + 0.2 * scores["Aesthetic Quality"], 3)


def summarize(rows: list[dict], records: list[dict]) -> dict:
    """Group means and the weighted overall over the groups that have images."""
    group_of = {r["id"]: GROUPS.get(r["type"], r["type"]) for r in records}
    by_group: dict[str, list[float]] = {}
    for row in rows:
        by_group.setdefault(group_of[row["id"]], []).append(image_score(row["scores"]))
    groups = {g: float(np.mean(v)) for g, v in by_group.items()}
    weighted = [(WEIGHTS[g], m) for g, m in groups.items() if g in WEIGHTS]
    overall = sum(w * m for w, m in weighted) / sum(w for w, _ in weighted) if weighted else None
    return {"score": overall, "groups": groups, "n_images": len(rows), "n_unparsed": sum(r["scores"] is None for r in rows)}


def format_summary(summary: dict) -> str:
    """Each group's mean and the overall, as `reasongen eval imagine` prints them."""
    overall = "n/a" if summary["score"] is None else f"{summary['score']:.3f}"
    return "\n".join([*(f"{group:<16} {value:.3f}" for group, value in summary["groups"].items()), f"overall: {overall}; {summary['n_images']} images"])


def evaluate_folder(folder, chat, prompts=None, scores_path=None, progress: bool = True) -> tuple[list[dict], dict]:
    """Judge `folder/{id}.png` for every Imagine-Bench prompt; resumable through `scores_path`."""
    from .judging import judge_folder

    records = read_prompts(prompts)
    items = [(r["id"], messages(r)) for r in records]
    scores_path = scores_path or Path(folder) / "imagine_scores.jsonl"
    # Any answer parses (missing scores are -1), so the judge is asked once per image, as there.
    rows, missing = judge_folder(folder, items, parse, chat, scores_path, progress=progress)
    summary = summarize(rows, records)
    summary["n_missing_images"] = len(missing)
    return rows, summary
