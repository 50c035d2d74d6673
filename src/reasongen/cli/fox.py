"""FoX (MCoT): records, multi-task training, and the held-out measures."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer

from ..locks import write_atomic
from ..methods.fox.config import ALL_TASKS, FoXTrainConfig
from .common import check_folder, check_options, comma_list, config_options, eval_app, fail, fox_app, train_app


@fox_app.command("data")
def fox_data(
    out: Path = typer.Option(..., help="Data folder: records (prompt, plan, target, flawed image and flaw mask) and their latents."),
    vae: Path = typer.Option(..., help="The trained VAE folder (e.g. src/reasongen/models/shapes-vae)."),
    n: int = typer.Option(20000, help="Number of records."),
    size: int = typer.Option(64, help="Canvas size."),
    seed: int = typer.Option(0, help="Seed."),
    workers: int = typer.Option(2, help="Processes for building records."),
):
    """Build FoX training records on ShapesWorld (all four tasks read them) and encode their images."""
    from ..backbones.wan import load_vae
    from ..methods.fox.data import build_records, encode_records

    check_options(n=n, size=size, seed=seed, workers=workers)
    check_folder(out, "--out")
    try:
        build_records(out, n, size, seed, workers)
    except ValueError as e:
        fail(e)
    encode_records(out, load_vae(vae))
    typer.echo(f"{out}: {n} records")


@train_app.command("fox")
@config_options(FoXTrainConfig)
def train_fox(
    cfg: FoXTrainConfig,
    tasks: Optional[str] = typer.Option(None, help=(
        "Tasks taken in turn, one per step, instead of the stage's (3: plan_act,reflect,correct, FoX's 1:1:1 mix; "
        "2: t2i,caption,vqa; 1: t2i).")),
):
    """Train one FoXperts model on a FoX stage (1 text-to-image, 2 with understanding, 3 the MCoT), and save an FoXPipeline."""
    from ..methods.fox.train import train_fox

    cfg = replace(cfg, tasks=None if tasks is None else tuple(comma_list(tasks, "--tasks", ALL_TASKS)))
    try:
        train_fox(cfg)
    except (ValueError, FileNotFoundError) as e:
        fail(e)
    typer.echo(f"{Path(cfg.output_dir) / 'pipeline'}")


@eval_app.command("fox")
def eval_fox(
    model: Optional[Path] = typer.Argument(None, help="An FoXPipeline folder (`reasongen train fox`: RUN/pipeline); the shipped model if left out."),
    n: int = typer.Option(512, help="Held-out records (scenes the training data never drew)."),
    plan_metadata: str = typer.Option("shapes-geneval", help="Prompts whose greedy plans are judged by GenEval's rules (the layout's boxes as detections)."),
    heatmap_threshold: Optional[float] = typer.Option(None, help="Override the pipeline's heatmap threshold."),
    out: Optional[Path] = typer.Option(None, help="Write the figures as JSON here."),
):
    """A FoX model on held-out records: reflection IoU with the true flaw masks, flaws caught, clean images passed, each task's loss, and its plans judged alone."""
    from ..eval.layout import read_metadata
    from ..methods import model_path
    from ..methods.fox import SHIPPED
    from ..methods.fox.evaluate import heldout_figures
    from ..methods.fox.pipeline import FoXPipeline
    from ..world.vocab import CLASSES, COLOR_NAMES

    if n < 1:
        raise typer.BadParameter(f"--n {n}: give at least 1 record")
    overrides = {} if heatmap_threshold is None else {"heatmap_threshold": heatmap_threshold}
    try:
        pipe = FoXPipeline.from_pretrained(model_path(model, SHIPPED, "reasongen train fox"), **overrides)
        prompts = read_metadata(plan_metadata, CLASSES, COLOR_NAMES)
    except (ValueError, FileNotFoundError) as e:
        fail(e)
    figures = heldout_figures(pipe, n, prompts, plan_metadata, str(model or SHIPPED))
    typer.echo(json.dumps(figures, indent=1))
    if out:
        write_atomic(out, json.dumps(figures, indent=1) + "\n")
