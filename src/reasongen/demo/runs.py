"""What the demo runs: one request to any method of the registry, and what a person looks at after it
(the result, the reasoning as pictures and text, the ShapesWorld evaluator's verdict).

No Gradio here: `app.py` only lays a `Result` out, so the runs are tested without a browser. The
models are the registry's (`get_spec`, `get_generator`), the shipped ones unless the user names a
folder per method; each is loaded once and runs one request at a time (a lock per model).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..methods import SHIPPED_MODELS
from ..methods.registry import SPECS, get_spec

# Input limits: a request outside them is refused with one line naming the value and the range.
MAX_PROMPT_CHARS = 200  # the text encoders read 64 tokens; ShapesWorld prompts are far shorter
MAX_STEPS = 100
MAX_GUIDANCE = 20.0
MAX_SEED = 2**31 - 1
MAX_IMAGE_SIDE = 2048  # the condition image is resized to the model's 64 px; larger is surely a mistake
MAX_IMAGE_BYTES = 5 * 2**20
IMAGE_TYPES = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
DEMO_STEPS = 20  # the demo's default steps where the model's own are more (a 2-core CPU answers in seconds)
METHODS = tuple(s.id for s in SPECS)

Say = Callable[[float, str], None]  # progress: (fraction done, what is happening)


@dataclass
class Verdict:
    """What the ShapesWorld detector finds, and GenEval's rule on it when the prompt has a world form."""

    objects: list[tuple[str, str, float]]  # (colour, class, confidence) of each instance found
    correct: bool | None  # None: the prompt names nothing the rules can check
    reason: str  # why it failed, or why there is no rule

    def markdown(self) -> str:
        head = {True: "**pass**", False: "**fail**", None: "**no rule**"}[self.correct]
        found = ", ".join(f"{color} {cls} ({score:.2f})" for color, cls, score in self.objects) or "nothing"
        lines = [f"Evaluator: {head}", f"Objects found: {found}"]
        if self.reason:
            lines.append(self.reason.replace("\n", "; "))
        return "\n\n".join(lines)


@dataclass
class Result:
    method: str
    image: np.ndarray | None = None  # the result (uint8 H x W x 3); for a clip, its anchor frame
    frames: list[np.ndarray] = field(default_factory=list)  # cof: the chain; reasondiff: the clip
    plan: str | None = None  # t2i-r1: the semantic plan; fox: the caption
    layout: np.ndarray | None = None  # fox: the layout's boxes over the first image (enlarged)
    layout_text: str | None = None
    heatmap: np.ndarray | None = None  # fox: the first reflection's heatmap over the first image (enlarged)
    first: np.ndarray | None = None  # fox: the image before correction
    corrections: int = 0
    anchor: int | None = None  # reasondiff: where the condition image sits in the clip
    narratives: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # repairs and how the chain ended
    verdict: Verdict | None = None


def check_request(method: str, prompt: str, seed, steps, guidance) -> tuple[str, int, int | None, float | None]:
    """The request's values, checked: (prompt, seed, steps, guidance); a ValueError names what is wrong."""
    get_spec(method)
    prompt = (prompt or "").strip()
    if not prompt:
        raise ValueError('the prompt is empty; say what to draw, e.g. "a photo of a red circle"')
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValueError(f"the prompt has {len(prompt)} characters; keep it to {MAX_PROMPT_CHARS} (ShapesWorld prompts are short)")
    if seed is None or float(seed) != int(seed) or not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"seed {seed}: use a whole number from 0 to {MAX_SEED}")
    if steps is not None and (float(steps) != int(steps) or not 1 <= int(steps) <= MAX_STEPS):
        raise ValueError(f"steps {steps}: use a whole number from 1 to {MAX_STEPS}")
    if guidance is not None and not 0 <= float(guidance) <= MAX_GUIDANCE:
        raise ValueError(f"guidance {guidance}: use a value from 0 to {MAX_GUIDANCE:g}")
    return prompt, int(seed), None if steps is None else int(steps), None if guidance is None else float(guidance)


def read_condition_image(path: str | Path | None) -> object:
    """The uploaded condition image as a PIL image; a missing, unreadable, too large or foreign file is
    refused in one line."""
    from PIL import Image, UnidentifiedImageError

    if path is None:
        raise ValueError("reasondiff needs an image: upload one (a moment of the clip), or keep the example")
    path = Path(path)
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise ValueError(f"the image is {path.stat().st_size / 2**20:.1f} MB; upload one of at most {MAX_IMAGE_BYTES // 2**20} MB")
    try:
        image = Image.open(path)
        kind, (w, h) = image.format, image.size
    except (UnidentifiedImageError, OSError):
        raise ValueError(f"{path.name} is not an image this demo reads; upload a {', '.join(IMAGE_TYPES)} file") from None
    if kind not in IMAGE_TYPES:
        raise ValueError(f"{path.name} is a {kind} image; upload a {', '.join(IMAGE_TYPES)} file")
    if max(w, h) > MAX_IMAGE_SIDE:
        raise ValueError(f"the image is {w}x{h} px; upload one of at most {MAX_IMAGE_SIDE} px a side (the model draws 64 px)")
    image.load()
    return image


