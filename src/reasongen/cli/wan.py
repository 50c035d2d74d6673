"""`reasongen wan data` and `reasongen train wan`: pretraining the `shapes-wan` base (methods/wan)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import app, check_folder, check_options, check_output, check_training, fail, train_app

wan_app = typer.Typer(help="shapes-wan pretraining data.", no_args_is_help=True)
app.add_typer(wan_app, name="wan")


@wan_app.command("data")
def wan_data(
    out: Path = typer.Option(..., help="Data folder: frames.json and latent shards."),
    n: int = typer.Option(98304, help="Number of training images (never a held-out composition)."),
    seed: int = typer.Option(0, help="Seed."),
    vae: Optional[Path] = typer.Option(None, help="VAE folder (default: the shipped ShapesWorld VAE)."),
    workers: int = typer.Option(2, help="Processes for rendering."),
):
    """Render ShapesWorld scenes of the six GenEval tags and encode them with the VAE (resumable)."""
    from ..backbones.wan import load_vae
    from ..methods import SHIPPED_MODELS
    from ..methods.wan.data import build_frames

    check_options(n=n, seed=seed, workers=workers)
    check_folder(out, "--out")
    try:
        build_frames(out, n, load_vae(vae or SHIPPED_MODELS / "shapes-vae"), seed=seed, workers=workers)
    except ValueError as e:
        fail(e)
    typer.echo(f"{out}: {n} frames")


@train_app.command("wan")
def train_wan_command(
    data: Path = typer.Option(..., help="Folder from `reasongen wan data`."),
    output_dir: Path = typer.Option(..., help="Run folder: checkpoints/, log.jsonl, wan_config.json, pipeline/."),
    time_budget: Optional[float] = typer.Option(None, help="Minutes for this leg; it stops with a checkpoint, and the same command resumes it."),
    cpu_budget: bool = typer.Option(False, help="Count --time-budget in this process's CPU minutes (all threads: 2 threads for 25 wall minutes is 50), so equal-compute arms stay equal whatever else the machine runs."),
    steps: int = typer.Option(1_000_000, help="Steps of the whole run (an upper bound when legs end on time)."),
    patch: int = typer.Option(2, help="Spatial patch on the latents: 2 (64 tokens) or 1 (256 tokens)."),
    num_layers: Optional[int] = typer.Option(None, help="Transformer blocks (default: the preset's)."),
    num_heads: Optional[int] = typer.Option(None, help="Attention heads (default: the preset's)."),
    head_dim: Optional[int] = typer.Option(None, help="Width of a head (default: the preset's)."),
    ffn_dim: Optional[int] = typer.Option(None, help="Feed-forward width (default: the preset's)."),
    batch_size: int = typer.Option(64, help="Global batch."),
    lr: float = typer.Option(1e-3, help="Peak learning rate (AdamW)."),
    warmup_steps: int = typer.Option(200, help="Linear warm-up steps."),
    lr_decay: str = typer.Option("constant", help="constant or cosine (over --steps)."),
    timesteps: str = typer.Option("logit_normal", help="Noise-level sampling: logit_normal or uniform."),
    weighting: str = typer.Option("object", help="Loss weighting: object (latent cells an object covers weigh --object-weight), none or min_snr."),
    object_weight: float = typer.Option(4.0, help="With --weighting object: the weight of latent cells an object covers (ground: 1)."),
    curriculum_steps: int = typer.Option(0, help="First train this many steps on one-object scenes."),
    text_encoder: str = typer.Option("minilm", help="minilm (the frozen embedded MiniLM) or words (ShapesWorld's own word encoder, trained with the DiT and saved in the pipeline)."),
    text_max_length: int = typer.Option(64, help="Text positions the DiT attends to (the world's prompts are at most 11 word tokens)."),
    ema: float = typer.Option(0.999, help="EMA decay of the saved weights."),
    mixed_precision: str = typer.Option("bf16", help="no or bf16 (autocast)."),
    compile: bool = typer.Option(False, help="torch.compile the DiT's forward."),
    threads: Optional[int] = typer.Option(None, help="torch threads (default: torch's)."),
    seed: int = typer.Option(0, help="Seed."),
    checkpoint_every: int = typer.Option(250, help="Checkpoint every N steps."),
    init_from: Optional[Path] = typer.Option(None, help="A saved pipeline to start from when --output-dir has no checkpoint (a warm restart after the run folder was lost: weights kept, optimiser afresh, logged)."),
    score: int = typer.Option(0, help="N > 0: after the leg, score shapes-geneval at N images per prompt and add a point to RUN/curve.jsonl (the learning curve)."),
):
    """Pretrain (or resume) a ShapesWorld Wan DiT on text-to-image; saves a one-frame pipeline."""
    import torch

    from ..methods.wan.train import WanTrainConfig, samples_seen, train_wan

    check_training(steps, batch_size, lr, checkpoint_every, seed)
    if threads:
        torch.set_num_threads(threads)
    if patch not in (1, 2):
        fail(ValueError(f"--patch {patch}: use 1 or 2 (the latents are 16 x 16)"))
    cfg = WanTrainConfig(str(data), str(output_dir), patch=patch, num_layers=num_layers, num_heads=num_heads, head_dim=head_dim,
                         ffn_dim=ffn_dim, steps=steps, time_budget=None if time_budget is None else 60 * time_budget,
                         budget_clock="cpu" if cpu_budget else "wall",
                         batch_size=batch_size, lr=lr, warmup_steps=warmup_steps, lr_decay=lr_decay, timesteps=timesteps,
                         weighting=weighting, object_weight=object_weight, curriculum_steps=curriculum_steps, ema_decay=ema,
                         text_encoder=text_encoder, text_max_length=text_max_length,
                         mixed_precision=mixed_precision, compile=compile, seed=seed, checkpoint_every=checkpoint_every,
                         init_from=None if init_from is None else str(init_from))  # fmt: skip
    try:
        train_wan(cfg)
    except ValueError as e:
        fail(e)
    typer.echo(f"{output_dir / 'pipeline'} ({samples_seen(output_dir)} samples seen)")
    if score > 0:
        from ..methods.wan.curve import score_leg

        row = score_leg(output_dir, n=score)
        typer.echo(f"shapes-geneval at {row['samples_seen']:,} images: {row['overall']:.3f} ({output_dir / 'curve.jsonl'})")


@wan_app.command("curve")
def wan_curve(
    runs: list[Path] = typer.Argument(..., help="Run folders whose curve.jsonl to draw (`train wan --score N`)."),
    out: Path = typer.Option(..., "-o", "--out", help="The figure (PNG)."),
):
    """Plot shapes-geneval against training images seen, for one run or several."""
    from ..methods.wan.curve import plot_curve

    missing = [str(r) for r in runs if not (r / "curve.jsonl").is_file()]
    if missing:
        fail(ValueError(f"no curve.jsonl in {', '.join(missing)}: score legs with `reasongen train wan ... --score 1`"))
    check_output(out, (".png",), "the figure")
    plot_curve(runs, out)
    typer.echo(str(out))


@train_app.command("wan-oneshot")
def train_wan_oneshot_command(
    output_dir: Path = typer.Option(..., help="Where the fp16 pipeline, log.jsonl and report.json go."),
    work_dir: Path = typer.Option(..., help="Where the data and the run's checkpoints go (kept out of --output-dir)."),
    minutes: float = typer.Option(9.0, help="The whole budget, data generation included."),
    n: int = typer.Option(262_144, help="Training images to build."),
    batch_size: int = typer.Option(256, help="Global batch."),
    lr: float = typer.Option(1e-3, help="Peak learning rate."),
    peak_tflops: Optional[float] = typer.Option(None, help="The device's peak dense bf16 TFLOP/s, for the MFU (an H100 SXM: 989)."),
):
    """Pretrain shapes-wan in one command on one accelerator (or, slowly, here): data, training, fp16 weights."""
    from ..methods.wan.train import train_wan_oneshot

    if minutes <= 0.5 or n < 1 or batch_size < 1:
        fail(ValueError(f"--minutes {minutes} --n {n} --batch-size {batch_size}: need more than half a minute, n >= 1, batch >= 1"))
    try:
        report = train_wan_oneshot(output_dir, work_dir, minutes, n, batch_size, lr, peak_tflops=peak_tflops)
    except ValueError as e:
        fail(e)
    typer.echo(f"{output_dir / 'pipeline'}: {report['samples_seen']} samples, {report['samples_per_second']} samples/s"
               + (f", MFU {report['mfu']:.1%}" if "mfu" in report else ""))
