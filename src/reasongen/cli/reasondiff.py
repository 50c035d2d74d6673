"""ReasonDiff: `reasongen video`, its data, both training stages, the trained narrator, and the video benchmarks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .common import (
    app,
    check_folder,
    check_options,
    check_output,
    check_training,
    check_prompt,
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
    import torch

    from ..methods import model_path
    from ..images import save_chain
    from ..methods.reasondiff.narrator import ChatNarrator, one_prompt, openai_chat, parse_narration, transformers_chat, world_examples
    from ..methods.reasondiff.pipeline import ReasonDiffPipeline
    from ..methods.reasondiff.world_narrator import ShapesNarrator

    check_output(output, (".gif",), "the clip")
    if sum(x is not None for x in (narration, narrator_url, narrator_mllm, trained_narrator)) > 1:
        fail(ValueError("name one narrator: --narration FILE (an answer already written), --narrator-url URL --narrator-model NAME, "
                         "--narrator-mllm FOLDER or --trained-narrator FOLDER"))  # fmt: skip
    if narrator_url is not None and not narrator_model:
        fail(ValueError("--narrator-url needs --narrator-model (the model name the server serves)"))
    check_prompt(text, "--text")
    check_options(seed=seed, steps=steps, guidance=guidance, device=device)
    condition = read_image(image, "--image")
    try:
        with reading_model(model):
            pipe = ReasonDiffPipeline.from_pretrained(model_path(model, "reasondiff-shapes", "reasongen train reasondiff"), device=device)
        cond, problems = pipe.check_image(condition)
        T = pipe.config["num_frames"]
        if narration is not None:
            told = parse_narration(narration.read_text(), T, fallback_text=text)
        elif narrator_url is not None or narrator_mllm is not None:
            chat = openai_chat(narrator_url, narrator_model) if narrator_url else transformers_chat(narrator_mllm, device)
            told = ChatNarrator(chat, world_examples(num_frames=T))(text, cond, T)
        elif trained_narrator is not None:
            from ..methods.reasondiff.trained_narrator import load_trained_narrator

            told = load_trained_narrator(trained_narrator, device)(text, cond, T)
        else:
            told = ShapesNarrator()(text, cond, T)
        if not pipe.config["multi_frame"]:
            told = one_prompt(told, text)
            typer.echo("the model was trained with one prompt in every frame: the narrator's anchor, the text in every frame")
        out = pipe(cond, told, steps, guidance, generator=torch.Generator().manual_seed(seed))
    except (ValueError, OSError) as e:
        fail(e)
    output.parent.mkdir(parents=True, exist_ok=True)
    stem = output.with_suffix("")
    save_chain(list(out.frames), f"{stem}.png", output)
    gif = gif_frames(output)
    if len(gif) != len(out.frames):
        raise RuntimeError(f"{output}: its frame durations account for {len(gif)} frames, the clip has {len(out.frames)}")
    record = {"text": text, "image": str(image), "anchor": out.anchor, "clip_frames": len(out.frames), "gif_frames": max(gif) + 1,
              "gif_anchor": gif[out.anchor], "narratives": out.narratives, "problems": problems + out.problems}  # fmt: skip
    Path(f"{stem}.json").write_text(json.dumps(record, indent=1) + "\n")
    for problem in record["problems"]:
        typer.echo(f"repaired: {problem}")
    typer.echo(f"anchor frame {out.anchor} of {len(out.frames)} (frame {gif[out.anchor]} of the GIF's {max(gif) + 1}); {output}, {stem}.png, {stem}.json")


def gif_frames(path) -> list[int]:
    """The GIF frame each clip frame shows. A GIF writer merges identical consecutive frames into one
    and adds their durations, so the written file's durations (GIF_FRAME_MS a clip frame) say which."""
    from PIL import Image

    from ..images import GIF_FRAME_MS

    index = []
    with Image.open(path) as gif:
        for k in range(gif.n_frames):
            gif.seek(k)
            index += [k] * max(1, round(gif.info.get("duration", GIF_FRAME_MS) / GIF_FRAME_MS))
    return index


