"""The autoencoders every image method stands on: training the ShapesWorld VAE (frames, clips, CoF
chains, or its decoder alone) and T2I-R1's VQ tokenizer, and measuring how well a VAE or VQ
tokenizer keeps ShapesWorld.

`reasongen train vae`, `reasongen train vq` and `reasongen eval vae` call these; their settings are
in autoencoder_config.py, the losses, freezing rules and the reports in train/vae.py and train/vq.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .autoencoder_config import VAETrainConfig, VQTrainConfig


def train_vae(cfg: VAETrainConfig, progress: bool = True) -> dict:
    """Train (or fine-tune) the ShapesWorld VAE; writes `output_dir/vae` and `vae_report.json`, returns the report."""
    from ..backbones.wan import FrameVAE, build_vae, load_vae
    from ..train.data import ShapesClips, ShapesImages
    from ..train.loop import TrainConfig, train
    from ..train.vae import PatchPCA, VAETask, finish_vae, freeze_encoder, init_for_training, keep_frame_path as freeze_frame_path
    from .cof.data import ChainClips

    cfg.check()
    teacher_steps = 0 if cfg.init_from is not None else cfg.teacher_steps  # the warm-up only exists to start from scratch
    out = Path(cfg.output_dir)
    loop = TrainConfig(str(out), cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, warmup_steps=50, lr_decay="cosine",
                       checkpoint_every=cfg.checkpoint_every, seed=cfg.seed, find_unused_parameters=True,
                       time_budget=None if cfg.time_budget is None else 60 * cfg.time_budget,
                       extra={"size": cfg.size, "draft_fraction": cfg.draft_fraction, "teacher_steps": teacher_steps,
                              "clip_frames": cfg.clip_frames, "chains": str(cfg.chains), "init_from": str(cfg.init_from),
                              "keep_frame_path": cfg.keep_frame_path and cfg.on_clips, "object_weight": cfg.object_weight,
                              "decoder_only": cfg.decoder_only})  # fmt: skip
    torch.manual_seed(cfg.seed)
    vae = load_vae(cfg.init_from).vae.train() if cfg.init_from is not None else build_vae("shapes")
    if cfg.chains is not None:  # padded to the clip length this VAE's temporal stride takes
        temporal = FrameVAE(vae).temporal
        data, heldout = ChainClips(cfg.chains, "train", temporal), ChainClips(cfg.chains, "heldout", temporal)
    elif cfg.clip_frames == 1:
        data, heldout = ShapesImages(10**7, cfg.size, cfg.seed, cfg.draft_fraction), ShapesImages(512, cfg.size, cfg.seed + 1_000_003, 0.0)
    else:
        data, heldout = ShapesClips(10**7, cfg.clip_frames, cfg.size, cfg.seed), ShapesClips(64, cfg.clip_frames, cfg.size, cfg.seed + 1_000_003)
    stats_images = data.batch(range(min(len(data), 128 if cfg.on_clips else 2048)))  # the latent statistics' sample: the first items
    if cfg.init_from is None:
        init_for_training(vae)
        task = VAETask(PatchPCA(stats_images, FrameVAE(vae).spatial, vae.config.z_dim), teacher_steps, kl_weight=cfg.kl_weight,
                       object_weight=cfg.object_weight)  # fmt: skip
    else:
        task = VAETask(kl_weight=cfg.kl_weight, object_weight=cfg.object_weight)
    if cfg.keep_frame_path and cfg.on_clips:
        freeze_frame_path(vae)
    if cfg.decoder_only:
        freeze_encoder(vae)
    vae = train(vae, task, data, loop, progress)
    report = finish_vae(vae, stats_images, heldout.batch(range(len(heldout))), out / "vae", keep_latent_stats=cfg.decoder_only)
    from ..locks import write_atomic

    write_atomic(out / "vae_report.json", json.dumps(report, indent=1) + "\n")
    return report


def new_vq(cfg: VQTrainConfig):
    """A randomly initialised VQ tokenizer of `cfg.preset`; an unknown preset, or a canvas size its
    token grid was not made for, is refused (ValueError) before any work."""
    from ..backbones.janus import PRESETS
    from ..train.vq import build_vq

    torch.manual_seed(cfg.seed)  # the random initialisation too: a resumed run and the uninterrupted one start alike
    vq = build_vq(cfg.preset)
    drawn = PRESETS[cfg.preset]["image_size"]  # the token grid is fixed by the preset's image size
    if cfg.size != drawn:
        raise ValueError(f"--size {cfg.size}: the {cfg.preset} preset's VQ tokenizes {drawn} px images; use --size {drawn}")
    return vq


def train_vq(cfg: VQTrainConfig, vq=None, progress: bool = True) -> dict:
    """Train (or resume) the VQ tokenizer `vq` (default: `new_vq(cfg)`) on ShapesWorld renders, after
    `teacher_steps` on the fixed patch-PCA code; writes `output_dir/vq` and `vq_report.json`, returns the report."""
    from ..backbones.janus import vq_downsampling
    from ..locks import write_atomic
    from ..train.data import ShapesImages
    from ..train.loop import TrainConfig, train
    from ..train.vae import PatchPCA, init_for_training
    from ..train.vq import VQTask, finish_vq

    vq = new_vq(cfg) if vq is None else vq
    init_for_training(vq)
    teacher = PatchPCA(ShapesImages(2048, cfg.size, cfg.seed, 0.0).batch(range(2048)), vq_downsampling(vq.config.channel_multiplier),
                       vq.config.embed_dim)  # fmt: skip
    loop = TrainConfig(cfg.output_dir, cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, warmup_steps=50, lr_decay="cosine",
                       checkpoint_every=cfg.checkpoint_every, seed=cfg.seed, mixed_precision=cfg.mixed_precision,
                       time_budget=None if cfg.time_budget is None else 60 * cfg.time_budget,
                       extra={"preset": cfg.preset, "size": cfg.size, "teacher_steps": cfg.teacher_steps})  # fmt: skip
    torch.manual_seed(cfg.seed)
    vq = train(vq, VQTask(cfg.restart_every, teacher, cfg.teacher_steps), ShapesImages(10**7, cfg.size, cfg.seed, 0.0), loop, progress)
    out = Path(cfg.output_dir)
    report = finish_vq(vq, ShapesImages(512, cfg.size, cfg.seed + 1_000_003, 0.0).batch(range(512)), out / "vq")
    write_atomic(out / "vq_report.json", json.dumps(report, indent=1) + "\n")
    return report


def load_vq_tokenizer(path):
    """A trained VQ tokenizer (`reasongen train vq`: RUN/vq), or the one a T2I-R1 pipeline folder
    carries (the tokenizer it was trained on)."""
    if (Path(path) / "model_index.json").is_file():
        from .t2i_r1.pipeline import T2IR1Pipeline

        return T2IR1Pipeline.from_pretrained(path).model.model.vqmodel
    from ..train.vq import load_vq

    return load_vq(path)


def evaluate_autoencoder(vae: Path, metadata: str = "shapes-geneval", n: int = 4, size: int = 64, clips: int = 0,
                         chains: Path | None = None) -> dict:  # fmt: skip
    """How well a VAE (or VQ tokenizer) keeps ShapesWorld: held-out PSNR, and GenEval on oracle
    renders passed through it; with `clips` or `chains`, what a video VAE keeps of clips and chains."""
    import tempfile

    vae = Path(vae)
    if not (vae / "config.json").is_file():
        raise ValueError(f"{vae}: no config.json; pass a folder written by `reasongen train vae` or `reasongen train vq`")

    from ..backbones.wan import load_vae
    from ..eval.layout import read_metadata
    from ..eval.run import evaluate_folder
    from .oracle import OracleGenerator
    from .sampling import write_geneval_samples
    from ..images import to_tensor, to_uint8
    from ..train.data import ShapesClips, ShapesImages
    from ..train.vae import psnr
    from ..world.vocab import CLASSES, COLOR_NAMES

    is_vq = json.loads((vae / "config.json").read_text()).get("model_type") == "janus_vqgan"
    if (clips or chains) and is_vq:
        raise ValueError("--clips and --chains measure a video VAE; a VQ tokenizer codes single images")
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
    return figures



def chain_roundtrip(fvae, data_dir: Path) -> dict:
    """A data folder's held-out chains through a VAE: whole, padded to 1 + 4k frames as the continuous
    baseline encodes them, and frame by frame. PSNR over the three frames; and whether the last
    frame still shows its prompt by GenEval's rules (the true last frames: the ceiling)."""
    from ..eval.run import score_image
    from .cof.data import ChainClips
    from ..images import to_uint8
    from ..train.vae import psnr
    from ..eval.shapes_detector import ShapesDetector

    data = ChainClips(data_dir, "heldout", fvae.temporal)
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
