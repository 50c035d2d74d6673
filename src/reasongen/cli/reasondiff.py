"""ReasonDiff: `reasongen video`, its data, both training stages, the trained narrator, and the video benchmarks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..locks import write_atomic
from ..methods.reasondiff.config import NarratorTrainConfig, ReasonDiffTrainConfig
from .common import (
    app,
    check_folder,
    check_options,
    check_output,
    check_prompt,
    config_options,
    eval_app,
    fail,
    read_image,
    reading_model,
    reasondiff_app,
    sample_app,
    train_app,
)


@app.command("video")
def video(
    text: str = typer.Option(..., "--text", help="What happens in the clip."),
    image: Path = typer.Option(..., "--image", help="The condition image (a moment of the clip, any frame)."),
    output: Path = typer.Option(Path("clip.gif"), "-o", "--output", help="The clip (GIF); OUT.json (anchor, narratives, repairs) and OUT.png (a strip) go beside it."),
    model: Optional[str] = typer.Option(None, help="ReasonDiff pipeline folder (`reasongen train reasondiff`: RUN/pipeline)."),
    narration: Optional[Path] = typer.Option(None, help='A narrator\'s answer as JSON, {"anchor": k, "narratives": [one per frame]}; repairs are logged. Default narrator: the ShapesWorld reasoner.'),
    narrator_url: Optional[str] = typer.Option(None, help="An OpenAI-compatible server to narrate (e.g. a vLLM with Qwen2.5-VL): its base URL."),
    narrator_model: Optional[str] = typer.Option(None, help="The model name on --narrator-url."),
    narrator_mllm: Optional[Path] = typer.Option(None, help="A local transformers image-text-to-text checkpoint to narrate (e.g. Qwen2.5-VL-7B-Instruct)."),
    trained_narrator: Optional[Path] = typer.Option(None, help="A narrator trained by `reasongen train narrator` (RUN/narrator): its anchor, the ShapesWorld reasoner's narratives."),
    seed: int = typer.Option(0, help="Seed."),
    steps: Optional[int] = typer.Option(None, help="Sampling steps (default: the model's)."),
    guidance: Optional[float] = typer.Option(None, help="Guidance scale (default: the model's)."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
):
    """ReasonDiff: a clip from a text and an image that need not belong together, through a narrator."""
    from ..methods import model_path
    from ..methods.reasondiff.pipeline import ReasonDiffPipeline
    from ..methods.reasondiff.video import choose_narrator, make_video, write_video

    check_output(output, (".gif",), "the clip")
    try:
        narrate = choose_narrator(narration, narrator_url, narrator_model, narrator_mllm, trained_narrator, device)
    except ValueError as e:
        fail(e)
    check_prompt(text, "--text")
    check_options(seed=seed, steps=steps, guidance=guidance, device=device)
    condition = read_image(image, "--image")
    try:
        with reading_model(model):
            pipe = ReasonDiffPipeline.from_pretrained(model_path(model, "reasondiff-shapes", "reasongen train reasondiff"), device=device)
        out, problems = make_video(pipe, text, condition, narrate, steps, guidance, seed, say=typer.echo)
    except (ValueError, OSError) as e:
        fail(e)
    record = write_video(out, output, text, image, problems)
    for problem in record["problems"]:
        typer.echo(f"repaired: {problem}")
    stem = output.with_suffix("")
    typer.echo(f"anchor frame {out.anchor} of {len(out.frames)} (frame {record['gif_anchor']} of the GIF's {record['gif_frames']}); "
               f"{output}, {stem}.png, {stem}.json")


@sample_app.command("video")
def sample_video(
    outdir: Path = typer.Option(..., help="Output folder: info.json, records.jsonl and one PNG strip per case."),
    model: str = typer.Option(..., help="A ReasonDiff pipeline folder, a plain wan pipeline folder (`reasongen train wan`: RUN/pipeline; text-to-video: the image is not given, the prompt is the case's text from the narrator's first frame to its last), `oracle` (the benchmark's own clips: the reference) or `still` (the condition image in every frame: the floor a generator must beat)."),
    benchmark: str = typer.Option("shapes-video-unpaired", help="shapes-video-unpaired, shapes-video-paired, or a JSONL file of cases."),
    narrator: str = typer.Option("oracle", help="oracle (true per-frame captions and anchor), world (the world's reasoner from the text and image alone), trained (the anchor read by a network trained on clips, the world's narratives around it) first-frame (frame 0 and the text in every frame: plain image-to-video) or rewrite (the paper's rewrite-prompt baseline: frame 0 and one prompt rewritten by the world's reasoner in every frame)."),
    trained_narrator: Optional[Path] = typer.Option(None, help="With --narrator trained: a folder from `reasongen train narrator` (RUN/narrator); default: the shipped one."),
    limit: Optional[int] = typer.Option(None, help="Only the first N cases."),
    steps: Optional[int] = typer.Option(None, help="Sampling steps (default: the model's)."),
    guidance: Optional[float] = typer.Option(None, help="Guidance scale (default: the model's)."),
    enhanced: Optional[bool] = typer.Option(None, "--enhanced/--no-enhanced", help="ReasonDiff models: AlignFormer's per-frame latents, or the image at the anchor only (ablation). Default: as the model was trained."),
    batch_size: int = typer.Option(8, help="Clips sampled together (each from its own seed, so the clips do not depend on it)."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
):
    """Sample ReasonDiff (or the plain wan base, text-to-video) over a ShapesWorld video benchmark (each case's seed is its index)."""
    from ..methods.reasondiff.bench import sample_video as sample

    check_options(limit=limit, steps=steps, guidance=guidance, batch_size=batch_size, device=device)
    check_folder(outdir, "--outdir")
    try:
        cases = sample(model, benchmark, outdir, narrator, trained_narrator, limit, steps, guidance, enhanced, batch_size, device)
    except (ValueError, OSError) as e:
        fail(e)
    typer.echo(f"{outdir}: {cases} clips")


@reasondiff_app.command("data")
def reasondiff_data(
    out: Path = typer.Option(..., help="Data folder: the pairs and their latents."),
    vae: Path = typer.Option(..., help="The VAE: the image VAE for packed latents (src/reasongen/models/shapes-vae), a video VAE for video latents (`reasongen train vae --clip-frames 17 ...`: RUN/vae)."),
    clip_latents: str = typer.Option("packed", help="packed (each frame through the image VAE, four frames stacked per latent frame), video (the clip through a video VAE whole, as the paper) or frames (each frame through the image VAE, one latent frame each: to train from a `train wan` base; docs/reasondiff.md)."),
    n: int = typer.Option(20000, help="Number of training pairs."),
    frames: int = typer.Option(17, help="Frames per clip (1 + 4k)."),
    max_stride: int = typer.Option(3, help="Widest interval between kept frames (1: adjacent frames only)."),
    size: int = typer.Option(64, help="Canvas size."),
    seed: int = typer.Option(0, help="Seed."),
    workers: int = typer.Option(2, help="Processes for building pairs."),
    image_encoder: Optional[Path] = typer.Option(None, help="A diffusers Wan2.1-I2V folder: also store each condition image's CLIP features, which its DiT reads (the released code caches them too)."),
):
    """Build ReasonDiff training pairs (event clips at widened intervals, a condition frame each) and encode them."""
    from ..backbones.image_encoder import load_image_encoder
    from ..backbones.wan import load_vae
    from ..methods.reasondiff.data import build_pairs, check_clip_latents, encode_image_states, encode_pairs

    check_options(n=n, size=size, seed=seed, workers=workers)
    check_folder(out, "--out")
    try:
        check_clip_latents(clip_latents)
        build_pairs(out, n, frames, max_stride, size, seed, workers)
        fvae = load_vae(vae)
        encode_pairs(out, fvae, clip_latents)
        if image_encoder is not None:
            encode_image_states(out, load_image_encoder(image_encoder))
    except (ValueError, OSError) as e:
        fail(e)
    typer.echo(f"{out}: {n} pairs of {frames} frames, encoded")


@train_app.command("reasondiff")
@config_options(ReasonDiffTrainConfig)
def train_reasondiff(cfg: ReasonDiffTrainConfig):
    """Train ReasonDiff (stage 1 or 2) on ShapesWorld clips and save a ReasonDiffPipeline."""
    from ..methods.reasondiff.train import train_reasondiff

    try:
        train_reasondiff(cfg, say=typer.echo)
    except (ValueError, OSError) as e:
        fail(e)
    typer.echo(f"{Path(cfg.output_dir) / 'pipeline'}")


@train_app.command("narrator")
@config_options(NarratorTrainConfig)
def train_narrator(cfg: NarratorTrainConfig):
    """Train ReasonDiff's small narrator on ShapesWorld clips: where in the clip an image belongs, from the image and the text."""
    from ..methods.reasondiff.trained_narrator import train_narrator as train

    try:
        report = train(cfg)
    except ValueError as e:
        fail(e)
    typer.echo(f"{Path(cfg.output_dir) / 'narrator'}: held-out anchor accuracy {report['anchor_accuracy']:.3f} "
               f"(world's reasoner {report['world_reasoner_anchor_accuracy']:.3f}, frame 0 {report['first_frame_anchor_accuracy']:.3f})")  # fmt: skip


@eval_app.command("video")
def eval_video(
    folder: Path = typer.Argument(..., help="A folder written by `reasongen sample video`."),
    out: Optional[Path] = typer.Option(None, help="Write the summary and per-clip rows as JSON here."),
):
    """Score sampled clips: text, event and image consistency, motion smoothness, dynamic degree, palette fidelity, anchor accuracy (eval/video.py)."""
    from ..methods.reasondiff.bench import score_sampled

    try:
        rows, summary = score_sampled(folder)
    except (ValueError, OSError) as e:
        fail(e)
    typer.echo(json.dumps(summary, indent=1))
    if out:
        write_atomic(out, json.dumps({"summary": summary, "clips": rows}, indent=1) + "\n")
