"""ReasonDiff on the ShapesWorld video benchmarks: sample a folder of clips, then score it.

A folder holds `info.json` (benchmark, model, narrator), one lossless PNG strip per case
(`NNNN.png`, the frames side by side) and `records.jsonl` (what the narrator said for each case).
Narrators here:
- `oracle`: the clip's own per-frame captions and the true anchor (a perfect narrator);
- `world`: the world's reasoner from the text and the image alone (`world_narrator.py`);
- `trained`: the anchor read by a network trained on clips, the world's narratives around it
  (`trained_narrator.py`);
- `first-frame`: the image at frame 0 and the case's text in every frame (plain image-to-video, the
  issue's baseline);
- `rewrite`: the paper's rewrite-prompt baseline. A reasoner rewrites the text into one clip-level
  prompt, and plain image-to-video follows: the image at frame 0 and that prompt in every frame.
  Here the world's reasoner rewrites it as "TEXT, from FIRST to LAST" (`world.video.dense_caption`),
  with the first and last frames it narrates (the paper's rewriter is an MLLM; the form of the
  prompt is our choice).
The model `oracle` writes the benchmark's own clips, the reference every metric should score fully.
A plain `wan` base (`reasongen train wan`: a one-frame CoFPipeline) samples text-to-video: the
image is not given to it, only one dense prompt per clip built from the narrator's first and last
frames (`conditioning: text` in info.json); ReasonDiff models are conditioned on the image.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from ...eval.video import (
    anchor_correct,
    dynamic_degree,
    event_consistency,
    image_consistency,
    motion_smoothness,
    palette_fidelity,
    text_consistency,
)
from ...locks import write_atomic
from ...world.benchmarks import read_video_cases
from ...world.video import VideoCase, dense_caption
from .narrator import Narration, one_prompt, oracle_narration
from .world_narrator import ShapesNarrator

NARRATORS = ("oracle", "world", "trained", "first-frame", "rewrite")


def make_narrator(name: str, trained: str | Path | None = None, size: int = 64) -> Callable[[VideoCase], Narration]:
    """A case -> its narration. `trained`: the trained narrator's folder (default: the shipped one)."""
    if name == "oracle":
        return lambda case: oracle_narration(case.clip, case.anchor)
    if name == "world":
        world = ShapesNarrator()
        return lambda case: world(case.text, case.image(size), len(case.clip))
    if name == "trained":
        from .trained_narrator import SHIPPED, load_trained_narrator

        learned = load_trained_narrator(trained or SHIPPED)
        return lambda case: learned(case.text, case.image(size), len(case.clip))
    if name == "first-frame":
        return lambda case: Narration(0, [case.text] * len(case.clip))
    if name == "rewrite":
        world = ShapesNarrator()

        def rewrite(case):
            told = world(case.text, case.image(size), len(case.clip))
            prompt = dense_caption(case.text, told.narratives[0], told.narratives[-1])
            return Narration(0, [prompt] * len(case.clip), told.problems)

        return rewrite
    raise ValueError(f"unknown narrator {name!r}; choose from {', '.join(NARRATORS)}")


def sample_benchmark(generate: Callable, cases: list[VideoCase], outdir: str | Path, narrator: str, info: dict,
                     size: int = 64, trained_narrator: str | Path | None = None, batch_size: int = 8,
                     clip_prompt: Callable[[Narration, VideoCase], str] | None = None) -> Path:  # fmt: skip
    """`generate(images, narrations, cases, seeds) -> [uint8 (T, H, W, 3)]`, called on up to
    `batch_size` cases at a time; a case's seed is its index. `clip_prompt` (a model that reads one
    prompt per clip): the narrator's anchor and `clip_prompt(narration, case)` in every frame, unless
    the narrator already gives one prompt (first-frame, rewrite). The narrations as the model read
    them go to records.jsonl."""
    if batch_size < 1:
        raise ValueError(f"batch size {batch_size}: need at least 1")
    narrate = make_narrator(narrator, trained_narrator, size)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    write_atomic(outdir / "info.json", json.dumps({**info, "narrator": narrator, "cases": len(cases)}, indent=1) + "\n")
    bar = tqdm(total=len(cases), desc="video cases", unit="case")
    with open(outdir / "records.jsonl", "w") as f:
        for start in range(0, len(cases), batch_size):
            chunk = cases[start : start + batch_size]
            seeds = list(range(start, start + len(chunk)))
            told = [narrate(case) for case in chunk]
            if clip_prompt is not None:
                told = [t if len(set(t.narratives)) == 1 else one_prompt(t, clip_prompt(t, case)) for t, case in zip(told, chunk)]
            clips = generate([case.image(size) for case in chunk], told, chunk, seeds)
            for i, t, frames in zip(seeds, told, clips):
                write_strip(frames, outdir / f"{i:04d}.png")
                f.write(json.dumps({"index": i, "anchor": t.anchor, "narratives": t.narratives, "problems": t.problems}) + "\n")
            bar.update(len(chunk))
    bar.close()
    return outdir


