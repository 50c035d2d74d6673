"""The settings of the autoencoders' training (`autoencoders.py`), each with its command-line help.

A field's `help` is what `reasongen train vae --help` and `reasongen train vq --help` show: the
commands' options are generated from these fields (`cli/common.py: config_options`), so a setting is
declared once. `path`: given as a path on the command line. This module imports nothing heavy, so
that the command line starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class VAETrainConfig:
    output_dir: str = field(metadata={"help": "Run folder: checkpoints/, log.jsonl, and the trained vae/ at the end.", "path": True})
    steps: int = field(default=2000, metadata={"help": "Optimiser steps."})
    teacher_steps: int = field(default=800, metadata={"help": (
        "Warm-up steps on the fixed patch-PCA code before end-to-end training (docs/cof.md); skipped with --init-from.")})
    batch_size: int = field(default=32, metadata={"help": "Global batch of frames, or of clips with --clip-frames (split across accelerate processes)."})
    lr: float = field(default=1e-3, metadata={"help": "Peak learning rate (AdamW, cosine decay to 10%)."})
    size: int = field(default=64, metadata={"help": "Canvas size."})
    draft_fraction: float = field(default=0.3, metadata={"help": "Share of blocky draft frames among the training images."})
    kl_weight: float = field(default=0.0, metadata={"help": "Weight of the KL term in the end-to-end stage."})
    object_weight: float = field(default=0.0, metadata={"help": (
        "Pixels off the grey ground weigh 1 + this in the reconstruction loss (0: a plain mean), so that a clip decoder cannot drop "
        "small shapes cheaply.")})
    clip_frames: int = field(default=1, metadata={"help": (
        "1: single frames. 1 + 4k (e.g. 17): fine-tune on whole ShapesWorld event clips, which trains the temporal layers (needs "
        "--init-from).")})
    chains: str | None = field(default=None, metadata={"path": True, "help": (
        "Fine-tune on this `reasongen cof data` folder's chains instead, each padded to F1 F2 F3 F3 F3 and passed whole: the "
        "continuous baseline's VAE (needs --init-from; the last 512 chains, or a tenth of fewer, are held out).")})
    init_from: str | None = field(default=None, metadata={"help": "A trained VAE folder to start from (e.g. src/reasongen/models/shapes-vae).", "path": True})
    keep_frame_path: bool = field(default=True, metadata={"help": (
        "With --clip-frames or --chains: train only the weights a single frame never reads, so single frames and every clip's first "
        "frame decode exactly as before (train/vae.py).")})
    decoder_only: bool = field(default=False, metadata={"help": (
        "Train the decoder alone (needs --init-from): every latent stays exactly as it was, so models trained on this VAE's latents "
        "keep working.")})
    checkpoint_every: int = field(default=100, metadata={"help": "Checkpoint every N steps."})
    time_budget: float | None = field(default=None, metadata={"help": (
        "Minutes for this leg: it stops with a checkpoint (and writes the VAE as it stands), and the same command resumes it.")})
    seed: int = field(default=0, metadata={"help": "Seed of the data order, noise and images."})

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


@dataclass
class VQTrainConfig:
    """The VQ image tokenizer that T2I-R1's Janus model draws with, trained on ShapesWorld renders."""

    output_dir: str = field(metadata={"help": "Run folder: checkpoints/, log.jsonl, and the trained vq/ at the end.", "path": True})
    preset: str = field(default="shapes", metadata={"help": "Janus preset whose VQ tokenizer to train."})
    steps: int = field(default=3000, metadata={"help": "Optimiser steps."})
    batch_size: int = field(default=32, metadata={"help": "Global batch."})
    lr: float = field(default=1e-3, metadata={"help": "Peak learning rate (AdamW, cosine decay to 10%)."})
    restart_every: int = field(default=100, metadata={"help": "Move codes unused for this many steps onto encoder outputs (0: never)."})
    teacher_steps: int = field(default=400, metadata={"help": "Warm-up steps on the fixed patch-PCA code before end-to-end training (train/vq.py)."})
    size: int = field(default=64, metadata={"help": "Canvas size."})
    checkpoint_every: int = field(default=100, metadata={"help": "Checkpoint every N steps."})
    time_budget: float | None = field(default=None, metadata={"help": (
        "Minutes for this leg: it stops with a checkpoint (and writes the tokenizer as it stands), and the same command resumes it.")})
    seed: int = field(default=0, metadata={"help": "Seed."})
    mixed_precision: str = field(default="no", metadata={"help": "no, or bf16 (the nearest-code search stays in float32)."})
