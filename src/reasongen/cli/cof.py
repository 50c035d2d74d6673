"""CoF-T2I: chains, training, and the ShapesWorld VAE (trained, fine-tuned on clips, measured)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .common import eval_app, train_app, cof_app, fail, comma_list


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

    cfg = CoFTrainConfig(str(data), str(vae), str(output_dir), variant, preset, steps, batch_size, lr, ema, system_prompt,
                         mixed_precision, checkpoint_every, seed, None if init_from is None else str(init_from), flow_shift,
                         lora_rank, lora_alpha, gradient_checkpointing)  # fmt: skip
    try:
        train_cof(cfg)
    except ValueError as e:
        fail(e)
    typer.echo(f"{output_dir / 'pipeline'}")


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
    import torch

    from ..backbones.wan import FrameVAE, build_vae, load_vae
    from ..methods.cof.data import ChainClips
    from ..train.data import ShapesClips, ShapesImages
    from ..train.loop import TrainConfig, train
    from ..train.vae import PatchPCA, VAETask, finish_vae, freeze_encoder, init_for_training, keep_frame_path as freeze_frame_path

    if clip_frames != 1 and chains is not None:
        raise typer.BadParameter(f"--clip-frames {clip_frames} and --chains are two sources of clips: pass one")
    on_clips = clip_frames != 1 or chains is not None
    if on_clips and init_from is None:
        what = f"--clip-frames {clip_frames}" if chains is None else "--chains"
        raise typer.BadParameter(f"{what} fine-tunes a trained VAE: pass --init-from (e.g. src/reasongen/models/shapes-vae)")
    if decoder_only and init_from is None:
        raise typer.BadParameter("--decoder-only fine-tunes a trained VAE's decoder: pass --init-from (e.g. src/reasongen/models/shapes-vae)")
    if decoder_only and on_clips:
        raise typer.BadParameter("--decoder-only trains on single frames; drop --clip-frames or --chains (clips train the temporal layers, both halves)")
    if init_from is not None:
        teacher_steps = 0  # the warm-up only exists to start from scratch
    if not 0 <= teacher_steps <= steps:
        raise typer.BadParameter(f"--teacher-steps {teacher_steps} must lie in [0, --steps {steps}]")
    cfg = TrainConfig(str(output_dir), steps, batch_size=batch_size, lr=lr, warmup_steps=50, lr_decay="cosine",
                      checkpoint_every=checkpoint_every, seed=seed, find_unused_parameters=True,
                      extra={"size": size, "draft_fraction": draft_fraction, "teacher_steps": teacher_steps,
                             "clip_frames": clip_frames, "chains": str(chains), "init_from": str(init_from),
                             "keep_frame_path": keep_frame_path and on_clips, "object_weight": object_weight,
                             "decoder_only": decoder_only})  # fmt: skip
    torch.manual_seed(seed)
    try:
        vae = load_vae(init_from).vae.train() if init_from is not None else build_vae("shapes")
        if chains is not None:  # padded to the clip length this VAE's temporal stride takes
            temporal = FrameVAE(vae).temporal
            data, heldout = ChainClips(chains, "train", temporal), ChainClips(chains, "heldout", temporal)
        elif clip_frames == 1:
            data, heldout = ShapesImages(10**7, size, seed, draft_fraction), ShapesImages(512, size, seed + 1_000_003, 0.0)
        else:
            data, heldout = ShapesClips(10**7, clip_frames, size, seed), ShapesClips(64, clip_frames, size, seed + 1_000_003)
    except (ValueError, OSError) as e:
        fail(e)
    stats_images = data.batch(range(min(len(data), 128 if on_clips else 2048)))  # the latent statistics' sample: the first items
    if init_from is None:
        init_for_training(vae)
        task = VAETask(PatchPCA(stats_images, FrameVAE(vae).spatial, vae.config.z_dim), teacher_steps, kl_weight=kl_weight, object_weight=object_weight)
    else:
        task = VAETask(kl_weight=kl_weight, object_weight=object_weight)
    if keep_frame_path and on_clips:
        freeze_frame_path(vae)
    if decoder_only:
        freeze_encoder(vae)
    vae = train(vae, task, data, cfg)
    report = finish_vae(vae, stats_images, heldout.batch(range(len(heldout))), output_dir / "vae", keep_latent_stats=decoder_only)
    (output_dir / "vae_report.json").write_text(json.dumps(report, indent=1) + "\n")
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
    if not (vae / "config.json").is_file():
        fail(ValueError(f"{vae}: no config.json; pass a folder written by `reasongen train vae` or `reasongen train vq`"))
    import tempfile

    import numpy as np
    import torch

    from ..backbones.wan import load_vae
    from ..eval.layout import read_metadata
    from ..eval.run import evaluate_folder
    from ..methods.oracle import OracleGenerator
    from ..methods.sampling import write_geneval_samples
    from ..images import to_tensor, to_uint8
    from ..train.data import ShapesClips, ShapesImages
    from ..train.vae import psnr
    from ..world.vocab import CLASSES, COLOR_NAMES

    is_vq = json.loads((vae / "config.json").read_text()).get("model_type") == "janus_vqgan"
    if (clips or chains) and is_vq:
        fail(ValueError("--clips and --chains measure a video VAE; a VQ tokenizer codes single images"))
    if is_vq:  # a VQ tokenizer (T2I-R1)
        from ..train.vq import load_vq, roundtrip as vq_roundtrip

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
        from ..eval.video import text_consistency

        data = ShapesClips(clips, 17, size, 1_000_003)
        x = data.batch(range(clips))
        with torch.no_grad():
            whole = torch.cat([fvae.decode_clip(fvae.encode_clip(x[i : i + 4])) for i in range(0, clips, 4)]).clamp(-1, 1)
            framewise = torch.cat([fvae.decode_frames(fvae.encode_frames(x[i : i + 4])) for i in range(0, clips, 4)]).clamp(-1, 1)
        figures.update({"heldout_clips": clips, "clip_psnr_db": psnr(whole, x), "clip_framewise_psnr_db": psnr(framewise, x)})
        # PSNR is mostly the plain ground; whether the objects survive is read by the detector, as
        # the video benchmarks' text consistency reads a generated clip (the true clips: the ceiling)
        scenes = [data.event(i).scenes for i in range(clips)]

        def objects_kept(frames: torch.Tensor) -> float:
            return float(np.mean([text_consistency(f, s) for f, s in zip(to_uint8(frames), scenes)]))

        figures.update({"clip_text_consistency": objects_kept(whole), "clip_framewise_text_consistency": objects_kept(framewise),
                        "clip_truth_text_consistency": objects_kept(x)})  # fmt: skip

    if chains:
        figures.update(chain_roundtrip(fvae, chains))

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


def chain_roundtrip(fvae, data_dir: Path) -> dict:
    """A data folder's held-out chains through a VAE: whole, padded to 1 + 4k frames as the continuous
    baseline encodes them, and frame by frame. PSNR over the three frames; and whether the last
    frame still shows its prompt by GenEval's rules (the true last frames: the ceiling)."""
    import numpy as np
    import torch

    from ..eval.run import score_image
    from ..methods.cof.data import ChainClips
    from ..images import to_uint8
    from ..train.vae import psnr
    from ..eval.shapes_detector import ShapesDetector

    try:
        data = ChainClips(data_dir, "heldout", fvae.temporal)
    except (ValueError, OSError) as e:
        fail(e)
    x = data.chains(range(len(data)))
    K = x.shape[1]
    with torch.no_grad():
        whole = torch.cat([fvae.decode_clip(fvae.encode_clip(fvae.pad_chain(x[i : i + 32])))[:, :K] for i in range(0, len(x), 32)])
        framewise = torch.cat([fvae.decode_frames(fvae.encode_frames(x[i : i + 32])) for i in range(0, len(x), 32)])
    detector, records = ShapesDetector(), [data.record(i) for i in range(len(data))]

    def last_frame_correct(frames: torch.Tensor) -> float:
        images = to_uint8(frames[:, -1].clamp(-1, 1))
        return float(np.mean([score_image(detector, im, r)["correct"] for im, r in zip(images, records)]))

    return {"heldout_chains": len(x), "chain_psnr_db": psnr(whole.clamp(-1, 1), x),
            "chain_framewise_psnr_db": psnr(framewise.clamp(-1, 1), x),
            "chain_last_frame_geneval": last_frame_correct(whole), "chain_framewise_last_frame_geneval": last_frame_correct(framewise),
            "chain_truth_last_frame_geneval": last_frame_correct(x)}  # fmt: skip