def sample_video(model: str, benchmark: str, outdir: str | Path, narrator: str = "oracle", trained_narrator: str | Path | None = None,
                 limit: int | None = None, steps: int | None = None, guidance: float | None = None, enhanced: bool | None = None,
                 batch_size: int = 8, device: str = "cpu") -> int:  # fmt: skip
    """`reasongen sample video`: the benchmark's cases (the first `limit`) sampled into `outdir` by
    `model`: a ReasonDiffPipeline folder, a plain wan pipeline folder (text-to-video: the image is
    not given, `_text_to_video`), `oracle` (the benchmark's own clips: the reference) or `still` (the
    condition image in every frame: the floor). `enhanced` None: as the model was trained. Returns
    the number of cases."""
    import torch

    cases = read_video_cases(benchmark)[:limit]
    trained_as = {"conditioning": "image", "multi_frame": True, "enhanced": enhanced}
    clip_prompt = None
    if model == "oracle":
        def generate(images, told, chunk, seeds):
            return [case.clip.render(image.shape[0]) for image, case in zip(images, chunk)]
    elif model == "still":
        def generate(images, told, chunk, seeds):
            return [np.repeat(image[None], len(case.clip), axis=0) for image, case in zip(images, chunk)]
    elif _pipeline_method(model) == "cof":
        if enhanced is not None:
            raise ValueError(f"--enhanced / --no-enhanced: {model} is a plain wan base, which has no AlignFormer; leave it out")
        generate = _text_to_video(model, steps, guidance, device)
        trained_as = {"conditioning": "text"}

        def clip_prompt(told, case):
            return dense_caption(case.text, told.narratives[0], told.narratives[-1])
    else:
        from .pipeline import ReasonDiffPipeline

        pipe = ReasonDiffPipeline.from_pretrained(Path(model), device=device)
        trained_as = {"conditioning": "image", "multi_frame": pipe.config["multi_frame"],
                      "enhanced": pipe.config["enhanced"] if enhanced is None else enhanced}  # fmt: skip
        if not trained_as["multi_frame"]:
            def clip_prompt(told, case):
                return case.text

        def generate(images, told, chunk, seeds):
            generators = [torch.Generator().manual_seed(s) for s in seeds]
            return [out.frames for out in pipe.many(images, told, steps, guidance, generators, enhanced)]
    info = {"benchmark": benchmark, "model": model, **trained_as, "steps": steps, "guidance": guidance,
            "trained_narrator": str(trained_narrator) if trained_narrator else None}  # fmt: skip
    sample_benchmark(generate, cases, outdir, narrator, info, trained_narrator=trained_narrator, batch_size=batch_size,
                     clip_prompt=clip_prompt)  # fmt: skip
    return len(cases)


def _pipeline_method(model: str) -> str | None:
    """The method a pipeline folder belongs to, by the class its model_index.json names (None: no index)."""
    from .. import PIPELINE_METHODS

    index = Path(model) / "model_index.json"
    return PIPELINE_METHODS.get(json.loads(index.read_text()).get("_class_name")) if index.is_file() else None


