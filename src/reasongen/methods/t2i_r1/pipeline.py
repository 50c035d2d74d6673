"""`T2IR1Pipeline`: T2I-R1's generation. The semantic CoT is sampled as text from the prompt (under
the reasoning instruction, for real Janus-Pro), then the image tokens conditioned on prompt and CoT
with classifier-free guidance (Janus's unconditional row), then decoded by the VQ tokenizer.
`use_cot=False` draws from the prompt alone (the direct baseline).

On disk: `model_index.json`, `model/` (the `JanusForConditionalGeneration`, VQ tokenizer inside) and
`tokenizer/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...backbones.janus import JanusT2I
from .. import read_model_index, save_weights
from ..pipeline_base import ReasongenPipeline
from .format import FORMATS, SequenceFormat, cot_token_limit

DEFAULTS = {
    "format": "plain",
    "guidance_scale": 5.0,  # T2I-R1's cfg_weight
    "image_temperature": 1.0,  # Janus and T2I-R1 sample image tokens at 1.0
    "cot_temperature": 1.0,  # T2I-R1 samples CoTs at the generation config's 1.0
    "max_cot_tokens": None,  # None: follows the checkpoint (format.cot_token_limit: 1024 on Janus-Pro, 64 on ShapesWorld)
    "use_cot": True,
}


@dataclass
class BiCoTOutput:
    image: np.ndarray  # uint8 H x W x 3
    cot: str | None
    seed: int


class T2IR1Pipeline(ReasongenPipeline):
    defaults = DEFAULTS
    max_batch = 64  # rows sampled together; more are drawn in turn (no result depends on it)

    def __init__(self, model, tokenizer, **config):
        self.register_settings(config)
        if self.config["format"] not in FORMATS:
            raise ValueError(f"format {self.config['format']!r}: choose from {', '.join(FORMATS)}")
        self.model, self.tokenizer = model.eval(), tokenizer
        self.janus = JanusT2I(model, tokenizer)
        self.fmt = SequenceFormat(tokenizer, self.config["format"])

    @property
    def max_cot_tokens(self) -> int:
        """The CoT limit: the setting, or the checkpoint's own (`cot_token_limit`)."""
        return self.config["max_cot_tokens"] or cot_token_limit(self.janus.max_positions, self.janus.num_image_tokens, self.fmt.kind)

    @classmethod
    def from_pretrained(cls, path: str | Path, device="cpu", dtype=torch.float32, **overrides) -> "T2IR1Pipeline":
        from transformers import AutoTokenizer, JanusForConditionalGeneration

        path = Path(path)
        index = read_model_index(path, "t2i-r1")
        model = JanusForConditionalGeneration.from_pretrained(path / "model", local_files_only=True, use_safetensors=True, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(path / "tokenizer", local_files_only=True)
        config = cls.settings_in(index)
        return cls(model.to(device), tokenizer, **{**config, **overrides})

    def save_pretrained(self, path: str | Path, dtype=None) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_weights(self.model, path / "model", dtype)
        self.tokenizer.save_pretrained(path / "tokenizer")
        self.write_model_index(path, self.model_index())

    @torch.no_grad()
    def __call__(self, prompts: str | list[str], seeds: int | list[int] = 0, use_cot: bool | None = None,
                 guidance_scale: float | None = None) -> list[BiCoTOutput]:  # fmt: skip
        """One image per (prompt, seed); a single prompt with several seeds repeats the prompt.
        Each sample draws from its own generator, so a sample does not depend on its batch."""
        cfg = self.config
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        seeds = [seeds] if isinstance(seeds, int) else list(seeds)
        if len(prompts) == 1 and len(seeds) > 1:
            prompts = prompts * len(seeds)
        if len(prompts) != len(seeds):
            raise ValueError(f"{len(prompts)} prompts and {len(seeds)} seeds: give one seed per prompt, or one prompt")
        if not all(isinstance(p, str) and p.strip() for p in prompts):
            raise ValueError(f"prompts must be non-empty strings, got {prompts!r}")
        use_cot = cfg["use_cot"] if use_cot is None else use_cot
        g = cfg["guidance_scale"] if guidance_scale is None else guidance_scale
        outputs = []
        for start in range(0, len(prompts), self.max_batch):  # batches of rows, each drawing from its own generator
            rows, row_seeds = prompts[start : start + self.max_batch], seeds[start : start + self.max_batch]
            gens = [torch.Generator().manual_seed(int(seed)) for seed in row_seeds]
            cot_ids, cots = [None] * len(rows), [None] * len(rows)
            if use_cot:
                cot_ids = self.janus.sample_text([self.fmt.cot_prefix(p) for p in rows], self.max_cot_tokens, cfg["cot_temperature"], gens)
                cots = [self.fmt.cot_text(c) for c in cot_ids]
            prefixes = [self.fmt.image_prefix_after(p, c) if use_cot else self.fmt.image_prefix(p, None) for p, c in zip(rows, cot_ids)]
            tokens = self.janus.sample_image_tokens(prefixes, g, cfg["image_temperature"], gens)
            outputs += [BiCoTOutput(image, cot, int(seed)) for image, cot, seed in zip(self.janus.decode(tokens), cots, row_seeds)]
        return outputs

    @torch.no_grad()
    def caption(self, images: list[np.ndarray], max_tokens: int = 64) -> list[str]:
        """Greedy captions of images read through the understanding encoder: the base's pretraining
        task (`eval/understanding.py` measures it)."""
        prefix = self.fmt.caption_prefix(self.janus.understanding_tokens)
        ids = self.janus.sample_text([prefix] * len(images), max_tokens, 0.0, None, images=np.stack(images))
        return [self.fmt.cot_text(c) for c in ids]
