"""CoF-T2I (arXiv 2601.10061): a video model draws a chain of refining frames; the last frame is the image."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...world.vocab import CLASSES, COLOR_NAMES
from .. import model_path


class CoFGenerator:
    """`sample geneval --method cof`: one chain per seed; `frame` picks which frame is the image
    (-1: the last, as CoF-T2I decodes; 0 and 1 give F1 and F2 for the per-frame table)."""

    name = "cof"
    classes = CLASSES
    colors = COLOR_NAMES

    def __init__(self, model: str | None = None, frame: int = -1, steps: int | None = None, guidance: float | None = None,
                 size: int | None = None, device: str = "cpu", batch_size: int = 32):  # fmt: skip
        from .pipeline import CoFPipeline

        self.pipe = CoFPipeline.from_pretrained(model_path(model, "cof-shapes", "reasongen train cof"), device=device)
        self.num_frames = self.pipe.config["num_frames"]
        if not -self.num_frames <= frame < self.num_frames:
            raise ValueError(f"--frame {frame}: this model draws {self.num_frames} frame(s); use -1 or 0..{self.num_frames - 1}")
        self.frame, self.steps, self.guidance, self.batch_size = frame, steps, guidance, batch_size
        self.size = size or self.pipe.config["height"]
        self._chains: dict[tuple[str, int], list[np.ndarray]] = {}  # kept for `frame_view`s of the same draws

    records_per_call = 8  # the harness hands `many` up to this many records at once

    def draw(self, asks: Sequence[tuple[str, int]]) -> None:
        """Draw the chains of (prompt, seed) pairs not drawn yet, `batch_size` at a time across prompts.
        Each chain's noise comes from its own seed's generator, so what a chain looks like does not
        depend on which others share its batch (up to float rounding)."""
        import torch  # here, not at the top: the command line imports this package (config.py) and starts without torch

        todo = [a for a in dict.fromkeys(asks) if a not in self._chains]
        for i in range(0, len(todo), self.batch_size):
            chunk = todo[i : i + self.batch_size]
            gens = [torch.Generator().manual_seed(int(s)) for _, s in chunk]
            res = self.pipe([p for p, _ in chunk], height=self.size, width=self.size, generator=gens,
                            num_inference_steps=self.steps, guidance_scale=self.guidance, return_chain=True)  # fmt: skip
            for key, chain in zip(chunk, res.chains):
                self._chains[key] = chain

    def chains(self, prompt: str, seeds: Sequence[int]) -> list[list[np.ndarray]]:
        """The decoded chain of each seed (uint8 frames), drawn once and then remembered."""
        self.draw([(prompt, s) for s in seeds])
        return [self._chains[(prompt, s)] for s in seeds]

    def __call__(self, metadata: dict, seeds: Sequence[int]) -> list[np.ndarray]:
        return [chain[self.frame] for chain in self.chains(metadata["prompt"], seeds)]

    def many(self, asks: Sequence[tuple[dict, Sequence[int]]]) -> list[list[np.ndarray]]:
        """Several records' images, drawn in shared batches."""
        self.draw([(meta["prompt"], s) for meta, seeds in asks for s in seeds])
        return [self(meta, seeds) for meta, seeds in asks]

    def frame_view(self, frame: int) -> "CoFGenerator":
        """A generator giving frame `frame` of the same chains (same seeds, drawn once)."""
        view = object.__new__(CoFGenerator)
        view.__dict__.update(self.__dict__)
        view.frame = frame
        return view
