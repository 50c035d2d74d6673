"""Sampling any method over a benchmark, ShapesWorld data and renders, and GenEval scoring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..methods.registry import method_help
from .common import (
    app,
    check_folder,
    check_options,
    check_output,
    eval_app,
    fail,
    reading_model,
    sample_app,
    world_app,
)
from ..locks import write_atomic


def _sample(method: str, metadata: str, outdir: Path, n: int, size: int, seed: int, **options) -> None:
    from ..eval.layout import read_metadata
    from ..methods import get_generator
    from ..methods.sampling import frame_index, write_geneval
    from ..world.vocab import CLASSES, COLOR_NAMES

    check_options(n=n, size=size, seed=seed, **{k: options.get(k) for k in ("steps", "guidance", "device")})
    check_folder(outdir, "--outdir")
    try:
        frame = options.get("frame")
        if frame is not None:
            options["frame"] = frame_index(frame)
        read_metadata(metadata, CLASSES, COLOR_NAMES)  # checked before any model loads
        with reading_model(options.get("model")):
            generator = get_generator(method, size=size, **options)
        records = read_metadata(metadata, generator.classes, generator.colors)
        write_geneval(records, generator, outdir, n, seed, every_frame=frame == "all", say=typer.echo)
    except ValueError as e:
        fail(e)


@app.command("methods")
def methods():
    """List the methods and plain bases: what each is, its shipped model, how to train it, its doc."""
    from ..methods.registry import methods_table

    typer.echo(methods_table())


@sample_app.command("geneval")
def sample_geneval(
    method: str = typer.Option(..., help="The method (or base): " + method_help("image") + "."),
    metadata: str = typer.Option(..., help="Metadata JSONL file, or shapes-geneval / shapes-reason."),
    outdir: Path = typer.Option(..., help="Output folder (GenEval's layout); an interrupted run resumes here."),
    n: int = typer.Option(4, help="Images per prompt."),
    size: int = typer.Option(64, help="Canvas size in pixels (ShapesWorld generators)."),
    seed: int = typer.Option(0, help="Base seed; image j of prompt i uses a seed derived from (seed, i, j)."),
    model: Optional[str] = typer.Option(None, help="Model folder for learned methods (default: the shipped one)."),
    frame: Optional[str] = typer.Option(None, help="cof: which chain frame is the image (-1 last, 0 F1, 1 F2), or 'all': each frame of the same chains into DIR/f1 .. DIR/fK."),
    steps: Optional[int] = typer.Option(None, help="Sampling steps (default: the model's)."),
    guidance: Optional[float] = typer.Option(None, help="Classifier-free guidance scale (default: the model's)."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda (learned methods)."),
    mode: Optional[str] = typer.Option(None, help="mcot: direct, twice (better of two by reflection), plan_act or mcot (the full chain, default)."),
    cot: Optional[bool] = typer.Option(None, "--cot/--no-cot", help="t2i-r1: with the semantic CoT (default) or the direct baseline."),
):
    """Write GenEval's output layout (DIR/00000/metadata.jsonl, DIR/00000/samples/0000.png) from any generator."""
    _sample(method, metadata, outdir, n, size, seed, model=model, frame=frame, steps=steps, guidance=guidance, device=device, mode=mode, cot=cot)


@world_app.command("render")
def world_render(
    metadata: str = typer.Argument(..., help="Metadata JSONL file, or shapes-geneval / shapes-reason."),
    outdir: Path = typer.Option(..., help="Output folder (GenEval's layout)."),
    n: int = typer.Option(4, help="Images per prompt."),
    size: int = typer.Option(64, help="Canvas size in pixels."),
    seed: int = typer.Option(0, help="Base seed."),
):
    """Render the ground truth of every prompt in GenEval's output layout (same as `sample geneval --method oracle`)."""
    _sample("oracle", metadata, outdir, n, size, seed)


@world_app.command("sample")
def world_sample(
    outdir: Path = typer.Option(..., help="Dataset folder: PNGs with metadata.jsonl beside them; resumes if it exists."),
    n: int = typer.Option(..., help="Number of images."),
    tags: str = typer.Option("all", help="Comma-separated tags, or 'all' (the six GenEval tags and reason)."),
    size: int = typer.Option(64, help="Canvas size in pixels."),
    seed: int = typer.Option(0, help="Seed; record i is drawn from (seed, i)."),
    split: str = typer.Option("in_distribution", help="Split of the reason prompts: in_distribution (training) or held_out."),
):
    """Write a ShapesWorld dataset: scenes, prompts and GenEval-style metadata."""
    from ..world.dataset import write_dataset
    from ..world.vocab import ALL_TAGS

    check_options(n=n, size=size, seed=seed)
    check_folder(outdir, "--outdir")
    tag_list = list(ALL_TAGS) if tags == "all" else [t.strip() for t in tags.split(",") if t.strip()]
    try:
        made = write_dataset(outdir, n, tag_list, size=size, seed=seed, split=split)
    except ValueError as e:
        fail(e)
    typer.echo(f"{outdir}: {n} images ({made} new)")


@world_app.command("benchmarks")
def world_benchmarks(
    outdir: Optional[Path] = typer.Option(None, help="Where to write; default: the package's shipped data folder."),
):
    """Regenerate the shipped benchmark files: shapes-geneval, shapes-reason and shapes-compbench
    (seed 43), and the video cases shapes-video-unpaired and shapes-video-paired."""
    from ..world.benchmarks import BENCHMARKS, COMPBENCH_BENCHMARKS, VIDEO_BENCHMARKS, shipped_path, write

    for name in BENCHMARKS + COMPBENCH_BENCHMARKS + VIDEO_BENCHMARKS:
        path = (outdir / f"{name}.jsonl") if outdir else shipped_path(name)
        typer.echo(f"{path}: {write(name, path)} {'cases' if name in VIDEO_BENCHMARKS else 'prompts'}")


