"""WISE (PKU-YuanGroup/WISE): world-knowledge prompts judged by a chat model, restated from the
official scripts (WISE_legacy/gpt_eval.py and Calculate.py; vllm_eval.py and calculate_verified.py).

WISE's data has no licence, so nothing of it ships: the reader takes a copy the user brings (the
repository's `data_verified/` folder, or `WISE_legacy/data/` for the paper's setting). Images are
`{prompt_id}.png` in one folder.

- legacy (the paper, T2I-R1's table): the judge gives Consistency, Realism and Aesthetic Quality,
  each 0 to 2; WiScore = (0.7 C + 0.2 R + 0.1 A) / 2. Category = mean over its prompts; overall =
  0.4 Culture + 0.167 Time + 0.133 Space + 0.1 (Biology + Physics + Chemistry).
- verified (the repository's default since 2026): one binary "Score: 0/1" (the knowledge realised
  correctly and the image usable); overall = 0.4 Culture + 0.12 (Time + Space + Biology + Physics +
  Chemistry), with the verified id ranges.
The overall is given only when every category has images, as the official scripts do. The judge
instructions below are this project's wording of the official ones, not a copy.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

VERSIONS = ("verified", "legacy")
FILES = ("cultural_common_sense", "spatio-temporal_reasoning", "natural_science")
# prompt_id ranges (inclusive) of each category, and the overall's weights
RANGES = {
    "legacy": {"culture": (1, 400), "time": (401, 567), "space": (568, 700), "biology": (701, 800), "physics": (801, 900),
               "chemistry": (901, 1000)},
    "verified": {"culture": (1, 400), "time": (401, 520), "space": (521, 640), "biology": (641, 760), "physics": (761, 880),
                 "chemistry": (881, 1000)},
}  # fmt: skip
WEIGHTS = {
    "legacy": {"culture": 0.4, "time": 0.167, "space": 0.133, "biology": 0.1, "physics": 0.1, "chemistry": 0.1},
    "verified": {"culture": 0.4, "time": 0.12, "space": 0.12, "biology": 0.12, "physics": 0.12, "chemistry": 0.12},
}
WHERE = ("WISE's prompt files are not shipped (its repository states no licence): clone the PKU-YuanGroup/WISE "
         "repository from GitHub and pass --prompts WISE/data_verified (or --prompts WISE/WISE_legacy/data --version legacy)")  # fmt: skip


def read_prompts(folder, version: str = "verified", rewrite: bool = False) -> list[dict]:
    """The records of the three category files, ordered by prompt_id: `{"prompt_id", "prompt",
    "explanation", "category", "subcategory"}` (`rewrite`: the legacy prompts with the knowledge
    spelled out, to tell knowledge failures from drawing failures)."""
    if version not in VERSIONS:
        raise ValueError(f"--version {version!r}: choose verified or legacy")
    if folder is None or not Path(folder).is_dir():
        raise ValueError(f"--prompts {folder}: not a folder. {WHERE}")
    suffix = "_verified" if version == "verified" else "_rewrite" if rewrite else ""
    records = []
    for name in FILES:
        path = Path(folder) / f"{name}{suffix}.json"
        if not path.is_file():
            raise ValueError(f"{path}: missing. {WHERE}")
        for r in json.loads(path.read_text(encoding="utf-8")):
            records.append({"prompt_id": int(r["prompt_id"]), "prompt": r["Prompt"], "explanation": r.get("Explanation", ""),
                            "category": r.get("Category", ""), "subcategory": r.get("Subcategory", ""), "tag": "wise"})  # fmt: skip
    return sorted(records, key=lambda r: r["prompt_id"])


def image_name(index: int, meta: dict, j: int, n: int) -> str:
    if n != 1:
        raise ValueError(f"--n {n}: WISE takes one image per prompt ({{prompt_id}}.png)")
    return f"{meta['prompt_id']}.png"


# -- the judge ---------------------------------------------------------------------------------

LEGACY_INSTRUCTION = """You judge an image that a text-to-image model drew for a prompt that needs world knowledge.
Prompt: {prompt}
What the prompt refers to: {explanation}

Be very strict; a 2 should be rare and mean there is nothing to fault.
Consistency (0-2): does the image show exactly and completely what the prompt, read with its explanation, asks for?
Realism (0-2): does it look like a real photograph, with correct detail, light, physics and materials?
Aesthetic Quality (0-2): is it well composed and visually accomplished?

