"""The `reasongen` command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Reasoning-enhanced visual generation: sample, evaluate, and the ShapesWorld toolkit.", no_args_is_help=True)
world_app = typer.Typer(help="ShapesWorld: datasets, ground-truth renders, benchmark prompt sets.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate generated images.", no_args_is_help=True)
sample_app = typer.Typer(help="Sample a generator over a benchmark.", no_args_is_help=True)
app.add_typer(world_app, name="world")
app.add_typer(eval_app, name="eval")
app.add_typer(sample_app, name="sample")
train_app = typer.Typer(help="Train the project's models (resumable: rerun the same command to continue).", no_args_is_help=True)
app.add_typer(train_app, name="train")


def _fail(err: Exception) -> None:
    typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _comma_list(value: str, flag: str, choices, allow_all: bool = False) -> list[str]:
    """The items of a comma-separated option ('all': every choice); unknown items or none at all end
    the command with the choices named."""
    items = list(choices) if allow_all and value == "all" else [v.strip() for v in value.split(",") if v.strip()]
    if not items or any(v not in choices for v in items):
        _fail(ValueError(f"{flag} {value!r}: choose from {', '.join(choices)}, comma-separated" + (", or 'all'" if allow_all else "")))
    return items


def _sample(method: str, metadata: str, outdir: Path, n: int, size: int, seed: int, **options) -> None:
    from .eval.layout import read_metadata
    from .methods import get_generator
    from .methods.sampling import write_geneval_samples

    try:
        every_frame = options.get("frame") == "all"
        if options.get("frame") is not None:
            options["frame"] = -1 if every_frame else _frame_option(options["frame"])
        generator = get_generator(method, size=size, **options)
        records = read_metadata(metadata, generator.classes, generator.colors)
        if every_frame:  # one chain per seed, each frame into its own folder: outdir/f1 .. outdir/fK
            for k in reversed(range(generator.num_frames)):
                made = write_geneval_samples(records, generator.frame_view(k), outdir / f"f{k + 1}", n=n, seed=seed)
                typer.echo(f"{outdir / f'f{k + 1}'}: {len(records)} prompts x {n} images ({made} new)")
            return
        made = write_geneval_samples(records, generator, outdir, n=n, seed=seed)
    except ValueError as e:
        _fail(e)
    typer.echo(f"{outdir}: {len(records)} prompts x {n} images ({made} new)")


def _frame_option(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"--frame {value!r}: give a frame index (-1 for the last) or 'all'") from None


@sample_app.command("geneval")
def sample_geneval(
    method: str = typer.Option(..., help="Generator: oracle (the ShapesWorld ground truth), cof (CoF-T2I), mcot (FoX) or bicot (T2I-R1)."),
    metadata: str = typer.Option(..., help="Metadata JSONL file, or shapes-geneval / shapes-reason."),
    outdir: Path = typer.Option(..., help="Output folder (GenEval's layout); an interrupted run resumes here."),
    n: int = typer.Option(4, help="Images per prompt."),
    size: int = typer.Option(64, help="Canvas size in pixels (ShapesWorld generators)."),
    seed: int = typer.Option(0, help="Base seed; image j of prompt i uses a seed derived from (seed, i, j)."),
    model: Optional[str] = typer.Option(None, help="Model folder for learned methods (default: the shipped one)."),
    frame: Optional[str] = typer.Option(None, help="cof: which chain frame is the image (-1 last, 0 F1, 1 F2), or 'all': each frame of the same chains into DIR/f1 .. DIR/fK."),
    steps: Optional[int] = typer.Option(None, help="Sampling steps (default: the model's)."),
    guidance: Optional[float] = typer.Option(None, help="Classifier-free guidance scale (default: the model's)."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda (learned methods)."),
    mode: Optional[str] = typer.Option(None, help="mcot: direct, twice (better of two by reflection), plan_act or mcot (the full chain, default)."),
    cot: Optional[bool] = typer.Option(None, "--cot/--no-cot", help="bicot: with the semantic CoT (default) or the direct baseline."),
):
    """Write GenEval's output layout (DIR/00000/metadata.jsonl, DIR/00000/samples/0000.png) from any generator."""
    _sample(method, metadata, outdir, n, size, seed, model=model, frame=frame, steps=steps, guidance=guidance, device=device, mode=mode, cot=cot)


