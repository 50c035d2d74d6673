"""`reasongen train vae` and `reasongen eval vae`: the autoencoders (methods/autoencoders.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .common import check_options, check_training, eval_app, fail, train_app


@train_app.command("vae")
def train_vae(
    output_dir: Path = typer.Option(..., help="Run folder: checkpoints/, log.jsonl, and the trained vae/ at the end."),
    steps: int = typer.Option(2000, help="Optimiser steps."),
    teacher_steps: int = typer.Option(800, help="Warm-up steps on the fixed patch-PCA code before end-to-end training (docs/cof.md); skipped with --init-from."),
    batch_size: int = typer.Option(32, help="Global batch of frames, or of clips with --clip-frames (split across accelerate processes)."),
    lr: float = typer.Option(1e-3, help="Peak learning rate (AdamW, cosine decay to 10%)."),
    size: int = typer.Option(64, help="Canvas size."),
    draft_fraction: float = typer.Option(0.3, help="Share of blocky draft frames among the training images."),
    kl_weight: float = typer.Option(0.0, help="Weight of the KL term in the end-to-end stage."),
    object_weight: float = typer.Option(0.0, help="Pixels off the grey ground weigh 1 + this in the reconstruction loss (0: a plain mean), so that a clip decoder cannot drop small shapes cheaply."),
    clip_frames: int = typer.Option(1, help="1: single frames. 1 + 4k (e.g. 17): fine-tune on whole ShapesWorld event clips, which trains the temporal layers (needs --init-from)."),
    chains: Optional[Path] = typer.Option(None, help="Fine-tune on this `reasongen cof data` folder's chains instead, each padded to F1 F2 F3 F3 F3 and passed whole: the continuous baseline's VAE (needs --init-from; the last 512 chains, or a tenth of fewer, are held out)."),
    init_from: Optional[Path] = typer.Option(None, help="A trained VAE folder to start from (e.g. src/reasongen/models/shapes-vae)."),
    keep_frame_path: bool = typer.Option(True, help="With --clip-frames or --chains: train only the weights a single frame never reads, so single frames and every clip's first frame decode exactly as before (train/vae.py)."),
    decoder_only: bool = typer.Option(False, help="Train the decoder alone (needs --init-from): every latent stays exactly as it was, so models trained on this VAE's latents keep working."),
    checkpoint_every: int = typer.Option(100, help="Checkpoint every N steps."),
    seed: int = typer.Option(0, help="Seed of the data order, noise and images."),
):
    """Train the ShapesWorld VAE (AutoencoderKLWan, `shapes` preset) on single frames, or fine-tune it on clips."""
    from ..methods.autoencoders import VAETrainConfig, train_vae as train

    check_training(steps, batch_size, lr, checkpoint_every, seed)
    check_options(size=size)
    cfg = VAETrainConfig(str(output_dir), steps, teacher_steps, batch_size, lr, size, draft_fraction, kl_weight, object_weight, clip_frames,
                         None if chains is None else str(chains), None if init_from is None else str(init_from), keep_frame_path,
                         decoder_only, checkpoint_every, seed)  # fmt: skip
    try:
        report = train(cfg)
    except (ValueError, OSError) as e:
        fail(e)
    typer.echo(f"{output_dir / 'vae'}: held-out PSNR {report['heldout_psnr_db']:.2f} dB")


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
        out.write_text(json.dumps(figures, indent=1) + "\n")
