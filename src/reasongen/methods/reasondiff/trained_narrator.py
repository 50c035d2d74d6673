"""A narrator that we train: the anchor read by a small network, the narratives laid out by the
world's reasoner around it.

The world's reasoner (`world_narrator.py`) reads the image exactly but places it in the event by
rules with fixed guesses (how far a move travels, how long ago a split parted); it finds the exact
anchor in about 58% of the unpaired cases. What the image says about its place in the clip is a
matter of the event's distribution, which a network can learn from clips: `ImageTextCNN`
(`backbones/image_text_cnn.py`) reads the image with the text (the frozen MiniLM's mean token
state) into one logit per frame. It is trained on cases drawn as the benchmarks draw them (80%
unpaired: the text without colours, the image any frame; 20% paired: the caption and frame 0) on
the likelihood of the set of right anchors (every frame that looks exactly like the image is right,
so the loss is -log of their summed probability).

The narratives stay the world's reasoner's, shifted in time so that the frame that shows the
image's state is the learned anchor (the first or last narrative repeats at the ends). The number
of frames is the model's (`outputs`); other lengths are refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...backbones.image_text_cnn import ImageTextCNN
from ...backbones.text import TextFeatures
from ...images import to_tensor
from ...world.video import make_case
from .. import SHIPPED_MODELS
from .config import NarratorTrainConfig
from .narrator import Narration
from .world_narrator import ShapesNarrator

SHIPPED = SHIPPED_MODELS / "narrator-shapes"
PAIRED_SHARE = 0.2
HELDOUT_SEED = 1_000_003  # training cases use seed 0 (`reasongen train narrator --seed`)


class AnchorCases:
    """The loop's dataset: case i of `seed` (paired with probability PAIRED_SHARE)."""

    def __init__(self, n: int = 10**7, num_frames: int = 17, size: int = 64, seed: int = 0, paired_share: float = PAIRED_SHARE):
        self.n, self.num_frames, self.size, self.seed, self.paired_share = n, num_frames, size, seed, paired_share

    def __len__(self) -> int:
        return self.n

    def case(self, i: int):
        rng = np.random.default_rng([self.seed, i])
        return make_case(rng, self.num_frames, paired=bool(rng.random() < self.paired_share), held_out=False)

    def batch(self, indices):
        return self.collate([self.case(i) for i in indices])

    def collate(self, cases) -> tuple[torch.Tensor, list[str], torch.Tensor]:
        """Images (B, 3, H, W), texts, and (B, frames) with 1 at every right anchor."""
        right = torch.zeros(len(cases), self.num_frames)
        for row, c in zip(right, cases):
            row[list(c.anchors)] = 1.0
        return to_tensor(np.stack([c.image(self.size) for c in cases])), [c.text for c in cases], right


