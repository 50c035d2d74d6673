"""A small outcome-reward judge for ShapesWorld, the analogue of T2I-R1's ORM: it reads an image and
its prompt and says how likely the image matches the prompt (the ORM's P(yes) / (P(yes) + P(no))).

Model: `backbones/image_text_cnn.py`, a small CNN over the 64 px image modulated by the prompt (FiLM
from the frozen MiniLM's mean token state, the same text encoder as the embedded CoF model), read
into one logit. Trained with binary cross-entropy on balanced pairs drawn on the fly: a render of a
scene made for the prompt (yes), or a render that breaks the prompt, by one flaw the prompt would
catch (`inject_flaw`) or by being a scene made for another prompt, checked by GenEval's rules not to
fit this one (no).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..backbones.image_text_cnn import ImageTextCNN
from ..backbones.text import TextFeatures
from ..eval.run import score_image
from ..images import to_tensor
from ..eval.shapes_detector import ShapesDetector
from ..world.dataset import draw_record
from ..world.mutate import inject_flaw
from ..world.vocab import ALL_TAGS
from .config import JudgeTrainConfig


class JudgeModel(ImageTextCNN):
    """One logit: does the image match the prompt."""

    def forward(self, images: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [-1, 1], text (B, text_dim) -> logits (B,)."""
        return super().forward(images, text)[:, 0]


class JudgePairs:
    """The loop's dataset: (image, prompt, label) pairs from (seed, index); even indices match."""

    def __init__(self, n: int = 10**7, size: int = 64, seed: int = 0):
        self.n, self.size, self.seed = n, size, seed
        self.detector = ShapesDetector()

    def __len__(self) -> int:
        return self.n

    def pair(self, i: int) -> tuple[np.ndarray, str, float]:
        meta, scene = draw_record(self.seed, i, ALL_TAGS, "in_distribution")
        rng = np.random.default_rng([self.seed, i, 5])
        if i % 2 == 0:
            return scene.render(self.size), meta["prompt"], 1.0
        if rng.random() < 0.7:
            return inject_flaw(scene, meta, rng)[0].render(self.size), meta["prompt"], 0.0
        _, other_scene = draw_record(self.seed + 1, i, ALL_TAGS, "in_distribution")
        image = other_scene.render(self.size)
        if score_image(self.detector, image, meta)["correct"]:  # another prompt's scene may fit this one too
            return inject_flaw(scene, meta, rng)[0].render(self.size), meta["prompt"], 0.0
        return image, meta["prompt"], 0.0

    def batch(self, indices):
        pairs = [self.pair(i) for i in indices]
        return to_tensor(np.stack([p[0] for p in pairs])), [p[1] for p in pairs], torch.tensor([p[2] for p in pairs])


class JudgeTask:
    def __init__(self, features: TextFeatures):
        self.features = features

    def loss(self, model, batch, generator):
        images, prompts, labels = batch
        device = next(model.parameters()).device
        logits = model(images.to(device), self.features(prompts).to(device))
        loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), labels.to(device))
        accuracy = ((logits > 0).float().cpu() == labels).float().mean().item()
        return loss, {"accuracy": accuracy}


@torch.no_grad()
def heldout_report(model: JudgeModel, features: TextFeatures, seed: int, n: int = 2000, batch_size: int = 250) -> dict:
    """Accuracy on `n` fresh pairs (half matching), overall and on each half."""
    images, prompts, labels = JudgePairs(seed=seed).batch(range(n))
    model.eval()
    logits = torch.cat([model(images[i : i + batch_size], features(prompts[i : i + batch_size])) for i in range(0, n, batch_size)])
    return {"heldout_pairs": n, "heldout_accuracy": float(((logits > 0).float() == labels).float().mean()),
            "accuracy_on_matches": float((logits[labels == 1] > 0).float().mean()),
            "accuracy_on_mismatches": float((logits[labels == 0] <= 0).float().mean())}  # fmt: skip


def train_judge(cfg: JudgeTrainConfig, progress: bool = True) -> dict:
    """Train (or resume) the judge on fresh pairs; writes `output_dir/judge` and `judge_report.json`
    (held-out accuracy on pairs of another seed), returns the report."""
    import json
    from pathlib import Path

    from ..backbones.text import load_text_encoder
    from ..locks import write_atomic
    from ..train.loop import train

    features = TextFeatures(load_text_encoder("minilm"))
    torch.manual_seed(cfg.seed)
    model = train(JudgeModel(), JudgeTask(features), JudgePairs(seed=cfg.seed), cfg.loop(), progress).eval()
    model.save_pretrained(Path(cfg.output_dir) / "judge", safe_serialization=True)
    report = heldout_report(model, features, cfg.seed + 1_000_003)
    write_atomic(Path(cfg.output_dir) / "judge_report.json", json.dumps(report, indent=1) + "\n")
    return report


class JudgeReward:
    """The reward: P(match) for each image and its prompt (no metadata needed)."""

    def __init__(self, model: JudgeModel, text_encoder):
        self.model, self.features = model.eval(), TextFeatures(text_encoder)

    @torch.no_grad()
    def __call__(self, images, prompts, metadata=None):
        x = to_tensor(np.stack(images)).to(next(self.model.parameters()).device)
        return torch.sigmoid(self.model(x, self.features(prompts).to(x.device)).float()).cpu().tolist()


def load_judge(path, device="cpu") -> JudgeReward:
    from ..backbones.text import load_text_encoder

    model = JudgeModel.from_pretrained(path, local_files_only=True, use_safetensors=True).to(device)
    return JudgeReward(model, load_text_encoder("minilm", device=device))