@eval_app.command("geneval")
def eval_geneval(
    folder: Path = typer.Argument(..., help="A GenEval output folder: <dir>/<index>/metadata.jsonl and samples/<n>.png."),
    detector: str = typer.Option("shapes", help="shapes (ShapesWorld, no weights) or mask2former (GenEval's stack)."),
    out: Optional[Path] = typer.Option(None, help="Write the summary JSON here (keys: overall, tags, ...)."),
    per_image: Optional[Path] = typer.Option(None, help="Write GenEval's per-image rows (JSONL) here."),
    workers: int = typer.Option(2, help="Processes for the shapes detector."),
    mask2former: Optional[str] = typer.Option(None, help="Mask2Former COCO instance checkpoint: local folder or hub id."),
    clip: Optional[str] = typer.Option(None, help="CLIP checkpoint (GenEval: ViT-L/14): local folder or hub id."),
    device: str = typer.Option("cpu", help="Device for the mask2former detector."),
    allow_download: bool = typer.Option(False, help="Let the mask2former detector fetch a hub id (off: local files only)."),
    threshold: float = typer.Option(0.3, help="GenEval's confidence threshold."),
    counting_threshold: float = typer.Option(0.9, help="GenEval's threshold under the counting tag."),
):
    """Score images with GenEval's rules: per-tag table, overall (mean of tags), % correct images and prompts."""
    from ..eval.run import evaluate_folder, format_table

    check_options(workers=workers)
    for value, flag in ((threshold, "--threshold"), (counting_threshold, "--counting-threshold")):
        if not 0.0 <= value <= 1.0:
            fail(ValueError(f"{flag} {value}: give a confidence from 0 to 1"))
    for path, flag in ((out, "--out"), (per_image, "--per-image")):
        if path is not None:
            check_output(path, (".json", ".jsonl"), "the result", flag)
    detector_options = {}
    if detector == "mask2former":
        detector_options = {"model": mask2former, "clip": clip, "device": device, "allow_download": allow_download}
        workers = 1
    options = {"threshold": threshold, "counting_threshold": counting_threshold}
    try:
        rows, summary = evaluate_folder(folder, detector, detector_options, options, workers=workers)
    except ValueError as e:
        fail(e)
    typer.echo(format_table(summary))
    if out:  # the samples' folder too, so that `reasongen report` finds them
        write_atomic(out, json.dumps({**summary, "folder": str(folder)}, indent=1) + "\n")
    if per_image:
        write_atomic(per_image, "".join(json.dumps(r) + "\n" for r in rows))


@eval_app.command("failures")
def eval_failures(
    source: Path = typer.Argument(..., help="Per-image rows (`eval geneval DIR --per-image FILE`), or a GenEval output folder to score first."),
    out: Optional[Path] = typer.Option(None, help="Write the counts as JSON here."),
    workers: int = typer.Option(2, help="Processes for the shapes detector, when SOURCE is a folder."),
):
    """Why images fail GenEval's rules: the clause each failed image breaks (too few, colour, position, too many), the asked classes missing, single objects by class, and extra shapes."""
    from ..eval.failures import failure_breakdown, format_failures, read_rows
    from ..eval.run import evaluate_folder

    check_options(workers=workers)
    if out is not None:
        check_output(out, (".json",), "the counts", "--out")
    try:
        rows = evaluate_folder(source, workers=workers)[0] if source.is_dir() else read_rows(source)
        breakdown = failure_breakdown(rows)
    except ValueError as e:
        fail(e)
    typer.echo(format_failures(breakdown))
    if out:
        write_atomic(out, json.dumps({**breakdown, "source": str(source)}, indent=1) + "\n")


@eval_app.command("understanding")
def eval_understanding(
    model: Path = typer.Argument(..., help="A Janus-style pipeline (`train t2i-r1 --stage pretrain`) or a FoX pipeline (`train fox --stage 2`)."),
    n: int = typer.Option(256, help="Fresh scenes (a seed no training record uses)."),
    out: Optional[Path] = typer.Option(None, help="Write the figures as JSON here."),
    batch_size: int = typer.Option(32, help="Images read together."),
):
    """A model's understanding of fresh scenes: its captions (exact, object F1) and its answers to visual questions, against the exact ones."""
    from ..eval.understanding import understanding_cases, understanding_report
    from ..methods.registry import PIPELINE_METHODS

    check_options(n=n, batch_size=batch_size)
    if out is not None:
        check_output(out, (".json",), "the figures", "--out")
    try:
        if not (model / "model_index.json").is_file():
            raise ValueError(f"{model}: no model_index.json; pass a pipeline folder written by `train t2i-r1 --stage pretrain` or `train fox`")
        kind = json.loads((model / "model_index.json").read_text()).get("_class_name")
        method = PIPELINE_METHODS.get(kind)
        if method == "t2i-r1":
            from ..methods.t2i_r1.pipeline import T2IR1Pipeline

            pipe = T2IR1Pipeline.from_pretrained(model)
            caption, answer = pipe.caption, None  # the Janus base learns captions, not questions
        elif method == "fox":
            from ..methods.fox.pipeline import FoXPipeline

            pipe = FoXPipeline.from_pretrained(model)
            caption, answer = pipe.caption, pipe.answer
        else:
            raise ValueError(f"{model} holds a {kind}; pass a Janus-style (T2IR1Pipeline) or FoX pipeline")
        report = understanding_report(understanding_cases(n), caption, answer, batch_size)
    except (ValueError, OSError) as e:
        fail(e)
    typer.echo(json.dumps(report, indent=1))
    if out:
        write_atomic(out, json.dumps(report, indent=1) + "\n")
