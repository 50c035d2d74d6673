"""`reasongen train vae` and `reasongen eval vae`: the autoencoders (methods/autoencoders.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..locks import write_atomic
from ..methods.autoencoder_config import VAETrainConfig
from .common import check_options, config_options, eval_app, fail, train_app


@train_app.command("vae")
@config_options(VAETrainConfig)
def train_vae(cfg: VAETrainConfig):
    """Train the ShapesWorld VAE (AutoencoderKLWan, `shapes` preset) on single frames, or fine-tune it on clips."""
    from ..methods.autoencoders import train_vae as train

    check_options(size=cfg.size)
    try:
        report = train(cfg)
    except (ValueError, OSError) as e:
        fail(e)
    typer.echo(f"{Path(cfg.output_dir) / 'vae'}: held-out PSNR {report['heldout_psnr_db']:.2f} dB")


@eval_app.command("vae")
def eval_vae(
    vae: Path = typer.Argument(..., help="A VAE folder (`reasongen train vae`: RUN/vae) or a VQ tokenizer folder (`reasongen train vq`: RUN/vq)."),
    metadata: str = typer.Option("shapes-geneval", help="Prompts whose oracle renders go through the VAE."),
    n: int = typer.Option(4, help="Images per prompt."),
    size: int = typer.Option(64, help="Canvas size."),
    clips: int = typer.Option(0, help="Also pass this many held-out 17-frame event clips through a Wan VAE, whole and frame by frame."),
    chains: Optional[Path] = typer.Option(None, help="Also pass this `reasongen cof data` folder's held-out chains (its last 512, or a tenth of fewer) through a Wan VAE, whole as the continuous baseline encodes them and frame by frame, and score their last frames by GenEval's rules."),
    out: Optional[Path] = typer.Option(None, help="Write the figures as JSON here."),
):
    """How well a VAE (or VQ tokenizer) keeps ShapesWorld: held-out PSNR, and GenEval on oracle renders passed through it."""
    from ..methods.autoencoders import evaluate_autoencoder

    try:
        figures = evaluate_autoencoder(vae, metadata, n, size, clips, chains)
    except (ValueError, OSError) as e:
        fail(e)
    typer.echo(json.dumps(figures, indent=1))
    if out:
        write_atomic(out, json.dumps(figures, indent=1) + "\n")
