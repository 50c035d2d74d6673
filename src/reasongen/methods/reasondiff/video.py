"""One clip from a text and an image (`reasongen video`): the narrator a user names, the clip, and
the files it is written to (GIF, PNG strip, and a JSON of what the narrator said and what was repaired)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .narrator import (
    ChatNarrator,
    Narration,
    one_prompt,
    openai_chat,
    parse_narration,
    transformers_chat,
    world_examples,
)
from .world_narrator import ShapesNarrator


def choose_narrator(narration: str | Path | None = None, url: str | None = None, model: str | None = None, mllm: str | Path | None = None,
                    trained: str | Path | None = None, device: str = "cpu") -> Callable[[str, object, int], Narration]:  # fmt: skip
    """`narrate(text, image, num_frames)` from the one narrator named: an answer already written (a
    JSON file, `parse_narration`), an OpenAI-compatible server (`url` and its `model` name), a local
    transformers image-text-to-text checkpoint (`mllm`), a trained narrator's folder (`trained`), or
    by default the world's reasoner. Two at once, or a server without its model name, are refused
    (ValueError) here; what a narrator needs is loaded only when it narrates."""
    if sum(x is not None for x in (narration, url, mllm, trained)) > 1:
        raise ValueError("name one narrator: --narration FILE (an answer already written), --narrator-url URL --narrator-model NAME, "
                         "--narrator-mllm FOLDER or --trained-narrator FOLDER")  # fmt: skip
    if url is not None and not model:
        raise ValueError("--narrator-url needs --narrator-model (the model name the server serves)")

    def narrate(text: str, image, num_frames: int) -> Narration:
        if narration is not None:
            return parse_narration(Path(narration).read_text(), num_frames, fallback_text=text)
        if url is not None or mllm is not None:
            chat = openai_chat(url, model) if url else transformers_chat(mllm, device)
            return ChatNarrator(chat, world_examples(num_frames=num_frames))(text, image, num_frames)
        if trained is not None:
            from .trained_narrator import load_trained_narrator

            return load_trained_narrator(trained, device)(text, image, num_frames)
        return ShapesNarrator()(text, image, num_frames)

    return narrate


def make_video(pipe, text: str, condition, narrate: Callable, steps: int | None = None, guidance: float | None = None, seed: int = 0,
               say: Callable[[str], None] = print):  # fmt: skip
    """The clip of `text` around the `condition` image (PIL) by a ReasonDiffPipeline: the image
    brought to the model's size, the narrator's answer (its anchor and the text in every frame for a
    model trained with one prompt, said through `say`), then sampling from `seed`. Returns the
    pipeline's output and every repair made (image and narration)."""
    import torch

    cond, problems = pipe.check_image(condition)
    told = narrate(text, cond, pipe.config["num_frames"])
    if not pipe.config["multi_frame"]:
        told = one_prompt(told, text)
        say("the model was trained with one prompt in every frame: the narrator's anchor, the text in every frame")
    out = pipe(cond, told, steps, guidance, generator=torch.Generator().manual_seed(seed))
    return out, problems + out.problems


def write_video(out, output: Path, text: str, image: Path, problems: list[str]) -> dict:
    """Write the clip as `output` (GIF) with OUT.png (a strip) and OUT.json (anchor, narratives,
    repairs, and the GIF frame that shows the anchor); returns the JSON's record."""
    from ...images import save_chain
    from ...locks import write_atomic

    output.parent.mkdir(parents=True, exist_ok=True)
    stem = output.with_suffix("")
    save_chain(list(out.frames), f"{stem}.png", output)
    gif = gif_frames(output)
    if len(gif) != len(out.frames):
        raise RuntimeError(f"{output}: its frame durations account for {len(gif)} frames, the clip has {len(out.frames)}")
    record = {"text": text, "image": str(image), "anchor": out.anchor, "clip_frames": len(out.frames), "gif_frames": max(gif) + 1,
              "gif_anchor": gif[out.anchor], "narratives": out.narratives, "problems": problems}  # fmt: skip
    write_atomic(Path(f"{stem}.json"), json.dumps(record, indent=1) + "\n")
    return record


def gif_frames(path) -> list[int]:
    """The GIF frame each clip frame shows. A GIF writer merges identical consecutive frames into one
    and adds their durations, so the written file's durations (GIF_FRAME_MS a clip frame) say which."""
    from PIL import Image

    from ...images import GIF_FRAME_MS

    index = []
    with Image.open(path) as gif:
        for k in range(gif.n_frames):
            gif.seek(k)
            index += [k] * max(1, round(gif.info.get("duration", GIF_FRAME_MS) / GIF_FRAME_MS))
    return index
