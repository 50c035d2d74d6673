"""The loop of the judged benchmarks (WISE, Imagine-Bench): one image per prompt, named by its id in
one folder; a chat model reads the image with the benchmark's instructions and answers with scores.

A chat function is `(messages, image) -> text` (`backbones.local`: `openai_chat` for an
OpenAI-compatible server, `transformers_chat` for a local vision-language model). Each judged image
is appended to a scores file at once, so a run that stops resumes where it was: ids already in the
file are not asked again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .layout import LayoutError, load_rgb

IMAGE_SUFFIXES = ("png", "jpg", "jpeg", "webp")  # Imagine-Bench's; WISE reads .png only
MAX_TRIES = 3  # the official scripts ask again when the answer cannot be parsed


def find_image(folder: Path, key, suffixes=IMAGE_SUFFIXES) -> Path | None:
    return next((p for s in suffixes if (p := folder / f"{key}.{s}").is_file()), None)


def judge_folder(folder, items: list[tuple[object, list[dict]]], parse: Callable[[str], dict | None], chat,
                 scores_path, suffixes=IMAGE_SUFFIXES, progress: bool = True) -> tuple[list[dict], list]:  # fmt: skip
    """Judge every `(key, messages)` whose image `folder/{key}.{suffix}` exists; `parse(answer)` gives
    the row's scores or None (asked again, up to MAX_TRIES, then recorded as a failure with the
    scores None). Returns all rows (old and new, in `items` order) and the keys with no image."""
    from tqdm import tqdm

    folder, scores_path = Path(folder), Path(scores_path)
    if not folder.is_dir():
        raise LayoutError(f"{folder}: not a folder; pass the output folder of `reasongen sample` for this benchmark")
    done = {}
    if scores_path.is_file():
        for line in scores_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                done[row["id"]] = row
    missing, todo = [], []
    for key, messages in items:
        path = find_image(folder, key, suffixes)
        if path is None:
            missing.append(key)
        elif key not in done:
            todo.append((key, messages, path))
    scores_path.parent.mkdir(parents=True, exist_ok=True)
    with open(scores_path, "a", encoding="utf-8") as out:
        for key, messages, path in tqdm(todo, desc="judging", unit="img", disable=not progress):
            image, answer, scores = load_rgb(path), "", None
            for _ in range(MAX_TRIES):
                answer = chat(messages, image)
                scores = parse(answer)
                if scores is not None:
                    break
            done[key] = {"id": key, "scores": scores, "answer": answer}
            out.write(json.dumps(done[key]) + "\n")
            out.flush()
    return [done[key] for key, _ in items if key in done], missing