def _text_to_video(model: str, steps: int | None, guidance: float | None, device: str) -> Callable:
    """`generate` for a plain wan base: each case's clip drawn from its one dense prompt, as many
    frame-wise latent frames as the case's clip has frames, from the case's seed. A CoF chain model
    (more than one frame) is refused by `WanGenerator`, a diffusers Wan2.1 folder here: its VAE
    compresses time, which this frame-wise sampler does not."""
    import torch

    from ..wan import WanGenerator

    if json.loads((Path(model) / "model_index.json").read_text()).get("_class_name") != "CoFPipeline":
        raise ValueError(f"{model} is a diffusers Wan2.1 folder; `sample video` draws frame-wise clips from a wan pipeline "
                         "(`reasongen train wan`: RUN/pipeline) or a ReasonDiff one")  # fmt: skip
    pipe = WanGenerator(model, device=device).pipe

    def generate(images, told, chunk, seeds):
        frames = [None] * len(chunk)
        for T in sorted({len(case.clip) for case in chunk}):  # one call per clip length
            ids = [i for i, case in enumerate(chunk) if len(case.clip) == T]
            out = pipe([told[i].narratives[0] for i in ids], num_frames=T, num_inference_steps=steps, guidance_scale=guidance,
                       generator=[torch.Generator().manual_seed(seeds[i]) for i in ids], return_chain=True)  # fmt: skip
            for i, chain in zip(ids, out.chains):
                frames[i] = np.stack(chain)
        return frames

    return generate


def write_strip(frames: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.concatenate(list(frames), axis=1)).save(path)


def read_strip(path: Path, num_frames: int) -> np.ndarray:
    from PIL import Image

    strip = np.asarray(Image.open(path).convert("RGB"))
    if strip.shape[1] % num_frames:
        raise ValueError(f"{path}: a strip {strip.shape[1]} px wide does not hold {num_frames} equal frames")
    return np.stack(np.split(strip, num_frames, axis=1))


def score_folder(outdir: str | Path, cases: list[VideoCase], size: int = 64) -> tuple[list[dict], dict]:
    outdir = Path(outdir)
    records = [json.loads(line) for line in (outdir / "records.jsonl").read_text().splitlines()]
    rows = []
    for r in tqdm(records, desc="score clips", unit="clip"):
        case = cases[r["index"]]
        frames = read_strip(outdir / f"{r['index']:04d}.png", len(case.clip))
        image = image_consistency(frames, case.image(size), r["anchor"])
        scenes = list(case.clip.scenes)
        # the event is judged against the image's true state: the case's anchor, not the narrator's
        rows.append({"index": r["index"], "event": case.clip.event,
                     "text_consistency": text_consistency(frames, scenes),
                     "event_consistency": event_consistency(frames, scenes, case.anchor),
                     "image_at_anchor": image["at_anchor"], "image_best_frame": image["best_frame"],
                     "motion_smoothness": motion_smoothness(frames), "dynamic": dynamic_degree(frames),
                     "palette_fidelity": palette_fidelity(frames),
                     "anchor_correct": anchor_correct(r["anchor"], case.anchors)})  # fmt: skip
    keys = [k for k in rows[0] if k not in ("index", "event")]
    # a clip whose scene never changes from the image's state has no event score (None)
    summary = {k: float(np.mean([row[k] for row in rows if row[k] is not None])) for k in keys}
    summary["clips"] = len(rows)
    summary["clips_with_event"] = sum(row["event_consistency"] is not None for row in rows)
    return rows, summary


def score_sampled(folder: str | Path) -> tuple[list[dict], dict]:
    """`reasongen eval video`: score a folder written by `sample_video` against its own benchmark;
    the summary names what was sampled (benchmark, model, narrator, ablations) and the folder."""
    folder = Path(folder)
    if not (folder / "info.json").is_file():
        raise ValueError(f"{folder}: no info.json; pass a folder written by `reasongen sample video`")
    info = json.loads((folder / "info.json").read_text())
    rows, summary = score_folder(folder, read_video_cases(info["benchmark"]))
    summary = {**{k: info.get(k) for k in ("benchmark", "model", "narrator", "conditioning", "enhanced", "multi_frame")}, **summary,
               "folder": str(folder)}  # where the strips are, for `reasongen report`
    return rows, summary