def judge_image(image: np.ndarray, prompt: str) -> Verdict:
    """The ShapesWorld detector on `image`, and GenEval's rules when the prompt has a world form."""
    from ..eval.run import score_image
    from ..eval.shapes_detector import ShapesDetector, instances
    from ..world.prompts import metadata_for_prompt

    detector = ShapesDetector()
    found = sorted(instances(image, detector), key=lambda d: (d.box[1], d.box[0]))
    objects = [(detector.classify_colors(image, [d], d.cls)[0], d.cls, d.score) for d in found]
    metadata = metadata_for_prompt(prompt)
    if metadata is None:
        return Verdict(objects, None, "the prompt has none of the world's forms (e.g. \"a photo of two circles\"), "
                                      "so no GenEval rule applies; the objects found are all it can say")  # fmt: skip
    row = score_image(detector, image, metadata)
    return Verdict(objects, row["correct"], row["reason"])


def judge_clip(frames: np.ndarray, image: np.ndarray, anchor: int, planned: list | None = None) -> Verdict:
    """A clip passes when it shows at least half of the change the narrator planned from the image
    (eval/video.py's event consistency against the narrator's scenes). The anchor frame holds the
    image by construction, so matching it alone proves nothing; it is reported beside the verdict."""
    from ..eval.shapes_detector import ShapesDetector, instances
    from ..eval.video import dynamic_degree, event_consistency, image_consistency

    detector = ShapesDetector()
    frame = frames[anchor]
    objects = [(detector.classify_colors(frame, [d], d.cls)[0], d.cls, d.score) for d in instances(frame, detector)]
    kept = image_consistency(frames, image, anchor, detector)["at_anchor"]
    event = event_consistency(frames, planned, anchor, detector) if planned else None
    said = f"image kept at the anchor frame {kept:.2f}; the clip {'moves' if dynamic_degree(frames) else 'stands still'}"
    if event is None:
        why = "the narrator planned no change to check" if planned else "the narrator gave no exact plan to check against"
        return Verdict(objects, None, f"{why}; {said}")
    return Verdict(objects, event >= 0.5, f"event consistency {event:.2f} (the share of the planned change the frames show; pass at 0.5); {said}")