def anchor_loss(logits: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """-log P(a right anchor): the probability summed over every right frame."""
    logits = logits.float()
    return (torch.logsumexp(logits, -1) - torch.logsumexp(logits.masked_fill(right == 0, float("-inf")), -1)).mean()


def hits(logits: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    return right.gather(1, logits.argmax(-1, keepdim=True))[:, 0]


class AnchorTask:
    def __init__(self, features: TextFeatures):
        self.features = features

    def loss(self, model, batch, generator):
        images, texts, right = batch
        device = next(model.parameters()).device
        logits = model(images.to(device), self.features(texts).to(device))
        right = right.to(device)
        return anchor_loss(logits, right), {"anchor_accuracy": hits(logits.detach(), right).mean().item()}


def shift_narratives(narratives: list[str], by: int) -> list[str]:
    """Frame t tells what frame t - by told (clamped at the ends)."""
    T = len(narratives)
    return [narratives[min(max(t - by, 0), T - 1)] for t in range(T)]


class TrainedNarrator:
    def __init__(self, model: ImageTextCNN, text_encoder, world: ShapesNarrator | None = None):
        self.model, self.features = model.eval(), TextFeatures(text_encoder)
        self.world = world or ShapesNarrator()
        self.num_frames = model.config.outputs

    @torch.no_grad()
    def anchors(self, texts: list[str], images: list[np.ndarray]) -> list[int]:
        device = next(self.model.parameters()).device
        logits = self.model(to_tensor(np.stack(images)).to(device), self.features(texts).to(device))
        return logits.argmax(-1).tolist()

    def __call__(self, text: str, image: np.ndarray, num_frames: int) -> Narration:
        if num_frames != self.num_frames:
            raise ValueError(f"this trained narrator places images in {self.num_frames}-frame clips, not {num_frames}; "
                             f"ask for {self.num_frames} frames or use the world's reasoner")  # fmt: skip
        size = self.model.config.image_size
        if image.shape[:2] != (size, size):
            raise ValueError(f"this trained narrator reads {size} x {size} px images, not {image.shape[1]} x {image.shape[0]}; "
                             f"give a model of that size, or use the world's reasoner")  # fmt: skip
        told = self.world(text, image, num_frames)
        anchor = self.anchors([text], [image])[0]
        return Narration(anchor, shift_narratives(told.narratives, anchor - told.anchor), list(told.problems))


@torch.no_grad()
def heldout_report(model: ImageTextCNN, features: TextFeatures, n: int = 1000, seed: int = HELDOUT_SEED, batch_size: int = 250) -> dict:
    """Anchor accuracy (the anchor is one of the right ones) on fresh unpaired cases, beside the
    world's reasoner's and always-frame-0's on the same cases."""
    data = AnchorCases(n, model.config.outputs, model.config.image_size, seed, paired_share=0.0)
    model.eval()
    cases = [data.case(i) for i in range(n)]
    learned, first = [], []
    for i in range(0, n, batch_size):
        images, texts, right = data.collate(cases[i : i + batch_size])
        learned.append(hits(model(images, features(texts)), right))
        first.append(right[:, 0])
    world = ShapesNarrator()
    world_hits = [world(c.text, c.image(data.size), data.num_frames).anchor in c.anchors for c in cases]
    return {"heldout_unpaired_cases": n, "anchor_accuracy": float(torch.cat(learned).mean()),
            "world_reasoner_anchor_accuracy": float(np.mean(world_hits)),
            "first_frame_anchor_accuracy": float(torch.cat(first).mean())}  # fmt: skip


def load_trained_narrator(path, device: str = "cpu") -> TrainedNarrator:
    from ...backbones.text import load_text_encoder

    if not Path(path, "config.json").is_file():
        raise ValueError(f"no trained narrator at {path}: pass a folder written by `reasongen train narrator` (RUN/narrator)")
    model = ImageTextCNN.from_pretrained(path, local_files_only=True, use_safetensors=True).to(device)
    return TrainedNarrator(model, load_text_encoder("minilm", device=device))


def train_narrator(cfg: NarratorTrainConfig, progress: bool = True) -> dict:
    """Train (or resume) the anchor reader on `cfg.frames`-frame cases of `cfg.seed`; writes
    `output_dir/narrator` and `narrator_report.json` (`heldout_report` on `cfg.heldout` fresh cases),
    returns the report."""
    import json

    from ...backbones.text import load_text_encoder
    from ...locks import write_atomic
    from ...train.loop import train

    cfg.check()
    features = TextFeatures(load_text_encoder("minilm"))
    torch.manual_seed(cfg.seed)
    model = train(ImageTextCNN(outputs=cfg.frames), AnchorTask(features), AnchorCases(num_frames=cfg.frames, seed=cfg.seed),
                  cfg.loop(frames=cfg.frames), progress).eval()  # fmt: skip
    model.save_pretrained(Path(cfg.output_dir) / "narrator", safe_serialization=True)
    report = heldout_report(model, features, cfg.heldout)
    write_atomic(Path(cfg.output_dir) / "narrator_report.json", json.dumps(report, indent=1) + "\n")
    return report
