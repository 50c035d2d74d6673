"""Training data that the loop reads by index: deterministic, so a resumed run sees the same batches."""

from __future__ import annotations

import numpy as np
import torch

from ..images import to_tensor
from ..world.dataset import draw_record
from ..world.render import render_draft
from ..world.vocab import ALL_TAGS


def built_already(info_path, data_path, what: str, n: int, size: int, seed: int) -> bool:
    """Whether a data folder already holds what a build would write (True: keep it). A folder built
    with other settings is refused rather than overwritten or mixed."""
    import json
    from pathlib import Path

    info_path, data_path = Path(info_path), Path(data_path)
    if not (info_path.is_file() and data_path.is_file()):
        return False
    info = json.loads(info_path.read_text())
    if (info["n"], info["size"], info["seed"]) == (n, size, seed):
        return True
    raise ValueError(f"{info_path.parent} holds {what} made with n={info['n']} size={info['size']} seed={info['seed']}; choose another folder")


def object_weights(objects: torch.Tensor, object_weight: float) -> torch.Tensor:
    """A loss weight per cell or token: 1 on the ground, `object_weight` where an object is (masks
    from `world.render.object_mask`); the object-weighted loss of the shapes-wan study."""
    return 1 + (object_weight - 1) * objects.float()


class ShapesImages:
    """ShapesWorld images drawn on the fly from (seed, index): clean renders, and a fraction of
    blocky drafts (the unrefined frames of CoF chains), which the VAE must also reproduce."""

    def __init__(self, n: int, size: int = 64, seed: int = 0, draft_fraction: float = 0.3, tags=ALL_TAGS):
        self.n, self.size, self.seed, self.draft_fraction, self.tags = n, size, seed, draft_fraction, tuple(tags)

    def __len__(self) -> int:
        return self.n

    def image(self, i: int) -> np.ndarray:
        _, scene = draw_record(self.seed, i, self.tags, "in_distribution")
        if np.random.default_rng([self.seed, i, 1]).random() < self.draft_fraction:
            return render_draft(scene.objects, self.size)
        return scene.render(self.size)

    def batch(self, indices) -> torch.Tensor:
        return to_tensor(np.stack([self.image(i) for i in indices]))


class ShapesClips:
    """ShapesWorld event clips (world/video.py) drawn on the fly from (seed, index): (T, 3, H, W) each,
    for fine-tuning the VAE's temporal layers."""

    def __init__(self, n: int, num_frames: int = 17, size: int = 64, seed: int = 0):
        from ..world.video import check_clip_length

        check_clip_length(num_frames)
        self.n, self.num_frames, self.size, self.seed = n, num_frames, size, seed

    def __len__(self) -> int:
        return self.n

    def event(self, i: int):
        """Clip i as the world drew it (its scenes and captions)."""
        from ..world.video import sample_clip

        return sample_clip(np.random.default_rng([self.seed, i, 2]), self.num_frames, held_out=False)

    def clip(self, i: int) -> np.ndarray:
        return self.event(i).render(self.size)

    def batch(self, indices) -> torch.Tensor:
        return to_tensor(np.stack([self.clip(i) for i in indices]))