class Models:
    """The demo's models: the shipped ones, or the user's folder per method (`paths`), each loaded on
    first use and run by one request at a time."""

    def __init__(self, paths: dict[str, str] | None = None, device: str = "cpu"):
        paths = dict(paths or {})
        for method in paths:
            get_spec(method)  # an unknown id is refused with the ids to use
        if "oracle" in paths:
            raise ValueError("--model oracle=...: the oracle has no model (it renders the ground truth)")
        self.paths, self.device = paths, device
        self._loaded: dict[str, object] = {}
        self._locks = {m: threading.Lock() for m in METHODS}

    def missing(self, method: str) -> str | None:
        """Why `method` cannot run (no shipped model and none given), or None."""
        spec = get_spec(method)
        if method == "oracle" or method in self.paths:
            return None
        if spec.shipped and (SHIPPED_MODELS / spec.shipped / "model_index.json").is_file():
            return None
        if method == "janus":
            return ("janus: no shipped model yet (its base, shapes-janus, is still to be pretrained). Start the demo with "
                    "--model janus=DIR, any folder written by `reasongen train t2i-r1` (e.g. the shipped "
                    "src/reasongen/models/t2i-r1-shapes, drawn without its plan).")  # fmt: skip
        return (f"{method}: no shipped model yet ({spec.shipped}). Start the demo with --model {method}=DIR, a folder "
                f"written by `{spec.train_command}`; {spec.doc} says where the method stands.")  # fmt: skip

    def describe(self, method: str) -> str:
        """One line for the page: what the method is and which model it runs."""
        spec = get_spec(method)
        if method == "oracle":
            where = "the ground truth (no model)"
        else:
            where = self.paths.get(method) or ("none" if self.missing(method) else f"the shipped {spec.shipped}")
        return f"**{method}**: {spec.title}. Model: {where}. Doc: {spec.doc}."

    def defaults(self, method: str) -> tuple[int | None, float | None]:
        """The demo's steps (None: the method takes none) and the model's guidance, from its
        model_index.json without loading it."""
        import json

        spec = get_spec(method)
        folder = Path(self.paths[method]) if method in self.paths else SHIPPED_MODELS / (spec.shipped or "")
        index = {}
        if method != "oracle" and (folder / "model_index.json").is_file():
            try:
                index = json.loads((folder / "model_index.json").read_text())
            except ValueError:
                index = {}
        takes_steps = "steps" in spec.options or spec.kind == "video"
        steps = min(int(index.get("num_inference_steps", DEMO_STEPS)), DEMO_STEPS) if takes_steps else None
        guidance = None if method == "oracle" else float(index.get("guidance_scale", 5.0))
        return steps, guidance

    def load(self, method: str):
        if method not in self._loaded:
            spec = get_spec(method)
            if spec.kind == "video":
                from ..methods import model_path
                from ..methods.reasondiff.pipeline import ReasonDiffPipeline

                path = model_path(self.paths.get(method), spec.shipped, spec.train_command)
                self._loaded[method] = ReasonDiffPipeline.from_pretrained(path, device=self.device)
            else:
                from ..methods import get_generator

                options = {} if method == "oracle" else {"model": self.paths.get(method), "device": self.device}
                self._loaded[method] = get_generator(method, **options)
        return self._loaded[method]

    def run(self, method: str, prompt: str, seed=0, steps=None, guidance=None, image=None, say: Say | None = None) -> Result:
        """One request. Bad input raises ValueError with one line to show; so does a model that cannot
        be loaded. `image` (reasondiff): a path to the condition image."""
        say = say or (lambda fraction, text: None)
        prompt, seed, steps, guidance = check_request(method, prompt, seed, steps, guidance)
        problem = self.missing(method)
        if problem:
            raise ValueError(problem)
        condition = read_condition_image(image) if get_spec(method).kind == "video" else None
        with self._locks[method]:
            say(0.0, f"loading {method}")
            try:
                model = self.load(method)
            except (OSError, RuntimeError, KeyError) as e:  # unreadable weights or config
                first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
                raise ValueError(f"{method}: cannot read the model's files ({first}); pass another --model {method}=DIR") from None
            say(0.05, f"running {method}")
            run = {"oracle": _oracle, "cof": _cof, "wan": _cof, "t2i-r1": _t2i_r1, "janus": _t2i_r1, "fox": _fox,
                   "reasondiff": _reasondiff}[method]  # fmt: skip
            result = run(model, method, prompt, seed, steps, guidance, condition)
        say(0.95, "evaluating")
        if result.verdict is None:
            result.verdict = judge_image(result.image, prompt)
        return result


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement: 64 px ShapesWorld images are unreadable at their own size."""
    return np.repeat(np.repeat(np.asarray(image), scale, axis=0), scale, axis=1)


def _generator(seed: int):
    import torch

    return torch.Generator().manual_seed(seed)


def _oracle(generator, method, prompt, seed, steps, guidance, condition) -> Result:
    from ..world.prompts import metadata_for_prompt

    metadata = metadata_for_prompt(prompt)
    if metadata is None:
        raise ValueError("the oracle draws only prompts of the world's forms, e.g. \"a photo of a star left of a circle\" "
                         "or a shapes-reason prompt")  # fmt: skip
    return Result(method, image=generator(metadata, [seed])[0], notes=[f"ground truth of a {metadata['tag']} prompt"])


def _cof(generator, method, prompt, seed, steps, guidance, condition) -> Result:
    out = generator.pipe(prompt, generator=_generator(seed), num_inference_steps=steps, guidance_scale=guidance,
                         return_chain=method == "cof", progress=True)  # fmt: skip
    return Result(method, image=out.images[0], frames=list(out.chains[0]) if out.chains else [])


def _t2i_r1(generator, method, prompt, seed, steps, guidance, condition) -> Result:
    out = generator.pipe(prompt, seed, use_cot=method == "t2i-r1", guidance_scale=guidance)[0]
    notes = [] if steps is None else ["steps do not apply: image tokens are drawn one by one"]
    return Result(method, image=out.image, plan=out.cot, notes=notes)


def _fox(generator, method, prompt, seed, steps, guidance, condition) -> Result:
    from ..methods.fox.trace import SCALE, heatmap_overlay, layout_overlay

    trace = generator.pipe(prompt, seed, mode="mcot", num_inference_steps=steps, guidance_scale=guidance)[0]
    first = trace.images[0]
    result = Result(method, image=trace.image, plan=trace.caption, layout_text=trace.layout_text, first=first,
                    corrections=len(trace.images) - 1, notes=[*trace.layout_problems, f"chain: {trace.stopped}"])  # fmt: skip
    # no box survived the parser (an untrained planner): the plain canvas, the problems in the notes
    result.layout = np.asarray(layout_overlay(first, trace.layout)) if trace.layout else enlarge(first, SCALE)
    if trace.heatmaps:
        result.heatmap = np.asarray(heatmap_overlay(first, trace.heatmaps[0], trace.masks[0]))
    return result


def _reasondiff(pipe, method, prompt, seed, steps, guidance, condition) -> Result:
    from ..methods.reasondiff.narrator import one_prompt
    from ..methods.reasondiff.world_narrator import ShapesNarrator

    image, problems = pipe.check_image(condition)
    told = ShapesNarrator()(prompt, image, pipe.config["num_frames"])
    if not pipe.config["multi_frame"]:
        told = one_prompt(told, prompt)
        problems.append("the model was trained with one prompt in every frame: the text in every frame")
    out = pipe(image, told, steps, guidance, generator=_generator(seed), progress=True)
    frames = list(out.frames)
    return Result(method, image=frames[out.anchor], frames=frames, anchor=out.anchor, narratives=out.narratives,
                  notes=problems + out.problems, verdict=judge_clip(out.frames, image, out.anchor, told.scenes))  # fmt: skip