Answer with exactly three lines and nothing else:
Consistency: <0, 1 or 2>
Realism: <0, 1 or 2>
Aesthetic Quality: <0, 1 or 2>"""

VERIFIED_INSTRUCTION = """You judge an image that a text-to-image model drew for a prompt that needs world knowledge.
Prompt: {prompt}
What the prompt refers to: {explanation}

Give 1 only if the image shows the right thing for the knowledge described (the correct object, event or
state, with the details that make it correct) and is a realistic, usable picture; otherwise give 0.

Answer with one line and nothing else: Score: 0 or Score: 1"""


def messages(record: dict, version: str) -> list[dict]:
    text = (VERIFIED_INSTRUCTION if version == "verified" else LEGACY_INSTRUCTION).format(**record)
    return [{"role": "user", "content": text}]


def parse(answer: str, version: str) -> dict | None:
    """The scores in a judge's answer, or None when they are not all there."""
    answer = re.sub(r"<think>.*?</think>\s*", "", answer, flags=re.DOTALL).split("</think>")[-1]
    if version == "verified":
        found = re.search(r"\*{0,2}Score\*{0,2}\s*[:：]?\s*([01])\b", answer, re.IGNORECASE)
        bare = re.findall(r"(?m)^\s*([01])\s*$", answer)
        value = found.group(1) if found else bare[0] if len(bare) == 1 else None
        return None if value is None else {"score": float(value)}
    pairs = re.findall(r"\*{0,2}(Consistency|Realism|Aesthetic Quality)\*{0,2}\s*[:：]?\s*(\d)", answer, re.IGNORECASE)
    scores = {k.lower().replace(" ", "_"): float(v) for k, v in pairs}
    if not pairs:  # three bare lines, in the asked order
        bare = re.findall(r"(?m)^\s*([0-2])\s*$", answer)
        if len(bare) >= 3:
            scores = dict(zip(("consistency", "realism", "aesthetic_quality"), map(float, bare)))
    return scores if {"consistency", "realism", "aesthetic_quality"} <= set(scores) else None


def wiscore(scores: dict, version: str) -> float:
    if version == "verified":
        return scores["score"]
    return (0.7 * scores["consistency"] + 0.2 * scores["realism"] + 0.1 * scores["aesthetic_quality"]) / 2


def category_of(prompt_id: int, version: str) -> str | None:
    return next((c for c, (lo, hi) in RANGES[version].items() if lo <= prompt_id <= hi), None)


def summarize(rows: list[dict], version: str) -> dict:
    """Per-category mean WiScore and the weighted overall (None unless every category has images);
    rows whose answer could not be parsed are counted and left out, as the official scripts skip them."""
    by_cat: dict[str, list[float]] = {}
    for r in rows:
        cat = category_of(int(r["id"]), version)
        if r["scores"] is not None and cat is not None:
            by_cat.setdefault(cat, []).append(wiscore(r["scores"], version))
    categories = {c: float(np.mean(by_cat[c])) for c in RANGES[version] if c in by_cat}
    complete = len(categories) == len(RANGES[version])
    overall = sum(WEIGHTS[version][c] * v for c, v in categories.items()) if complete else None
    return {"score": overall, "categories": categories, "version": version, "n_images": len(rows),
            "n_unparsed": sum(r["scores"] is None for r in rows)}  # fmt: skip


def format_summary(summary: dict) -> str:
    """Each category's WiScore and the overall, as `reasongen eval wise` prints them."""
    overall = "n/a (not every category has images)" if summary["score"] is None else f"{summary['score']:.4f}"
    return "\n".join([*(f"{cat:<10} {value:.4f}" for cat, value in summary["categories"].items()),
                      f"overall WiScore ({summary['version']}): {overall}; {summary['n_images']} images, {summary['n_unparsed']} unparsed answers"])  # fmt: skip


def evaluate_folder(folder, prompts, chat, version: str = "verified", rewrite: bool = False, scores_path=None,
                    progress: bool = True) -> tuple[list[dict], dict]:  # fmt: skip
    """Judge `folder/{prompt_id}.png` for every WISE prompt; resumable through `scores_path`."""
    from .judging import judge_folder

    records = read_prompts(prompts, version, rewrite)
    items = [(r["prompt_id"], messages(r, version)) for r in records]
    scores_path = scores_path or Path(folder) / f"wise_{version}_scores.jsonl"
    rows, missing = judge_folder(folder, items, lambda a: parse(a, version), chat, scores_path, ("png",), progress)
    summary = summarize(rows, version)
    summary["n_missing_images"] = len(missing)
    return rows, summary