@sample_app.command("video")
def sample_video(
    outdir: Path = typer.Option(..., help="Output folder: info.json, records.jsonl and one PNG strip per case."),
    model: str = typer.Option(..., help="A ReasonDiff pipeline folder, or `oracle` (the benchmark's own clips: the reference)."),
    benchmark: str = typer.Option("shapes-video-unpaired", help="shapes-video-unpaired, shapes-video-paired, or a JSONL file of cases."),
    narrator: str = typer.Option("oracle", help="oracle (true per-frame captions and anchor), world (the world's reasoner from the text and image alone), trained (the anchor read by a network trained on clips, the world's narratives around it) or first-frame (frame 0 and the text in every frame: plain image-to-video)."),
    trained_narrator: Optional[Path] = typer.Option(None, help="With --narrator trained: a folder from `reasongen train narrator` (RUN/narrator); default: the shipped one."),
    limit: Optional[int] = typer.Option(None, help="Only the first N cases."),
    steps: Optional[int] = typer.Option(None, help="Sampling steps (default: the model's)."),
    guidance: Optional[float] = typer.Option(None, help="Guidance scale (default: the model's)."),
    enhanced: bool = typer.Option(True, "--enhanced/--no-enhanced", help="AlignFormer's per-frame latents, or the image at the anchor only (ablation)."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
):
    """Sample ReasonDiff over a ShapesWorld video benchmark (each case's seed is its index)."""
    import torch

    from .methods.reasondiff.bench import read_cases, sample_benchmark

    try:
        cases = read_cases(benchmark)[:limit]
        if model == "oracle":
            def generate(image, told, case, seed):
                return case.clip.render(image.shape[0])
        else:
            from .methods.reasondiff.pipeline import ReasonDiffPipeline

            pipe = ReasonDiffPipeline.from_pretrained(Path(model), device=device)

            def generate(image, told, case, seed):
                out = pipe(image, told, steps, guidance, generator=torch.Generator().manual_seed(seed), enhanced=enhanced)
                return out.frames
        info = {"benchmark": benchmark, "model": model, "enhanced": enhanced, "trained_narrator": str(trained_narrator) if trained_narrator else None}
        sample_benchmark(generate, cases, outdir, narrator, info, trained_narrator=trained_narrator)
    except (ValueError, OSError) as e:
        _fail(e)
    typer.echo(f"{outdir}: {len(cases)} clips")


@world_app.command("render")
def world_render(
    metadata: str = typer.Argument(..., help="Metadata JSONL file, or shapes-geneval / shapes-reason."),
    outdir: Path = typer.Option(..., help="Output folder (GenEval's layout)."),
    n: int = typer.Option(4, help="Images per prompt."),
    size: int = typer.Option(64, help="Canvas size in pixels."),
    seed: int = typer.Option(0, help="Base seed."),
):
    """Render the ground truth of every prompt in GenEval's output layout (same as `sample geneval --method oracle`)."""
    _sample("oracle", metadata, outdir, n, size, seed)


@world_app.command("sample")
def world_sample(
    outdir: Path = typer.Option(..., help="Dataset folder: PNGs with metadata.jsonl beside them; resumes if it exists."),
    n: int = typer.Option(..., help="Number of images."),
    tags: str = typer.Option("all", help="Comma-separated tags, or 'all' (the six GenEval tags and reason)."),
    size: int = typer.Option(64, help="Canvas size in pixels."),
    seed: int = typer.Option(0, help="Seed; record i is drawn from (seed, i)."),
    split: str = typer.Option("in_distribution", help="Split of the reason prompts: in_distribution (training) or held_out."),
):
    """Write a ShapesWorld dataset: scenes, prompts and GenEval-style metadata."""
    from .world.dataset import write_dataset
    from .world.vocab import ALL_TAGS

    tag_list = list(ALL_TAGS) if tags == "all" else [t.strip() for t in tags.split(",") if t.strip()]
    try:
        made = write_dataset(outdir, n, tag_list, size=size, seed=seed, split=split)
    except ValueError as e:
        _fail(e)
    typer.echo(f"{outdir}: {n} images ({made} new)")


@world_app.command("benchmarks")
def world_benchmarks(
    outdir: Optional[Path] = typer.Option(None, help="Where to write; default: the package's shipped data folder."),
):
    """Regenerate the shipped benchmark files: shapes-geneval and shapes-reason (seed 43), and the
    video cases shapes-video-unpaired and shapes-video-paired."""
    from .world.benchmarks import BENCHMARKS, VIDEO_BENCHMARKS, shipped_path, write

    for name in BENCHMARKS + VIDEO_BENCHMARKS:
        path = (outdir / f"{name}.jsonl") if outdir else shipped_path(name)
        typer.echo(f"{path}: {write(name, path)} {'cases' if name in VIDEO_BENCHMARKS else 'prompts'}")


@eval_app.command("geneval")
def eval_geneval(
    folder: Path = typer.Argument(..., help="A GenEval output folder: <dir>/<index>/metadata.jsonl and samples/<n>.png."),
    detector: str = typer.Option("shapes", help="shapes (ShapesWorld, no weights) or mask2former (GenEval's stack)."),
    out: Optional[Path] = typer.Option(None, help="Write the summary JSON here (keys: overall, tags, ...)."),
    per_image: Optional[Path] = typer.Option(None, help="Write GenEval's per-image rows (JSONL) here."),
    workers: int = typer.Option(2, help="Processes for the shapes detector."),
    mask2former: Optional[str] = typer.Option(None, help="Mask2Former COCO instance checkpoint: local folder or hub id."),
    clip: Optional[str] = typer.Option(None, help="CLIP checkpoint (GenEval: ViT-L/14): local folder or hub id."),
    device: str = typer.Option("cpu", help="Device for the mask2former detector."),
    allow_download: bool = typer.Option(False, help="Let the mask2former detector fetch a hub id (off: local files only)."),
    threshold: float = typer.Option(0.3, help="GenEval's confidence threshold."),
    counting_threshold: float = typer.Option(0.9, help="GenEval's threshold under the counting tag."),
):
    """Score images with GenEval's rules: per-tag table, overall (mean of tags), % correct images and prompts."""
    from .eval.run import evaluate_folder, format_table

    detector_options = {}
    if detector == "mask2former":
        detector_options = {"model": mask2former, "clip": clip, "device": device, "allow_download": allow_download}
        workers = 1
    options = {"threshold": threshold, "counting_threshold": counting_threshold}
    try:
        rows, summary = evaluate_folder(folder, detector, detector_options, options, workers=workers)
    except ValueError as e:
        _fail(e)
    typer.echo(format_table(summary))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=1) + "\n")
    if per_image:
        per_image.parent.mkdir(parents=True, exist_ok=True)
        per_image.write_text("".join(json.dumps(r) + "\n" for r in rows))


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
    clip_frames: int = typer.Option(1, help="1: single frames. 1 + 4k (e.g. 17): fine-tune on whole ShapesWorld event clips, which trains the temporal layers (needs --init-from)."),
    init_from: Optional[Path] = typer.Option(None, help="A trained VAE folder to start from (e.g. src/reasongen/models/shapes-vae)."),
    keep_frame_path: bool = typer.Option(True, help="With --clip-frames: train only the weights a single frame never reads, so single frames and every clip's first frame decode exactly as before (train/vae.py)."),
    checkpoint_every: int = typer.Option(100, help="Checkpoint every N steps."),
    seed: int = typer.Option(0, help="Seed of the data order, noise and images."),
):
    """Train the ShapesWorld VAE (AutoencoderKLWan, `shapes` preset) on single frames, or fine-tune it on clips."""
    import torch

    from .backbones.wan import FrameVAE, build_vae, load_vae
    from .train.data import ShapesClips, ShapesImages
    from .train.loop import TrainConfig, train
    from .train.vae import PatchPCA, VAETask, finish_vae, init_for_training, keep_frame_path as freeze_frame_path

    if clip_frames != 1 and init_from is None:
        raise typer.BadParameter(f"--clip-frames {clip_frames} fine-tunes a trained VAE: pass --init-from (e.g. src/reasongen/models/shapes-vae)")
    if init_from is not None:
        teacher_steps = 0  # the warm-up only exists to start from scratch
    if not 0 <= teacher_steps <= steps:
        raise typer.BadParameter(f"--teacher-steps {teacher_steps} must lie in [0, --steps {steps}]")
    cfg = TrainConfig(str(output_dir), steps, batch_size=batch_size, lr=lr, warmup_steps=50, lr_decay="cosine",
                      checkpoint_every=checkpoint_every, seed=seed, find_unused_parameters=True,
                      extra={"size": size, "draft_fraction": draft_fraction, "teacher_steps": teacher_steps,
                             "clip_frames": clip_frames, "init_from": str(init_from),
                             "keep_frame_path": keep_frame_path and clip_frames > 1})  # fmt: skip
    torch.manual_seed(seed)
    try:
        if clip_frames == 1:
            data, stats, heldout = (ShapesImages(10**7, size, seed, draft_fraction), ShapesImages(2048, size, seed, draft_fraction),
                                    ShapesImages(512, size, seed + 1_000_003, 0.0))  # fmt: skip
        else:
            data, stats, heldout = (ShapesClips(10**7, clip_frames, size, seed), ShapesClips(128, clip_frames, size, seed),
                                    ShapesClips(64, clip_frames, size, seed + 1_000_003))  # fmt: skip
        vae = load_vae(init_from).vae.train() if init_from is not None else build_vae("shapes")
    except (ValueError, OSError) as e:
        _fail(e)
    stats_images = stats.batch(range(len(stats)))
    if init_from is None:
        init_for_training(vae)
        task = VAETask(PatchPCA(stats_images, FrameVAE(vae).spatial, vae.config.z_dim), teacher_steps, kl_weight=kl_weight)
    else:
        task = VAETask(kl_weight=kl_weight)
    if keep_frame_path and clip_frames > 1:
        freeze_frame_path(vae)
    vae = train(vae, task, data, cfg)
    report = finish_vae(vae, stats_images, heldout.batch(range(len(heldout))), output_dir / "vae")
    (output_dir / "vae_report.json").write_text(json.dumps(report, indent=1) + "\n")
    typer.echo(f"{output_dir / 'vae'}: held-out PSNR {report['heldout_psnr_db']:.2f} dB")


