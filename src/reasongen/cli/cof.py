"""CoF-T2I: chains (data) and training."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import check_folder, check_options, check_training, cof_app, comma_list, fail, train_app


@cof_app.command("data")
def cof_data(
    out: Path = typer.Option(..., help="Data folder: chains and their latents for each variant."),
    vae: Path = typer.Option(..., help="The trained VAE folder (from `reasongen train vae`: RUN/vae)."),
    n: int = typer.Option(20000, help="Number of chains."),
    size: int = typer.Option(64, help="Canvas size."),
    seed: int = typer.Option(0, help="Seed."),
    workers: int = typer.Option(2, help="Processes for building chains."),
    variants: str = typer.Option("cof,target", help="Comma-separated variants to encode (cof, target, continuous), or 'all'; run again to add more. continuous passes each chain whole through --vae, so it needs a VAE trained on chains (`reasongen train vae --chains`): an image VAE loses the last frame (docs/cof.md)."),
):
    """Build CoF chains (quality-aware routing of simulated anchors) and encode them for the chosen variants."""
    from ..backbones.wan import load_vae
    from ..methods.cof.data import VARIANTS, build_chains, encode_chains

    chosen = comma_list(variants, "--variants", VARIANTS, allow_all=True)
    check_options(n=n, size=size, seed=seed, workers=workers)
    check_folder(out, "--out")
    try:
        build_chains(out, n, size, seed, workers)
    except ValueError as e:
        fail(e)
    fvae = load_vae(vae)
    for variant in chosen:
        encode_chains(out, fvae, variant)
    typer.echo(f"{out}: {n} chains, latents for {', '.join(chosen)}")


@train_app.command("cof")
def train_cof(
    data: Path = typer.Option(..., help="Folder from `reasongen cof data`."),
    vae: Path = typer.Option(..., help="The VAE the data was encoded with (shipped inside the pipeline)."),
    output_dir: Path = typer.Option(..., help="Run folder: checkpoints/, log.jsonl, and pipeline/ at the end."),
    variant: str = typer.Option("cof", help="cof (3 frame-wise frames), target (final frame only) or continuous."),
    preset: str = typer.Option("shapes", help="Transformer preset."),
    steps: int = typer.Option(4000, help="Optimiser steps."),
    batch_size: int = typer.Option(64, help="Global batch."),
    lr: float = typer.Option(5e-4, help="Peak learning rate (AdamW, cosine decay)."),
    ema: float = typer.Option(0.999, help="EMA decay of the shipped weights."),
    system_prompt: str = typer.Option("", help="Prefix added to every prompt, at training and inference."),
    mixed_precision: str = typer.Option("no", help="no, or bf16 (GPUs, and CPUs with bf16 support; docs/cof.md gives the speed-up)."),
    checkpoint_every: int = typer.Option(250, help="Checkpoint every N steps."),
    seed: int = typer.Option(0, help="Seed."),
    init_from: Optional[Path] = typer.Option(None, help="Start from this pipeline's transformer and text encoder: a CoF pipeline (to train a saved model further) or a local diffusers Wan2.1-T2V folder (real scale; --preset is then unused). A resumable checkpoint in --output-dir wins."),
    flow_shift: Optional[float] = typer.Option(None, help="Timestep shift in training and in the saved pipeline's sampling (default: --init-from's, else the preset's)."),
    lora_rank: int = typer.Option(0, help="0: train the whole DiT. R > 0: freeze it and train a rank-R LoRA through PEFT (needs --init-from; the pipeline saves the adapter and the base's path)."),
    lora_alpha: Optional[float] = typer.Option(None, help="LoRA alpha (default: the rank, a scale of 1)."),
    gradient_checkpointing: bool = typer.Option(False, help="Recompute the DiT's blocks in the backward pass: less memory, about a third more time (large models)."),
):
    """Train a Wan DiT on CoF chains (or a baseline variant) and save a CoFPipeline."""
    from ..methods.cof.train import CoFTrainConfig, train_cof

    check_training(steps, batch_size, lr, checkpoint_every, seed)
    cfg = CoFTrainConfig(str(data), str(vae), str(output_dir), variant, preset, steps, batch_size, lr, ema, system_prompt,
                         mixed_precision, checkpoint_every, seed, None if init_from is None else str(init_from), flow_shift,
                         lora_rank, lora_alpha, gradient_checkpointing)  # fmt: skip
    try:
        train_cof(cfg)
    except ValueError as e:
        fail(e)
    typer.echo(f"{output_dir / 'pipeline'}")
