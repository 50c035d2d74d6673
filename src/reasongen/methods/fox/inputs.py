"""What the FoXperts model reads, shared by training and the pipeline: text parts as token rows,
and an image blanked under a mask (the correction step's input)."""

from __future__ import annotations

import numpy as np
import torch

from ...world.vocab import GROUND

IGNORE = -100


def encode_texts(tokenizer, texts: list[list[str]], learn_from: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each sample is a list of parts, each ended by the tokenizer's end-of-text token, joined and
    right-padded. Returns ids (B, n), valid (B, n) and labels (B, n): the ids of parts from index
    `learn_from` on (IGNORE elsewhere and on padding)."""
    eos = tokenizer.eos_token_id
    rows, labels = [], []
    for parts in texts:
        ids, lab = [], []
        for j, part in enumerate(parts):
            p = tokenizer(part, add_special_tokens=True).input_ids
            if not p or p[-1] != eos:  # tokenizers that do not end a text themselves (Qwen2's)
                p = p + [eos]
            ids += p
            lab += p if learn_from is not None and j >= learn_from else [IGNORE] * len(p)
        rows.append(ids)
        labels.append(lab)
    n = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([r + [pad] * (n - len(r)) for r in rows])
    valid = torch.tensor([[True] * len(r) + [False] * (n - len(r)) for r in rows])
    lab = torch.tensor([r + [IGNORE] * (n - len(r)) for r in labels])
    return ids, valid, lab


def plan_parts(prompt: str, caption: str, layout: str) -> list[str]:
    return [prompt, caption, layout]


def blank(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The correction task's input: the image with the masked pixels set to the ground colour."""
    out = image.copy()
    out[mask.astype(bool)] = GROUND
    return out
