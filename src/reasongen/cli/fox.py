"""FoX (MCoT): records, multi-task training, and the held-out measures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .common import check_folder, check_options, check_training, comma_list, eval_app, fail, fox_app, train_app


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
def train_fox(
    data: Path = typer.Option(..., help="Folder from `reasongen fox data`."),
    vae: Path = typer.Option(..., help="The VAE the data was encoded with (shipped inside the pipeline)."),
    output_dir: Path = typer.Option(..., help="Run folder: checkpoints/, log.jsonl, and pipeline/ at the end."),
    experts: str = typer.Option("functional", help="Expert layout: functional (FoXperts), modality (text / image) or dense (one)."),
    preset: str = typer.Option("shapes", help="FoXperts preset."),
    tasks: str = typer.Option("plan_act,reflect,correct", help="Tasks taken in turn, one per step (FoX's 1:1:1 mix)."),
    steps: int = typer.Option(6000, help="Optimiser steps."),
    batch_size: int = typer.Option(32, help="Global batch."),
    lr: float = typer.Option(5e-4, help="Peak learning rate (AdamW, cosine decay)."),
    lm_weight: float = typer.Option(1.0, help="Weight of the planning (language-model) loss beside the flow loss."),
    ema: float = typer.Option(0.999, help="EMA decay of the shipped weights."),
    mixed_precision: str = typer.Option("no", help="no, or bf16 (GPUs, and CPUs with bf16 support)."),
    checkpoint_every: int = typer.Option(250, help="Checkpoint every N steps."),
    seed: int = typer.Option(0, help="Seed."),
    init_from: Optional[Path] = typer.Option(None, help="Start from this pipeline's transformer; a resumable checkpoint in --output-dir wins."),
):
    """Train one FoXperts model on planning+acting, reflection and correction, and save an FoXPipeline."""
    from ..methods.fox.train import TASKS, FoXTrainConfig, train_fox

    check_training(steps, batch_size, lr, checkpoint_every, seed)
    cfg = FoXTrainConfig(str(data), str(vae), str(output_dir), experts, preset, tuple(comma_list(tasks, "--tasks", TASKS)), steps,
                         batch_size, lr, lm_weight, ema, mixed_precision, checkpoint_every, seed,
                         None if init_from is None else str(init_from))  # fmt: skip
    try:
        train_fox(cfg)
    except (ValueError, FileNotFoundError) as e:
        fail(e)
    typer.echo(f"{output_dir / 'pipeline'}")


@eval_app.command("fox")
def eval_fox(
    model: Optional[Path] = typer.Argument(None, help="An FoXPipeline folder (`reasongen train fox`: RUN/pipeline); the shipped model if left out."),
    n: int = typer.Option(512, help="Held-out records (scenes the training data never drew)."),
    plan_metadata: str = typer.Option("shapes-geneval", help="Prompts whose greedy plans are judged by GenEval's rules (the layout's boxes as detections)."),
    heatmap_threshold: Optional[float] = typer.Option(None, help="Override the pipeline's heatmap threshold."),
    out: Optional[Path] = typer.Option(None, help="Write the figures as JSON here."),
):
    """A FoX model on held-out records: reflection IoU with the true flaw masks, flaws caught, clean images passed, each task's loss, and its plans judged alone."""
    from ..methods import model_path
    from ..methods.fox import SHIPPED
    from ..eval.layout import read_metadata
    from ..methods.fox.evaluate import heldout_records, plan_report, reflection_report, task_losses
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
    records = heldout_records(n, pipe.config["height"])
    figures = {"model": str(model or SHIPPED), "records": n, "reflection": reflection_report(pipe, records),
               "task_losses": task_losses(pipe, records), "plans": {"metadata": plan_metadata, **plan_report(pipe, prompts)}}  # fmt: skip
    typer.echo(json.dumps(figures, indent=1))
    if out:
        out.write_text(json.dumps(figures, indent=1) + "\n")
