"""`reasongen wan data` and `reasongen train wan`: pretraining the `shapes-wan` base (methods/wan)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..methods.wan.config import WanTrainConfig
from .common import OPTION_RANGES, app, check_folder, check_options, check_output, check_range, config_options, fail, train_app

wan_app = typer.Typer(help="shapes-wan pretraining data.", no_args_is_help=True)
app.add_typer(wan_app, name="wan")


@wan_app.command("data")
def wan_data(
    out: Path = typer.Option(..., help="Data folder: frames.json (or clips.json) and latent shards."),
    n: Optional[int] = typer.Option(None, help="Number of training images (never a held-out composition); default 98304."),
    clips: Optional[int] = typer.Option(None, help="Build N clips of the video world instead of images (never a held-out composition), each captioned densely: what happens, from the first frame to the last."),
    frames: Optional[int] = typer.Option(None, help="With --clips: frames per clip, 1 + 4k (default 17)."),
    seed: int = typer.Option(0, help="Seed."),
    vae: Optional[Path] = typer.Option(None, help="VAE folder (default: the shipped ShapesWorld VAE)."),
    workers: int = typer.Option(2, help="Processes for rendering."),
):
    """Render ShapesWorld scenes of the six GenEval tags (or, with --clips, clips of the video world) and encode them frame-wise with the VAE (resumable)."""
    from ..backbones.wan import load_vae
    from ..methods import SHIPPED_MODELS
    from ..methods.wan.data import build_clips, build_frames
    from ..world.video import DEFAULT_FRAMES, check_clip_length

    if clips is not None and n is not None:
        fail(ValueError(f"--n {n} --clips {clips}: a folder holds images or clips; give --n for images or --clips for clips"))
    if clips is None and frames is not None:
        fail(ValueError(f"--frames {frames} is the length of a clip; give it with --clips N"))
    n = 98304 if n is None and clips is None else n
    frames = DEFAULT_FRAMES if frames is None else frames
    check_options(n=n, seed=seed, workers=workers)
    if clips is not None:
        check_range("--clips", clips, *OPTION_RANGES["n"])
        try:
            check_clip_length(frames)
        except ValueError as e:
            fail(ValueError(f"--frames {frames}: {e}"))
    check_folder(out, "--out")
    try:
        fvae = load_vae(vae or SHIPPED_MODELS / "shapes-vae")
        if clips is not None:
            build_clips(out, clips, fvae, seed=seed, num_frames=frames, workers=workers)
        else:
            build_frames(out, n, fvae, seed=seed, workers=workers)
    except ValueError as e:
        fail(e)
    typer.echo(f"{out}: {clips} clips of {frames} frames" if clips is not None else f"{out}: {n} frames")


@train_app.command("wan")
@config_options(WanTrainConfig)
def train_wan_command(
    cfg: WanTrainConfig,
    time_budget: Optional[float] = typer.Option(None, help="Minutes for this leg; it stops with a checkpoint, and the same command resumes it."),
    cpu_budget: bool = typer.Option(False, help="Count --time-budget in this process's CPU minutes (all threads: 2 threads for 25 wall minutes is 50), so equal-compute arms stay equal whatever else the machine runs."),
    threads: Optional[int] = typer.Option(None, help="torch threads (default: torch's)."),
    score: int = typer.Option(0, help="N > 0: after the leg, score shapes-geneval at N images per prompt and add a point to RUN/curve.jsonl (the learning curve)."),
):
    """Pretrain (or resume) a ShapesWorld Wan DiT on text-to-image; saves a one-frame pipeline."""
    import dataclasses

    import torch

    from ..methods.wan.train import clips_seen, samples_seen, train_wan

    if threads:
        torch.set_num_threads(threads)
    cfg = dataclasses.replace(cfg, time_budget=None if time_budget is None else 60 * time_budget, budget_clock="cpu" if cpu_budget else "wall")
    try:
        cfg.check()
        train_wan(cfg)
    except ValueError as e:
        fail(e)
    output_dir = Path(cfg.output_dir)
    typer.echo(f"{output_dir / 'pipeline'} ({samples_seen(output_dir)} samples seen"
               + (f", {clips_seen(output_dir)} clips)" if cfg.clips else ")"))
    if score > 0:
        from ..methods.wan.curve import score_leg

        row = score_leg(output_dir, n=score)
        typer.echo(f"shapes-geneval at {row['samples_seen']:,} images: {row['overall']:.3f} ({output_dir / 'curve.jsonl'})")


@wan_app.command("curve")
def wan_curve(
    runs: list[Path] = typer.Argument(..., help="Run folders whose curve.jsonl to draw (`train wan --score N`), or curve .jsonl files."),
    out: Path = typer.Option(..., "-o", "--out", help="The figure (PNG)."),
):
    """Plot shapes-geneval against training images seen, for one run or several."""
    from ..methods.wan.curve import curve_file, plot_curve

    missing = [str(curve_file(r)) for r in runs if not curve_file(r).is_file()]
    if missing:
        fail(ValueError(f"no curve at {', '.join(missing)}: score legs with `reasongen train wan ... --score 1`"))
    check_output(out, (".png",), "the figure")
    plot_curve(runs, out)
    typer.echo(str(out))


@wan_app.command("ship")
def wan_ship(
    pipeline: Path = typer.Argument(..., help="A pipeline folder `reasongen train wan` wrote (RUN/pipeline)."),
    out: Path = typer.Option(..., "--out", help="The shipped model folder to write (must not exist), e.g. src/reasongen/models/shapes-wan."),
    vae: Optional[Path] = typer.Option(None, help="The shared VAE folder to name instead of a copy (default: the shipped ShapesWorld VAE)."),
):
    """Make a trained base a shipped model: fp16 DiT, the shared VAE named rather than copied, training.json kept."""
    from ..methods import SHIPPED_MODELS
    from ..methods.wan.ship import ship_pipeline

    try:
        typer.echo(str(ship_pipeline(pipeline, out, vae or SHIPPED_MODELS / "shapes-vae")))
    except ValueError as e:
        fail(e)


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
