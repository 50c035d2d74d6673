"""CoF-T2I: chains (data) and training."""

from __future__ import annotations

from pathlib import Path

import typer

from ..methods.cof.config import CoFTrainConfig
from .common import check_folder, check_options, cof_app, comma_list, config_options, fail, train_app


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
@config_options(CoFTrainConfig)
def train_cof(cfg: CoFTrainConfig):
    """Train a Wan DiT on CoF chains (or a baseline variant) and save a CoFPipeline."""
    from ..methods.cof.train import train_cof

    try:
        train_cof(cfg)
    except ValueError as e:
        fail(e)
    typer.echo(f"{Path(cfg.output_dir) / 'pipeline'}")
