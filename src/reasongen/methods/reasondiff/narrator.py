"""ReasonDiff's narrator (the paper's VisionNarrator): a text and an image -> where in the clip the
image belongs (the anchor frame) and one narrative per frame.

The structured format every backend is asked for, and that `parse_narration` reads back:

    {"anchor": 4, "narratives": ["a red circle at the left", "...", ...]}

with exactly one narrative per frame. A model can write anything, so the parser never raises: it
repairs what it can (JSON inside other text, an anchor given as a string, too few narratives padded
with the last, too many cut, an anchor out of range clamped) and says so in `problems`; what it
cannot read falls back to the anchor 0 and the text repeated for every frame, again with the reason.

Backends: `oracle_narration` (ShapesWorld ground truth: the clip's own per-frame captions and the
true anchor), the world's reasoner (`world_narrator.py`), and `ChatNarrator` over any chat function:
`openai_chat` (an OpenAI-compatible server, e.g. vLLM; nothing is sent unless the user gives its
address) or `transformers_chat` (a local image-text-to-text checkpoint such as Qwen2.5-VL), holding
the format with in-context examples (`world_examples`). A small trained anchor reader is in
`trained_narrator.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ...backbones.local import openai_chat, transformers_chat  # noqa: F401  (the narrator's chat backends)


@dataclass
class Narration:
    anchor: int
    narratives: list[str]
    problems: list[str] = field(default_factory=list)
    scenes: list | None = None  # the planned scene of every frame, when the narrator knows it exactly (the world's narrator)


_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse_narration(text: str, num_frames: int, fallback_text: str = "") -> Narration:
    """Read a narrator's answer for a clip of `num_frames` frames; repairs and fallbacks are listed."""
    problems: list[str] = []
    data = None
    try:
        data = json.loads(text)
    except (ValueError, TypeError):
        found = _OBJECT.search(text or "")
        if found:
            try:
                data = json.loads(found.group(0))
                problems.append("the answer held other text around its JSON; the JSON was read")
            except ValueError:
                data = None
    if not isinstance(data, dict):
        problems.append(f"no JSON object in the answer ({(text or '')[:60]!r}); anchor 0 and the text for every frame")
        return Narration(0, [fallback_text] * num_frames, problems)

    raw = data.get("anchor", 0)
    if isinstance(raw, int) and not isinstance(raw, bool):
        anchor = raw
    else:
        try:
            anchor = int(str(raw).strip())
            problems.append(f"anchor {raw!r} read as {anchor}")
        except ValueError:
            problems.append(f"anchor {raw!r} is not a frame index; anchor 0 used")
            anchor = 0
    if not 0 <= anchor < num_frames:
        clamped = min(max(anchor, 0), num_frames - 1)
        problems.append(f"anchor {anchor} lies outside frames 0..{num_frames - 1}; clamped to {clamped}")
        anchor = clamped

    narratives = data.get("narratives")
    if not isinstance(narratives, list) or not narratives:
        problems.append("no list of narratives; the text is used for every frame")
        narratives = [fallback_text]
    narratives = [str(n).strip() for n in narratives]
    if len(narratives) < num_frames:
        problems.append(f"{len(narratives)} narratives for {num_frames} frames; the last repeated")
        narratives = narratives + [narratives[-1]] * (num_frames - len(narratives))
    elif len(narratives) > num_frames:
        problems.append(f"{len(narratives)} narratives for {num_frames} frames; the extra ones dropped")
        narratives = narratives[:num_frames]
    return Narration(anchor, narratives, problems)


def one_prompt(narration: Narration, text: str) -> Narration:
    """The narration with `text` in every frame and its anchor kept: what a model trained with one
    prompt for the whole clip (the paper's ablation without multi-frame prompts) reads."""
    return Narration(narration.anchor, [text] * len(narration.narratives), list(narration.problems), narration.scenes)


def oracle_narration(clip, anchor: int) -> Narration:
    """The exact narration of a ShapesWorld clip (`world/video.py`) whose frame `anchor` is the image."""
    if not 0 <= anchor < len(clip):
        raise ValueError(f"anchor {anchor} lies outside the clip's frames 0..{len(clip) - 1}")
    return Narration(anchor, list(clip.frame_captions))


def format_narration(anchor: int, narratives: list[str]) -> str:
    return json.dumps({"anchor": anchor, "narratives": list(narratives)})


INSTRUCTION = (
    "You see an image and read a text about a short video of {frames} frames. The image shows one moment "
    "of that video. Decide which frame (0 to {last}) the image is, and describe what each frame shows, one "
    'short sentence per frame. Answer with JSON only: {{"anchor": <frame index>, "narratives": [<{frames} sentences>]}}.'
)


class ChatNarrator:
    """Any chat model as a narrator. `chat(messages, image) -> str` answers OpenAI-style messages;
    `examples` are (text, frames, answer) triples shown first to hold the format."""

    def __init__(self, chat: Callable, examples: list[tuple[str, int, str]] = ()):
        self.chat, self.examples = chat, list(examples)

    def messages(self, text: str, num_frames: int) -> list[dict]:
        msgs = []
        for ex_text, ex_frames, answer in self.examples:
            msgs.append({"role": "user", "content": INSTRUCTION.format(frames=ex_frames, last=ex_frames - 1) + f"\nText: {ex_text}"})
            msgs.append({"role": "assistant", "content": answer})
        msgs.append({"role": "user", "content": INSTRUCTION.format(frames=num_frames, last=num_frames - 1) + f"\nText: {text}"})
        return msgs

    def __call__(self, text: str, image, num_frames: int) -> Narration:
        return parse_narration(self.chat(self.messages(text, num_frames), image), num_frames, text)


def world_examples(count: int = 2, num_frames: int = 17, seed: int = 7) -> list[tuple[str, int, str]]:
    """In-context examples for `ChatNarrator`: unpaired ShapesWorld cases answered exactly (their true
    anchor and per-frame captions). The seed is not the benchmarks' (`world/benchmarks.py`), so no
    benchmark case is shown to the model it tests."""
    import numpy as np

    from ...world.video import make_case

    rng = np.random.default_rng(seed)
    cases = [make_case(rng, num_frames) for _ in range(count)]
    return [(c.text, num_frames, format_narration(c.anchor, c.clip.frame_captions)) for c in cases]