@sample_app.command("video")
def sample_video(
    outdir: Path = typer.Option(..., help="Output folder: info.json, records.jsonl and one PNG strip per case."),
    model: str = typer.Option(..., help="A ReasonDiff pipeline folder, `oracle` (the benchmark's own clips: the reference) or `still` (the condition image in every frame: the floor a generator must beat)."),
    benchmark: str = typer.Option("shapes-video-unpaired", help="shapes-video-unpaired, shapes-video-paired, or a JSONL file of cases."),
    narrator: str = typer.Option("oracle", help="oracle (true per-frame captions and anchor), world (the world's reasoner from the text and image alone), trained (the anchor read by a network trained on clips, the world's narratives around it) first-frame (frame 0 and the text in every frame: plain image-to-video) or rewrite (the paper's rewrite-prompt baseline: frame 0 and one prompt rewritten by the world's reasoner in every frame)."),
    trained_narrator: Optional[Path] = typer.Option(None, help="With --narrator trained: a folder from `reasongen train narrator` (RUN/narrator); default: the shipped one."),
    limit: Optional[int] = typer.Option(None, help="Only the first N cases."),
    steps: Optional[int] = typer.Option(None, help="Sampling steps (default: the model's)."),
    guidance: Optional[float] = typer.Option(None, help="Guidance scale (default: the model's)."),
    enhanced: Optional[bool] = typer.Option(None, "--enhanced/--no-enhanced", help="AlignFormer's per-frame latents, or the image at the anchor only (ablation). Default: as the model was trained."),
    batch_size: int = typer.Option(8, help="Clips sampled together (each from its own seed, so the clips do not depend on it)."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
):
    """Sample ReasonDiff over a ShapesWorld video benchmark (each case's seed is its index)."""
    import numpy as np
    import torch

    from ..methods.reasondiff.bench import read_cases, sample_benchmark

    check_options(limit=limit, steps=steps, guidance=guidance, batch_size=batch_size, device=device)
    check_folder(outdir, "--outdir")
    try:
        cases = read_cases(benchmark)[:limit]
        trained_as = {"multi_frame": True, "enhanced": enhanced}
        if model == "oracle":
            def generate(images, told, chunk, seeds):
                return [case.clip.render(image.shape[0]) for image, case in zip(images, chunk)]
        elif model == "still":
            def generate(images, told, chunk, seeds):
                return [np.repeat(image[None], len(case.clip), axis=0) for image, case in zip(images, chunk)]
        else:
            from ..methods.reasondiff.pipeline import ReasonDiffPipeline

            pipe = ReasonDiffPipeline.from_pretrained(Path(model), device=device)
            trained_as = {"multi_frame": pipe.config["multi_frame"], "enhanced": pipe.config["enhanced"] if enhanced is None else enhanced}

            def generate(images, told, chunk, seeds):
                generators = [torch.Generator().manual_seed(s) for s in seeds]
                return [out.frames for out in pipe.many(images, told, steps, guidance, generators, enhanced)]
        info = {"benchmark": benchmark, "model": model, **trained_as, "steps": steps, "guidance": guidance,
                "trained_narrator": str(trained_narrator) if trained_narrator else None}  # fmt: skip
        sample_benchmark(generate, cases, outdir, narrator, info, trained_narrator=trained_narrator, batch_size=batch_size,
                         single_prompt=not trained_as["multi_frame"])  # fmt: skip
    except (ValueError, OSError) as e:
        fail(e)
    typer.echo(f"{outdir}: {len(cases)} clips")


@reasondiff_app.command("data")
def reasondiff_data(
    out: Path = typer.Option(..., help="Data folder: the pairs and their latents."),
    vae: Path = typer.Option(..., help="The VAE: the image VAE for packed latents (src/reasongen/models/shapes-vae), a video VAE for video latents (`reasongen train vae --clip-frames 17 ...`: RUN/vae)."),
    clip_latents: str = typer.Option("packed", help="packed (each frame through the image VAE, four frames stacked per latent frame) or video (the clip through a video VAE whole, as the paper; docs/reasondiff.md)."),
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
def train_reasondiff(
    data: Path = typer.Option(..., help="Folder from `reasongen reasondiff data`."),
    vae: Path = typer.Option(..., help="The VAE the data was encoded with (shipped inside the pipeline)."),
    output_dir: Path = typer.Option(..., help="Run folder: checkpoints/, log.jsonl, and pipeline/ at the end."),
    stage: int = typer.Option(1, help="1: the DiT and AlignFormer jointly on the flow loss; 2: AlignFormer alone, plus the auxiliary loss."),
    init_from: Optional[Path] = typer.Option(None, help="A ReasonDiff pipeline to start from (stage 2 starts from stage 1's), or a local diffusers Wan2.1-I2V folder (the real path: its DiT, VAE, umT5 and CLIP, a new AlignFormer; use with --lora-rank 16)."),
    preset: str = typer.Option("shapes", help="Transformer preset (its input channels become 2 x latent + mask)."),
    steps: int = typer.Option(4000, help="Optimiser steps."),
    batch_size: int = typer.Option(16, help="Global batch of clips."),
    lr: float = typer.Option(5e-4, help="Peak learning rate (AdamW, cosine decay)."),
    aux_weight: float = typer.Option(0.2, help="Stage 2: weight of ||c* - c||^2 (the paper's 0.2; 0 is the ablation without it)."),
    multi_frame: bool = typer.Option(True, "--multi-frame/--single-prompt", help="Per-frame narratives, or the clip's caption in every frame (ablation)."),
    enhanced: bool = typer.Option(True, "--enhanced/--no-enhanced", help="AlignFormer's per-frame latents, or the image at the anchor only (ablation)."),
    ema: float = typer.Option(0.999, help="EMA decay of the shipped weights."),
    mixed_precision: str = typer.Option("no", help="no, or bf16."),
    checkpoint_every: int = typer.Option(250, help="Checkpoint every N steps."),
    seed: int = typer.Option(0, help="Seed."),
    flow_shift: Optional[float] = typer.Option(None, help="Timestep shift in training and sampling (default: --init-from's, else the preset's)."),
    anchor_mask: Optional[str] = typer.Option(None, help="How the anchor reaches the DiT: frame (Wan's per-frame mask, the image in its whole latent frame; a new model's default), frame-slot (the same mask, the image in its own frame's slot of frame-packed latents; measured no better, docs/reasondiff.md) or latent-frame (the mask on the whole latent frame, as the first model). With --init-from: the pipeline's own unless given."),
    lora_rank: int = typer.Option(0, help="Stage 1: 0 trains the whole DiT; R > 0 freezes it and trains a rank-R LoRA through PEFT beside AlignFormer, as the released code (rank 16); needs --init-from. The pipeline saves the adapter and the base's path."),
    lora_alpha: Optional[float] = typer.Option(None, help="LoRA alpha (default: the rank, as the released code's 16/16)."),
    gradient_checkpointing: bool = typer.Option(False, help="Recompute the DiT's blocks in the backward pass: less memory, more time (large models)."),
    text_attention: Optional[str] = typer.Option(None, help="Which narratives the DiT's cross-attention reads: all (every frame reads every frame's narrative, the released code's; a new model's default) or frame (each latent frame its own). With --init-from: the pipeline's own unless given."),
):
    """Train ReasonDiff (stage 1 or 2) on ShapesWorld clips and save a ReasonDiffPipeline."""
    from ..methods.reasondiff.train import ReasonDiffTrainConfig, train_reasondiff

    check_training(steps, batch_size, lr, checkpoint_every, seed)
    cfg = ReasonDiffTrainConfig(str(data), str(vae), str(output_dir), stage, None if init_from is None else str(init_from), preset,
                                steps, batch_size, lr, aux_weight, multi_frame, enhanced, ema, mixed_precision, checkpoint_every,
                                seed, flow_shift, anchor_mask, lora_rank, lora_alpha, gradient_checkpointing, text_attention)  # fmt: skip
    try:
        train_reasondiff(cfg, say=typer.echo)
    except (ValueError, OSError) as e:
        fail(e)
    typer.echo(f"{output_dir / 'pipeline'}")


@train_app.command("narrator")
def train_narrator(
    output_dir: Path = typer.Option(..., help="Run folder: checkpoints/, log.jsonl, and the trained narrator/ at the end."),
    steps: int = typer.Option(3000, help="Optimiser steps."),
    batch_size: int = typer.Option(64, help="Global batch of cases."),
    lr: float = typer.Option(1e-3, help="Peak learning rate (AdamW, cosine decay to 10%)."),
    frames: int = typer.Option(17, help="Clip length the narrator places images in (1 + 4k)."),
    heldout: int = typer.Option(1000, help="Fresh unpaired cases the finished narrator is measured on, beside the world's reasoner."),
    checkpoint_every: int = typer.Option(250, help="Checkpoint every N steps."),
    seed: int = typer.Option(0, help="Seed of the cases and the initialisation."),
):
    """Train ReasonDiff's small narrator on ShapesWorld clips: where in the clip an image belongs, from the image and the text."""
    import torch

    from ..backbones.image_text_cnn import ImageTextCNN
    from ..backbones.text import TextFeatures, load_text_encoder
    from ..methods.reasondiff.trained_narrator import AnchorCases, AnchorTask, heldout_report
    from ..train.loop import TrainConfig, train
    from ..world.video import check_clip_length

    check_training(steps, batch_size, lr, checkpoint_every, seed)
    try:
        check_clip_length(frames)
    except ValueError as e:
        fail(e)
    features = TextFeatures(load_text_encoder("minilm"))
    cfg = TrainConfig(str(output_dir), steps, batch_size=batch_size, lr=lr, warmup_steps=50, lr_decay="cosine",
                      checkpoint_every=checkpoint_every, seed=seed, extra={"frames": frames})  # fmt: skip
    torch.manual_seed(seed)
    model = train(ImageTextCNN(outputs=frames), AnchorTask(features), AnchorCases(num_frames=frames, seed=seed), cfg).eval()
    model.save_pretrained(output_dir / "narrator", safe_serialization=True)
    report = heldout_report(model, features, heldout)
    (output_dir / "narrator_report.json").write_text(json.dumps(report, indent=1) + "\n")
    typer.echo(f"{output_dir / 'narrator'}: held-out anchor accuracy {report['anchor_accuracy']:.3f} "
               f"(world's reasoner {report['world_reasoner_anchor_accuracy']:.3f}, frame 0 {report['first_frame_anchor_accuracy']:.3f})")  # fmt: skip


@eval_app.command("video")
def eval_video(
    folder: Path = typer.Argument(..., help="A folder written by `reasongen sample video`."),
    out: Optional[Path] = typer.Option(None, help="Write the summary and per-clip rows as JSON here."),
):
    """Score sampled clips: text, event and image consistency, motion smoothness, dynamic degree, palette fidelity, anchor accuracy (eval/video.py)."""
    from ..methods.reasondiff.bench import read_cases, score_folder

    if not (folder / "info.json").is_file():
        fail(ValueError(f"{folder}: no info.json; pass a folder written by `reasongen sample video`"))
    info = json.loads((folder / "info.json").read_text())
    try:
        rows, summary = score_folder(folder, read_cases(info["benchmark"]))
    except (ValueError, OSError) as e:
        fail(e)
    summary = {**{k: info.get(k) for k in ("benchmark", "model", "narrator", "enhanced", "multi_frame")}, **summary,
               "folder": str(folder)}  # where the strips are, for `reasongen report`
    typer.echo(json.dumps(summary, indent=1))
    if out:
        out.write_text(json.dumps({"summary": summary, "clips": rows}, indent=1) + "\n")