@app.command("generate")
def generate(
    prompt: str = typer.Argument(..., help="What to draw."),
    output: Path = typer.Option(Path("out.png"), "-o", "--output", help="The image (PNG)."),
    method: str = typer.Option("cof", help="cof (CoF-T2I chain of frames), mcot (FoX: plan, act, reflect, correct) or bicot (T2I-R1: CoT, then image tokens)."),
    model: Optional[str] = typer.Option(None, help="Model folder (default: the shipped ShapesWorld model)."),
    seed: int = typer.Option(0, help="Seed."),
    steps: Optional[int] = typer.Option(None, help="Sampling steps (default: the model's)."),
    guidance: Optional[float] = typer.Option(None, help="Guidance scale (default: the model's)."),
    save_chain: bool = typer.Option(False, "--save-chain", help="cof: also write the chain as OUT-chain.png (strip) and OUT-chain.gif."),
    mode: str = typer.Option("mcot", help="mcot: direct, twice, plan_act or mcot (the full chain)."),
    cot: bool = typer.Option(True, "--cot/--no-cot", help="bicot: write the semantic CoT first (off: the direct baseline)."),
    save_trace: bool = typer.Option(False, "--save-trace", help="mcot: also write OUT-trace.json (plan, layout, why it stopped), the layout over the image, each heatmap overlay, and the image before and after each correction."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
):
    """Generate one image from a prompt with a reasoning method."""
    from PIL import Image

    if method not in ("cof", "mcot", "bicot"):
        _fail(ValueError(f"unknown method {method!r} for generate; available: cof, mcot, bicot"))
    if save_chain and method != "cof" or save_trace and method != "mcot":
        _fail(ValueError("--save-chain goes with --method cof, --save-trace with --method mcot"))
    try:
        if method == "cof":
            image = _generate_cof(prompt, output, model, seed, steps, guidance, save_chain, device)
        elif method == "mcot":
            image = _generate_mcot(prompt, output, model, seed, steps, guidance, mode, save_trace, device)
        else:
            image = _generate_bicot(prompt, model, seed, guidance, cot, device)
    except ValueError as e:
        _fail(e)
    output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(output)
    typer.echo(f"{output}")


def _generate_cof(prompt, output, model, seed, steps, guidance, save_chain, device):
    import torch

    from .methods import model_path
    from .methods.cof.pipeline import CoFPipeline, save_chain as write_chain, to_uint8

    pipe = CoFPipeline.from_pretrained(model_path(model, "cof-shapes", "reasongen train cof"), device=device)
    out = pipe(prompt, generator=torch.Generator().manual_seed(seed), num_inference_steps=steps,
               guidance_scale=guidance, return_chain=save_chain)  # fmt: skip
    if save_chain:
        output.parent.mkdir(parents=True, exist_ok=True)
        stem = output.with_suffix("")
        write_chain(out.chains[0], f"{stem}-chain.png", f"{stem}-chain.gif")
        typer.echo(f"{stem}-chain.png, {stem}-chain.gif")
    return to_uint8(out.images[0])


def _generate_bicot(prompt, model, seed, guidance, cot, device):
    from .methods import model_path
    from .methods.bicot import SHIPPED
    from .methods.bicot.pipeline import BiCoTPipeline

    pipe = BiCoTPipeline.from_pretrained(model_path(model, SHIPPED, "reasongen train bicot"), device=device)
    out = pipe(prompt, seed, use_cot=cot, guidance_scale=guidance)[0]
    if out.cot is not None:
        typer.echo(f"cot: {out.cot}")
    return out.image


def _generate_mcot(prompt, output, model, seed, steps, guidance, mode, save_trace, device):
    from .methods import model_path
    from .methods.mcot import SHIPPED
    from .methods.mcot.pipeline import MCoTPipeline
    from .methods.mcot.trace import save_trace as write_trace

    pipe = MCoTPipeline.from_pretrained(model_path(model, SHIPPED, "reasongen train mcot"), device=device)
    trace = pipe(prompt, seed, mode=mode, num_inference_steps=steps, guidance_scale=guidance)[0]
    if trace.caption is not None:
        typer.echo(f"caption: {trace.caption}\nlayout: {trace.layout_text}")
    for problem in trace.layout_problems:
        typer.echo(f"layout: {problem}")
    typer.echo(f"chain: {len(trace.images) - 1} correction(s); {trace.stopped}")
    if save_trace:
        output.parent.mkdir(parents=True, exist_ok=True)
        typer.echo(", ".join(str(p) for p in write_trace(trace, output.with_suffix(""))))
    return trace.image


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
    import numpy as np
    import torch
    from PIL import Image

    from .methods import model_path
    from .methods.cof.pipeline import save_chain
    from .methods.reasondiff.narrator import ChatNarrator, openai_chat, parse_narration, transformers_chat, world_examples
    from .methods.reasondiff.pipeline import ReasonDiffPipeline
    from .methods.reasondiff.world_narrator import ShapesNarrator

    if sum(x is not None for x in (narration, narrator_url, narrator_mllm, trained_narrator)) > 1:
        _fail(ValueError("name one narrator: --narration FILE (an answer already written), --narrator-url URL --narrator-model NAME, "
                         "--narrator-mllm FOLDER or --trained-narrator FOLDER"))  # fmt: skip
    if narrator_url is not None and not narrator_model:
        _fail(ValueError("--narrator-url needs --narrator-model (the model name the server serves)"))
    try:
        pipe = ReasonDiffPipeline.from_pretrained(model_path(model, "reasondiff-shapes", "reasongen train reasondiff"), device=device)
        cond, problems = pipe.check_image(Image.open(image))
        T = pipe.config["num_frames"]
        if narration is not None:
            told = parse_narration(narration.read_text(), T, fallback_text=text)
        elif narrator_url is not None or narrator_mllm is not None:
            chat = openai_chat(narrator_url, narrator_model) if narrator_url else transformers_chat(narrator_mllm, device)
            told = ChatNarrator(chat, world_examples(num_frames=T))(text, cond, T)
        elif trained_narrator is not None:
            from .methods.reasondiff.trained_narrator import load_trained_narrator

            told = load_trained_narrator(trained_narrator, device)(text, cond, T)
        else:
            told = ShapesNarrator()(text, cond, T)
        out = pipe(cond, told, steps, guidance, generator=torch.Generator().manual_seed(seed))
    except (ValueError, OSError) as e:
        _fail(e)
    output.parent.mkdir(parents=True, exist_ok=True)
    stem = output.with_suffix("")
    save_chain(list(out.frames.astype(np.float32) / 255.0), f"{stem}.png", output)
    record = {"text": text, "image": str(image), "anchor": out.anchor, "narratives": out.narratives, "problems": problems + out.problems}
    Path(f"{stem}.json").write_text(json.dumps(record, indent=1) + "\n")
    for problem in record["problems"]:
        typer.echo(f"repaired: {problem}")
    typer.echo(f"anchor frame {out.anchor}; {output}, {stem}.png, {stem}.json")


cof_app = typer.Typer(help="CoF-T2I data.", no_args_is_help=True)
app.add_typer(cof_app, name="cof")


@cof_app.command("data")
def cof_data(
    out: Path = typer.Option(..., help="Data folder: chains and their latents for each variant."),
    vae: Path = typer.Option(..., help="The trained VAE folder (from `reasongen train vae`: RUN/vae)."),
    n: int = typer.Option(20000, help="Number of chains."),
    size: int = typer.Option(64, help="Canvas size."),
    seed: int = typer.Option(0, help="Seed."),
    workers: int = typer.Option(2, help="Processes for building chains."),
    variants: str = typer.Option("all", help="Comma-separated variants to encode (cof, target, continuous), or 'all'; run again to add more."),
):
    """Build CoF chains (quality-aware routing of simulated anchors) and encode them for the three variants."""
    from .backbones.wan import load_vae
    from .methods.cof.data import VARIANTS, build_chains, encode_chains

    chosen = _comma_list(variants, "--variants", VARIANTS, allow_all=True)
    try:
        build_chains(out, n, size, seed, workers)
    except ValueError as e:
        _fail(e)
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
    init_from: Optional[Path] = typer.Option(None, help="Start from this pipeline's transformer (e.g. to train a saved model further); a resumable checkpoint in --output-dir wins."),
    flow_shift: Optional[float] = typer.Option(None, help="Timestep shift in training and in the saved pipeline's sampling (default: the preset's)."),
):
    """Train a Wan DiT on CoF chains (or a baseline variant) and save a CoFPipeline."""
    import torch

    from .backbones.text import load_text_encoder
    from .backbones.wan import build_transformer, get_preset, load_vae
    from .methods.cof.data import VARIANTS, ChainLatents
    from .methods.cof.pipeline import CoFPipeline
    from .methods.cof.train import CoFTask, PromptCache
    from .train.loop import TrainConfig, train

    if variant not in VARIANTS:
        _fail(ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}"))
    p = get_preset(preset)
    shift = p.flow_shift if flow_shift is None else flow_shift
    if shift <= 0:
        _fail(ValueError(f"--flow-shift {shift}: must be positive (1 = no shift)"))
    dataset = ChainLatents(data, variant)
    text_encoder = load_text_encoder(p.text_encoder, device="cuda" if torch.cuda.is_available() else "cpu")
    cfg = TrainConfig(str(output_dir), steps, batch_size=batch_size, lr=lr, warmup_steps=min(200, steps // 10),
                      lr_decay="cosine", ema_decay=ema, checkpoint_every=checkpoint_every, seed=seed,
                      mixed_precision=mixed_precision,
                      extra={"variant": variant, "preset": preset, "system_prompt": system_prompt, "flow_shift": shift})  # fmt: skip
    torch.manual_seed(seed)
    transformer = build_transformer(p, in_channels=dataset.latents.shape[1], out_channels=dataset.latents.shape[1])
    if init_from is not None:
        try:
            _load_transformer_weights(transformer, init_from)
        except ValueError as e:
            _fail(e)
    task = CoFTask(PromptCache(text_encoder, system_prompt), shift=shift)
    transformer = train(transformer, task, dataset, cfg)
    pipe = CoFPipeline(transformer.float().cpu(), load_vae(vae), text_encoder, num_frames=1 if variant == "target" else 3,
                       encoding="continuous" if variant == "continuous" else "framewise", system_prompt=system_prompt,
                       flow_shift=shift, height=dataset.size, width=dataset.size)  # fmt: skip
    pipe.save_pretrained(output_dir / "pipeline", dtype=torch.float16)
    typer.echo(f"{output_dir / 'pipeline'}")


mcot_app = typer.Typer(help="FoX (MCoT) data.", no_args_is_help=True)
app.add_typer(mcot_app, name="mcot")


@mcot_app.command("data")
def mcot_data(
    out: Path = typer.Option(..., help="Data folder: records (prompt, plan, target, flawed image and flaw mask) and their latents."),
    vae: Path = typer.Option(..., help="The trained VAE folder (e.g. src/reasongen/models/shapes-vae)."),
    n: int = typer.Option(20000, help="Number of records."),
    size: int = typer.Option(64, help="Canvas size."),
    seed: int = typer.Option(0, help="Seed."),
    workers: int = typer.Option(2, help="Processes for building records."),
):
    """Build FoX training records on ShapesWorld (all four tasks read them) and encode their images."""
    from .backbones.wan import load_vae
    from .methods.mcot.data import build_records, encode_records

    try:
        build_records(out, n, size, seed, workers)
    except ValueError as e:
        _fail(e)
    encode_records(out, load_vae(vae))
    typer.echo(f"{out}: {n} records")


@train_app.command("mcot")
def train_mcot(
    data: Path = typer.Option(..., help="Folder from `reasongen mcot data`."),
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
    """Train one FoXperts model on planning+acting, reflection and correction, and save an MCoTPipeline."""
    import torch

    from .backbones.foxperts import build_foxperts
    from .backbones.text import shapes_tokenizer
    from .backbones.wan import load_vae
    from .methods.mcot.data import MCoTRecords
    from .methods.mcot.pipeline import MCoTPipeline
    from .methods.mcot.train import TASKS, MCoTTask
    from .train.loop import TrainConfig, train

    try:
        tokenizer = shapes_tokenizer()
        fvae = load_vae(vae)
        dataset = MCoTRecords(data)
        task = MCoTTask(tokenizer, lm_weight=lm_weight, tasks=tuple(_comma_list(tasks, "--tasks", TASKS)), pixels_per_latent=fvae.spatial)
        torch.manual_seed(seed)
        model = build_foxperts(preset, vocab_size=len(tokenizer), experts=experts, pad_token_id=tokenizer.pad_token_id)
        if init_from is not None:
            _load_transformer_weights(model, init_from)
    except (ValueError, FileNotFoundError) as e:
        _fail(e)
    cfg = TrainConfig(str(output_dir), steps, batch_size=batch_size, lr=lr, warmup_steps=min(200, steps // 10),
                      lr_decay="cosine", ema_decay=ema, checkpoint_every=checkpoint_every, seed=seed,
                      mixed_precision=mixed_precision, find_unused_parameters=True,
                      extra={"experts": experts, "preset": preset, "tasks": tasks, "lm_weight": lm_weight})  # fmt: skip
    model = train(model, task, dataset, cfg)
    pipe = MCoTPipeline(model.float().cpu(), fvae, tokenizer, height=dataset.size, width=dataset.size)
    pipe.save_pretrained(output_dir / "pipeline", dtype=torch.float16)
    typer.echo(f"{output_dir / 'pipeline'}")


@train_app.command("vq")
def train_vq(
    output_dir: Path = typer.Option(..., help="Run folder: checkpoints/, log.jsonl, and the trained vq/ at the end."),
    preset: str = typer.Option("shapes", help="Janus preset whose VQ tokenizer to train."),
    steps: int = typer.Option(3000, help="Optimiser steps."),
    batch_size: int = typer.Option(32, help="Global batch."),
    lr: float = typer.Option(1e-3, help="Peak learning rate (AdamW, cosine decay to 10%)."),
    restart_every: int = typer.Option(100, help="Move codes unused for this many steps onto encoder outputs (0: never)."),
    teacher_steps: int = typer.Option(400, help="Warm-up steps on the fixed patch-PCA code before end-to-end training (train/vq.py)."),
    size: int = typer.Option(64, help="Canvas size."),
    checkpoint_every: int = typer.Option(100, help="Checkpoint every N steps."),
    seed: int = typer.Option(0, help="Seed."),
    mixed_precision: str = typer.Option("no", help="no, or bf16 (the nearest-code search stays in float32)."),
):
    """Train the VQ image tokenizer that T2I-R1's Janus model draws with (ShapesWorld renders)."""
    import torch

    from .train.data import ShapesImages
    from .train.loop import TrainConfig, train
    from .backbones.janus import vq_downsampling
    from .train.vae import PatchPCA, init_for_training
    from .train.vq import VQTask, build_vq, finish_vq

    if not 0 <= teacher_steps <= steps:
        raise typer.BadParameter(f"--teacher-steps {teacher_steps} must lie in [0, --steps {steps}]")
    try:
        vq = build_vq(preset)
    except ValueError as e:
        _fail(e)
    init_for_training(vq)
    teacher = PatchPCA(ShapesImages(2048, size, seed, 0.0).batch(range(2048)), vq_downsampling(vq.config.channel_multiplier),
                       vq.config.embed_dim)  # fmt: skip
    cfg = TrainConfig(str(output_dir), steps, batch_size=batch_size, lr=lr, warmup_steps=50, lr_decay="cosine",
                      checkpoint_every=checkpoint_every, seed=seed, mixed_precision=mixed_precision,
                      extra={"preset": preset, "size": size, "teacher_steps": teacher_steps})  # fmt: skip
    torch.manual_seed(seed)
    vq = train(vq, VQTask(restart_every, teacher, teacher_steps), ShapesImages(10**7, size, seed, 0.0), cfg)
    report = finish_vq(vq, ShapesImages(512, size, seed + 1_000_003, 0.0).batch(range(512)), output_dir / "vq")
    (output_dir / "vq_report.json").write_text(json.dumps(report, indent=1) + "\n")
    typer.echo(f"{output_dir / 'vq'}: held-out PSNR {report['heldout_psnr_db']:.2f} dB, {report['codes_used']}/{report['codebook']} codes used")


@train_app.command("judge")
def train_judge(
    output_dir: Path = typer.Option(..., help="Run folder: checkpoints/, log.jsonl, and the trained judge/ at the end."),
    steps: int = typer.Option(2000, help="Optimiser steps."),
    batch_size: int = typer.Option(64, help="Global batch (half matching pairs, half not)."),
    lr: float = typer.Option(1e-3, help="Peak learning rate (AdamW, cosine decay to 10%)."),
    checkpoint_every: int = typer.Option(250, help="Checkpoint every N steps."),
    seed: int = typer.Option(0, help="Seed."),
):
    """Train the ShapesWorld outcome-reward judge (T2I-R1's ORM analogue): does an image match its prompt?"""
    import torch

    from .backbones.text import TextFeatures, load_text_encoder
    from .rewards.judge import JudgeModel, JudgePairs, JudgeTask, heldout_report
    from .train.loop import TrainConfig, train

    features = TextFeatures(load_text_encoder("minilm"))
    cfg = TrainConfig(str(output_dir), steps, batch_size=batch_size, lr=lr, warmup_steps=50, lr_decay="cosine",
                      checkpoint_every=checkpoint_every, seed=seed)  # fmt: skip
    torch.manual_seed(seed)
    model = train(JudgeModel(), JudgeTask(features), JudgePairs(seed=seed), cfg).eval()
    model.save_pretrained(output_dir / "judge", safe_serialization=True)
    report = heldout_report(model, features, seed + 1_000_003)
    (output_dir / "judge_report.json").write_text(json.dumps(report, indent=1) + "\n")
    typer.echo(f"{output_dir / 'judge'}: held-out accuracy {report['heldout_accuracy']:.3f}")


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

    from .backbones.image_text_cnn import ImageTextCNN
    from .backbones.text import TextFeatures, load_text_encoder
    from .methods.reasondiff.trained_narrator import AnchorCases, AnchorTask, heldout_report
    from .train.loop import TrainConfig, train
    from .world.video import check_clip_length

    try:
        check_clip_length(frames)
    except ValueError as e:
        _fail(e)
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


bicot_app = typer.Typer(help="T2I-R1 (BiCoT) data.", no_args_is_help=True)
app.add_typer(bicot_app, name="bicot")


@bicot_app.command("data")
def bicot_data(
    out: Path = typer.Option(..., help="Data folder: prompts, oracle CoTs, metadata and the targets' VQ codes."),
    vq: Path = typer.Option(..., help="The trained VQ tokenizer (`reasongen train vq`: RUN/vq), or a BiCoT pipeline folder, whose own tokenizer is used."),
    n: int = typer.Option(20000, help="Number of records."),
    size: int = typer.Option(64, help="Canvas size."),
    seed: int = typer.Option(0, help="Seed."),
):
    """Build T2I-R1's fine-tuning records on ShapesWorld (prompt -> CoT -> image tokens)."""
    from .methods.bicot.data import build_records
    from .methods.bicot.pipeline import BiCoTPipeline
    from .train.vq import load_vq

    try:
        if (vq / "model_index.json").is_file():  # a pipeline carries the tokenizer it was trained on
            tokenizer = BiCoTPipeline.from_pretrained(vq).model.model.vqmodel
        else:
            tokenizer = load_vq(vq)
        build_records(out, tokenizer, n, size, seed)
    except (ValueError, OSError) as e:
        _fail(e)
    typer.echo(f"{out}: {n} records")


@bicot_app.command("curve")
def bicot_curve(
    runs: list[Path] = typer.Argument(..., help="GRPO run folders (`train bicot --stage grpo --keep-last 0`), plotted together."),
    init_from: Path = typer.Option(..., help="The pipeline the runs started from (their --init-from): step 0, and the config the checkpoints load into."),
    out: Path = typer.Option(..., help="The figure (PNG): training reward beside the independent score."),
    metadata: str = typer.Option("shapes-geneval", help="The independent benchmark: a metadata file or a shipped name."),
    n: int = typer.Option(1, help="Images per prompt for each checkpoint."),
    label: list[str] = typer.Option([], help="A label per run, in order (default: the folder names)."),
    seed: int = typer.Option(0, help="Seed of the samples (the same for every checkpoint)."),
):
    """Reward curves of GRPO runs beside an independent benchmark score per checkpoint (reward hacking would show)."""
    from .methods.bicot.curve import checkpoint_scores, plot_curves, read_log

    if label and len(label) != len(runs):
        _fail(ValueError(f"{len(label)} --label for {len(runs)} runs: give one per run, or none"))
    curves = {}
    try:
        for run, name in zip(runs, label or [r.name for r in runs]):
            scores = checkpoint_scores(run, init_from, metadata, n, seed)
            curves[name] = {"log": read_log(run), "scores": scores}
            typer.echo(f"{name}: " + ", ".join(f"step {s} {v['overall']:.3f}" for s, v in sorted(scores.items())))
    except (ValueError, OSError) as e:
        _fail(e)
    typer.echo(plot_curves(curves, out))


@train_app.command("bicot")
def train_bicot(
    data: Path = typer.Option(..., help="Folder from `reasongen bicot data` (GRPO reads its prompts and metadata)."),
    output_dir: Path = typer.Option(..., help="Run folder: checkpoints/, log.jsonl, and pipeline/ at the end."),
    stage: str = typer.Option("sft", help="sft (prompt -> CoT -> image tokens) or grpo (BiCoT-GRPO from --init-from)."),
    vq: Optional[Path] = typer.Option(None, help="sft: the VQ tokenizer the data was coded with (it goes inside the model)."),
    init_from: Optional[Path] = typer.Option(None, help="grpo (required) or sft: a BiCoT pipeline folder to start from."),
    preset: str = typer.Option("shapes", help="Janus preset (sft from scratch)."),
    levels: str = typer.Option("both", help="grpo: what the loss trains: both (BiCoT), image (image tokens only) or cot (CoT only)."),
    use_cot: bool = typer.Option(True, "--cot/--no-cot", help="grpo: sample a CoT before the image (off: the direct policy, with --levels image)."),
    rewards: str = typer.Option("detector,attribute", help="grpo: reward experts, comma-separated (equal weights): detector, attribute, judge (ShapesWorld); gdino, vqa, orm, clip (real scale, from --expert-dir)."),
    judge: Optional[Path] = typer.Option(None, help="grpo: the trained judge folder (`reasongen train judge`: RUN/judge), for the judge reward."),
    expert_dir: list[str] = typer.Option([], help="grpo: NAME=FOLDER for a real-scale expert (gdino, vqa, orm or clip), a local transformers folder; repeat per expert."),
    group_size: int = typer.Option(8, help="grpo: samples per prompt (T2I-R1: 8)."),
    beta: float = typer.Option(0.01, help="grpo: weight of the k3 KL to the frozen initial model (T2I-R1: 0.01)."),
    inner_iterations: int = typer.Option(1, help="grpo: optimiser steps per rollout (1: on-policy, the official setting; more: PPO clipping)."),
    clip_eps: float = typer.Option(0.2, help="grpo: PPO clipping range (with --inner-iterations > 1)."),
    branch: str = typer.Option("cond", help="grpo: which distribution scores image tokens: cond (official) or cfg (the one sampled from)."),
    guidance: float = typer.Option(5.0, help="grpo: guidance when sampling image tokens (T2I-R1: 5)."),
    steps: int = typer.Option(3000, help="Optimiser steps."),
    batch_size: int = typer.Option(32, help="Global batch: samples for sft, prompts for grpo (each drawn --group-size times)."),
    lr: Optional[float] = typer.Option(None, help="Learning rate (default: sft 5e-4 peak with cosine decay; grpo 5e-5 constant, as the ShapesWorld runs of docs/bicot.md; T2I-R1 uses 1e-6 on the 7B)."),
    mixed_precision: str = typer.Option("no", help="no, or bf16."),
    checkpoint_every: int = typer.Option(250, help="Checkpoint every N steps."),
    keep_last: int = typer.Option(2, help="Checkpoints kept (0: all, for `reasongen bicot curve`)."),
    seed: int = typer.Option(0, help="Seed."),
):
    """Train T2I-R1 on ShapesWorld: supervised fine-tuning, then BiCoT-GRPO."""
    import copy
    import functools
    import importlib

    import torch

    from .backbones.janus import JanusT2I, build_janus
    from .backbones.text import shapes_tokenizer
    from .methods.bicot.data import BiCoTRecords
    from .methods.bicot.format import SequenceFormat
    from .methods.bicot.pipeline import BiCoTPipeline
    from .train.loop import TrainConfig, train

    if stage not in ("sft", "grpo"):
        _fail(ValueError(f"--stage {stage!r}: use sft or grpo"))
    try:
        dataset = BiCoTRecords(data)
        if init_from is not None:
            start = BiCoTPipeline.from_pretrained(init_from)
            model, tokenizer, fmt_kind = start.model, start.tokenizer, start.config["format"]
        elif stage == "grpo":
            raise ValueError("--stage grpo starts from a fine-tuned model: pass --init-from RUN/pipeline (from --stage sft)")
        else:
            if vq is None:
                raise ValueError("--stage sft from scratch needs --vq (the tokenizer the data was coded with)")
            from .train.vq import load_vq

            tokenizer, fmt_kind = shapes_tokenizer(), "plain"
            torch.manual_seed(seed)
            model = build_janus(preset, tokenizer)
            model.model.vqmodel.load_state_dict(load_vq(vq).state_dict())
    except (ValueError, OSError) as e:
        _fail(e)
    fmt = SequenceFormat(tokenizer, fmt_kind)
    model.model.vqmodel.requires_grad_(False)  # the tokenizer is trained on its own
    model.model.vision_model.requires_grad_(False)  # understanding: unused by T2I-R1
    model.model.aligner.requires_grad_(False)
    extra = {"stage": stage, "preset": preset}
    if stage == "sft":
        from .methods.bicot.train import BiCoTSFTTask

        task = BiCoTSFTTask(tokenizer, fmt)
        dataset_for_loop = dataset
    else:
        from .methods.bicot.policy import BiCoTPolicy
        from .rewards import RewardEnsemble
        from .rewards.shapes import AttributeReward, DetectorReward
        from .rl.grpo import GRPOTask

        # real-scale experts: name -> (module under rewards/, class), each loaded from --expert-dir NAME=FOLDER
        real = {"gdino": ("grounding", "GroundingDinoReward"), "vqa": ("vqa", "VQAReward"), "orm": ("orm", "OutcomeReward"),
                "clip": ("clip", "ClipScoreReward")}  # fmt: skip
        known = {"detector": DetectorReward, "attribute": AttributeReward, "judge": None, **dict.fromkeys(real)}
        names = _comma_list(rewards, "--rewards", tuple(known))
        folders = dict(item.split("=", 1) for item in expert_dir if "=" in item)
        if len(folders) != len(expert_dir) or set(folders) - set(real):
            _fail(ValueError(f"--expert-dir {expert_dir}: give NAME=FOLDER with NAME one of {', '.join(real)}"))

        def real_expert(name):
            module, cls = real[name]
            device = "cuda" if torch.cuda.is_available() else "cpu"
            return getattr(importlib.import_module(f".rewards.{module}", __package__), cls)(folders[name], device=device)

        for name in real:
            if name in names:
                if name not in folders:
                    _fail(ValueError(f"--rewards {name} needs --expert-dir {name}=FOLDER (a local transformers checkpoint)"))
                known[name] = functools.partial(real_expert, name)
        if "judge" in names:
            if judge is None or not (judge / "config.json").is_file():
                _fail(ValueError(f"--rewards judge needs --judge DIR (a folder written by `reasongen train judge`), got {judge}"))
            from .rewards.judge import load_judge

            known["judge"] = lambda: load_judge(judge)
        if inner_iterations > 1 and checkpoint_every % inner_iterations:
            _fail(ValueError(f"--checkpoint-every {checkpoint_every} must be a multiple of --inner-iterations {inner_iterations}"))
        # T2I-R1 trains the language model only: the generation embedding, aligner and head stay frozen.
        for part in ("generation_embeddings", "generation_aligner", "generation_head"):
            getattr(model.model, part).requires_grad_(False)
        reference_model = copy.deepcopy(model).eval().requires_grad_(False)

        def policy_of(m):
            return BiCoTPolicy(JanusT2I(getattr(m, "module", m), tokenizer), fmt, levels=levels, use_cot=use_cot,
                               guidance=guidance, branch=branch)  # fmt: skip

        try:
            reference = policy_of(reference_model)
        except ValueError as e:
            _fail(e)
        try:
            ensemble = RewardEnsemble({name: known[name]() for name in names})
        except (ValueError, OSError) as e:
            _fail(e)
        task = GRPOTask(policy_of, ensemble, group_size=group_size, beta=beta, reference=reference,
                        inner_iterations=inner_iterations, clip_eps=clip_eps)  # fmt: skip

        dataset_for_loop = dataset.metadata_batches()
        extra.update(levels=levels, use_cot=use_cot, rewards=names, group_size=group_size, beta=beta, branch=branch)
    lr = lr if lr is not None else 5e-4 if stage == "sft" else 5e-5
    cfg = TrainConfig(str(output_dir), steps, batch_size=batch_size, lr=lr, warmup_steps=min(200, steps // 10) if stage == "sft" else 0,
                      lr_decay="cosine" if stage == "sft" else "constant", checkpoint_every=checkpoint_every, seed=seed,
                      mixed_precision=mixed_precision, find_unused_parameters=True, keep_last=keep_last, extra=extra)  # fmt: skip
    model = train(model, task, dataset_for_loop, cfg)
    BiCoTPipeline(model.float().cpu(), tokenizer, format=fmt_kind).save_pretrained(output_dir / "pipeline", dtype=torch.float16)
    typer.echo(f"{output_dir / 'pipeline'}")


reasondiff_app = typer.Typer(help="ReasonDiff data.", no_args_is_help=True)
app.add_typer(reasondiff_app, name="reasondiff")


@reasondiff_app.command("data")
def reasondiff_data(
    out: Path = typer.Option(..., help="Data folder: the pairs and their latents."),
    vae: Path = typer.Option(..., help="The video VAE (`reasongen train vae --clip-frames 17 --init-from ...`: RUN/vae)."),
    n: int = typer.Option(20000, help="Number of training pairs."),
    frames: int = typer.Option(17, help="Frames per clip (1 + 4k)."),
    max_stride: int = typer.Option(3, help="Widest interval between kept frames (1: adjacent frames only)."),
    size: int = typer.Option(64, help="Canvas size."),
    seed: int = typer.Option(0, help="Seed."),
    workers: int = typer.Option(2, help="Processes for building pairs."),
):
    """Build ReasonDiff training pairs (event clips at widened intervals, a condition frame each) and encode them."""
    from .backbones.wan import load_vae
    from .methods.reasondiff.data import build_pairs, encode_pairs

    try:
        build_pairs(out, n, frames, max_stride, size, seed, workers)
        fvae = load_vae(vae)
    except (ValueError, OSError) as e:
        _fail(e)
    encode_pairs(out, fvae)
    typer.echo(f"{out}: {n} pairs of {frames} frames, encoded")


@train_app.command("reasondiff")
def train_reasondiff(
    data: Path = typer.Option(..., help="Folder from `reasongen reasondiff data`."),
    vae: Path = typer.Option(..., help="The video VAE the data was encoded with (shipped inside the pipeline)."),
    output_dir: Path = typer.Option(..., help="Run folder: checkpoints/, log.jsonl, and pipeline/ at the end."),
    stage: int = typer.Option(1, help="1: the DiT and AlignFormer jointly on the flow loss; 2: AlignFormer alone, plus the auxiliary loss."),
    init_from: Optional[Path] = typer.Option(None, help="A ReasonDiff pipeline to start from (stage 2 starts from stage 1's)."),
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
    flow_shift: Optional[float] = typer.Option(None, help="Timestep shift in training and sampling (default: the preset's)."),
):
    """Train ReasonDiff (stage 1 or 2) on ShapesWorld clips and save a ReasonDiffPipeline."""
    import torch

    from .backbones.text import load_text_encoder
    from .backbones.wan import build_transformer, get_preset, load_vae
    from .methods.cof.train import PromptCache
    from .methods.reasondiff.alignformer import AlignFormer
    from .methods.reasondiff.data import PairLatents
    from .methods.reasondiff.model import ReasonDiffModel
    from .methods.reasondiff.pipeline import ReasonDiffPipeline
    from .methods.reasondiff.train import ReasonDiffTask
    from .train.loop import TrainConfig, train

    if stage == 2 and init_from is None:
        _fail(ValueError("--stage 2 trains AlignFormer over a trained DiT: pass --init-from RUN/pipeline of stage 1"))
    try:
        p = get_preset(preset)
        shift = p.flow_shift if flow_shift is None else flow_shift
        dataset = PairLatents(data)
        fvae = load_vae(vae)
        text_encoder = load_text_encoder(p.text_encoder, device="cuda" if torch.cuda.is_available() else "cpu")
        task = ReasonDiffTask(PromptCache(text_encoder), dataset.temporal, stage, aux_weight, shift,
                              multi_frame=multi_frame, enhanced=enhanced)  # fmt: skip
    except (ValueError, OSError) as e:
        _fail(e)
    torch.manual_seed(seed)
    if init_from is not None:
        try:
            model = ReasonDiffPipeline.from_pretrained(init_from).model.float()
        except (ValueError, OSError) as e:
            _fail(e)
    else:
        C = dataset.clips.shape[1]
        model = ReasonDiffModel(build_transformer(p, in_channels=2 * C + dataset.temporal, out_channels=C),
                                AlignFormer(C, text_encoder.dim), temporal=dataset.temporal)  # fmt: skip
    if stage == 2:
        model.transformer.requires_grad_(False)  # AlignFormer alone
    cfg = TrainConfig(str(output_dir), steps, batch_size=batch_size, lr=lr, warmup_steps=min(200, steps // 10),
                      lr_decay="cosine", ema_decay=ema, checkpoint_every=checkpoint_every, seed=seed,
                      mixed_precision=mixed_precision, find_unused_parameters=True,
                      extra={"stage": stage, "preset": preset, "aux_weight": aux_weight, "multi_frame": multi_frame,
                             "enhanced": enhanced, "flow_shift": shift, "init_from": str(init_from)})  # fmt: skip
    model = train(model, task, dataset, cfg)
    frames = 1 + (dataset.clips.shape[2] - 1) * dataset.temporal
    pipe = ReasonDiffPipeline(model.float().cpu(), fvae, text_encoder, num_frames=frames, flow_shift=shift,
                              height=dataset.size, width=dataset.size)  # fmt: skip
    pipe.save_pretrained(output_dir / "pipeline", dtype=torch.float16)
    typer.echo(f"{output_dir / 'pipeline'}")


def _load_transformer_weights(transformer, pipeline_dir: Path) -> None:
    from safetensors.torch import load_file

    path = pipeline_dir / "transformer" / "diffusion_pytorch_model.safetensors"
    if not path.is_file():
        raise ValueError(f"--init-from {pipeline_dir}: no {path.relative_to(pipeline_dir)} (pass a pipeline folder written by `reasongen train`)")
    state, own = load_file(path), transformer.state_dict()
    mismatch = sorted(k for k in own if k not in state or state[k].shape != own[k].shape)
    if mismatch:
        raise ValueError(f"--init-from {pipeline_dir}: its transformer does not match this preset ({len(mismatch)} tensors differ, e.g. {mismatch[0]})")
    transformer.load_state_dict({k: state[k].to(own[k].dtype) for k in own})


@eval_app.command("video")
def eval_video(
    folder: Path = typer.Argument(..., help="A folder written by `reasongen sample video`."),
    out: Optional[Path] = typer.Option(None, help="Write the summary and per-clip rows as JSON here."),
):
    """Score sampled clips: text and image consistency, motion smoothness, dynamic degree, palette fidelity, anchor accuracy (eval/video.py)."""
    from .methods.reasondiff.bench import read_cases, score_folder

    if not (folder / "info.json").is_file():
        _fail(ValueError(f"{folder}: no info.json; pass a folder written by `reasongen sample video`"))
    info = json.loads((folder / "info.json").read_text())
    try:
        rows, summary = score_folder(folder, read_cases(info["benchmark"]))
    except (ValueError, OSError) as e:
        _fail(e)
    summary = {**{k: info[k] for k in ("benchmark", "model", "narrator", "enhanced")}, **summary}
    typer.echo(json.dumps(summary, indent=1))
    if out:
        out.write_text(json.dumps({"summary": summary, "clips": rows}, indent=1) + "\n")


@eval_app.command("mcot")
def eval_mcot(
    model: Optional[Path] = typer.Argument(None, help="An MCoTPipeline folder (`reasongen train mcot`: RUN/pipeline); the shipped model if left out."),
    n: int = typer.Option(512, help="Held-out records (scenes the training data never drew)."),
    plan_metadata: str = typer.Option("shapes-geneval", help="Prompts whose greedy plans are judged by GenEval's rules (the layout's boxes as detections)."),
    heatmap_threshold: Optional[float] = typer.Option(None, help="Override the pipeline's heatmap threshold."),
    out: Optional[Path] = typer.Option(None, help="Write the figures as JSON here."),
):
    """A FoX model on held-out records: reflection IoU with the true flaw masks, flaws caught, clean images passed, each task's loss, and its plans judged alone."""
    from .methods import model_path
    from .methods.mcot import SHIPPED
    from .eval.layout import read_metadata
    from .methods.mcot.evaluate import heldout_records, plan_report, reflection_report, task_losses
    from .methods.mcot.pipeline import MCoTPipeline
    from .world.vocab import CLASSES, COLOR_NAMES

    if n < 1:
        raise typer.BadParameter(f"--n {n}: give at least 1 record")
    overrides = {} if heatmap_threshold is None else {"heatmap_threshold": heatmap_threshold}
    try:
        pipe = MCoTPipeline.from_pretrained(model_path(model, SHIPPED, "reasongen train mcot"), **overrides)
        prompts = read_metadata(plan_metadata, CLASSES, COLOR_NAMES)
    except (ValueError, FileNotFoundError) as e:
        _fail(e)
    records = heldout_records(n, pipe.config["height"])
    figures = {"model": str(model or SHIPPED), "records": n, "reflection": reflection_report(pipe, records),
               "task_losses": task_losses(pipe, records), "plans": {"metadata": plan_metadata, **plan_report(pipe, prompts)}}  # fmt: skip
    typer.echo(json.dumps(figures, indent=1))
    if out:
        out.write_text(json.dumps(figures, indent=1) + "\n")


@eval_app.command("vae")
def eval_vae(
    vae: Path = typer.Argument(..., help="A VAE folder (`reasongen train vae`: RUN/vae) or a VQ tokenizer folder (`reasongen train vq`: RUN/vq)."),
    metadata: str = typer.Option("shapes-geneval", help="Prompts whose oracle renders go through the VAE."),
    n: int = typer.Option(4, help="Images per prompt."),
    size: int = typer.Option(64, help="Canvas size."),
    clips: int = typer.Option(0, help="Also pass this many held-out 17-frame event clips through a Wan VAE, whole and frame by frame."),
    out: Optional[Path] = typer.Option(None, help="Write the figures as JSON here."),
):
    """How well a VAE (or VQ tokenizer) keeps ShapesWorld: held-out PSNR, and GenEval on oracle renders passed through it."""
    if not (vae / "config.json").is_file():
        _fail(ValueError(f"{vae}: no config.json; pass a folder written by `reasongen train vae` or `reasongen train vq`"))
    import tempfile

    import numpy as np
    import torch

    from .backbones.wan import load_vae
    from .eval.layout import read_metadata
    from .eval.run import evaluate_folder
    from .methods.oracle import OracleGenerator
    from .methods.sampling import write_geneval_samples
    from .train.data import ShapesClips, ShapesImages, to_tensor, to_uint8
    from .train.vae import psnr
    from .world.vocab import CLASSES, COLOR_NAMES

    is_vq = json.loads((vae / "config.json").read_text()).get("model_type") == "janus_vqgan"
    if clips and is_vq:
        _fail(ValueError("--clips measures a video VAE; a VQ tokenizer codes single images"))
    if is_vq:  # a VQ tokenizer (T2I-R1)
        from .train.vq import load_vq, roundtrip as vq_roundtrip

        vq = load_vq(vae)

        def roundtrip(images: np.ndarray) -> np.ndarray:
            return to_uint8(vq_roundtrip(vq, to_tensor(images))[0])

    else:
        fvae = load_vae(vae)

        @torch.no_grad()
        def roundtrip(images: np.ndarray) -> np.ndarray:
            x = to_tensor(images)[:, None]
            return to_uint8(fvae.decode_frames(fvae.encode_frames(x))[:, 0].clamp(-1, 1))

    heldout = ShapesImages(512, size, 1_000_003, 0.0)
    clean = np.stack([heldout.image(i) for i in range(512)])
    rec = roundtrip(clean)
    figures = {"heldout_psnr_db": psnr(to_tensor(rec), to_tensor(clean)), "heldout_images": 512}
    if clips:
        x = ShapesClips(clips, 17, size, 1_000_003).batch(range(clips))
        with torch.no_grad():
            whole = torch.cat([fvae.decode_clip(fvae.encode_clip(x[i : i + 4])) for i in range(0, clips, 4)]).clamp(-1, 1)
            framewise = torch.cat([fvae.decode_frames(fvae.encode_frames(x[i : i + 4])) for i in range(0, clips, 4)]).clamp(-1, 1)
        figures.update({"heldout_clips": clips, "clip_psnr_db": psnr(whole, x), "clip_framewise_psnr_db": psnr(framewise, x)})

    class ThroughVAE(OracleGenerator):
        name = "oracle-through-vae"

        def __call__(self, meta, seeds):
            return list(roundtrip(np.stack(super().__call__(meta, seeds))))

    records = read_metadata(metadata, CLASSES, COLOR_NAMES)
    with tempfile.TemporaryDirectory() as tmp:
        write_geneval_samples(records, ThroughVAE(size), tmp, n=n)
        _, summary = evaluate_folder(tmp)
    figures.update({"metadata": metadata, "geneval_overall": summary["overall"], "geneval_tags": summary["tags"]})
    typer.echo(json.dumps(figures, indent=1))
    if out:
        out.write_text(json.dumps(figures, indent=1) + "\n")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
