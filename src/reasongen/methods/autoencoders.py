"""The autoencoders every image method stands on: training the ShapesWorld VAE (frames, clips, CoF
chains, or its decoder alone) and measuring how well a VAE or VQ tokenizer keeps ShapesWorld.

`reasongen train vae` and `reasongen eval vae` call these; the losses, freezing rules and the
report live in train/vae.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass
class VAETrainConfig:
    output_dir: str
    steps: int = 2000
    teacher_steps: int = 800  # warm-up on the fixed patch-PCA code (from scratch only)
    batch_size: int = 32
    lr: float = 1e-3
    size: int = 64
    draft_fraction: float = 0.3
    kl_weight: float = 0.0
    object_weight: float = 0.0
    clip_frames: int = 1  # 1: single frames; 1 + 4k: ShapesWorld event clips (needs init_from)
    chains: str | None = None  # a `reasongen cof data` folder: its chains, padded as the continuous baseline pads them
    init_from: str | None = None
    keep_frame_path: bool = True
    decoder_only: bool = False
    checkpoint_every: int = 100
    seed: int = 0

    @property
    def on_clips(self) -> bool:
        return self.clip_frames != 1 or self.chains is not None

    def check(self) -> None:
        if self.clip_frames != 1 and self.chains is not None:
            raise ValueError(f"--clip-frames {self.clip_frames} and --chains are two sources of clips: pass one")
        if self.on_clips and self.init_from is None:
            what = f"--clip-frames {self.clip_frames}" if self.chains is None else "--chains"
            raise ValueError(f"{what} fine-tunes a trained VAE: pass --init-from (e.g. src/reasongen/models/shapes-vae)")
        if self.decoder_only and self.init_from is None:
            raise ValueError("--decoder-only fine-tunes a trained VAE's decoder: pass --init-from (e.g. src/reasongen/models/shapes-vae)")
        if self.decoder_only and self.on_clips:
            raise ValueError("--decoder-only trains on single frames; drop --clip-frames or --chains (clips train the temporal layers, both halves)")
        if self.init_from is None and not 0 <= self.teacher_steps <= self.steps:
            raise ValueError(f"--teacher-steps {self.teacher_steps} must lie in [0, --steps {self.steps}]")


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
    (out / "vae_report.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


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
