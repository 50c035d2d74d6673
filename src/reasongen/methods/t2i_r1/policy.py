"""T2I-R1's policy for GRPO (`rl/grpo.py`): for each prompt, G semantic CoTs sampled as text, one
image for each drawn as tokens with classifier-free guidance; the log-probs of [CoT tokens | image
tokens] are concatenated per sample, so one loss trains both levels (BiCoT).

`levels` picks what GRPO trains, for the paper's ablation: `both`, `image` (image tokens only; the CoT
is still sampled and conditions the image) or `cot` (CoT tokens only). `branch` picks which
distribution scores the image tokens: `cond`, the conditional branch without guidance (the official
code), or `cfg`, the guided distribution the tokens were drawn from.
"""

from __future__ import annotations

import torch

from ...backbones.janus import JanusT2I
from ...rl.grpo import Rollout
from .format import SequenceFormat, cot_token_limit

LEVELS = ("both", "image", "cot")


class BiCoTPolicy:
    def __init__(self, janus: JanusT2I, fmt: SequenceFormat, levels: str = "both", use_cot: bool = True,
                 max_cot_tokens: int | None = None, cot_temperature: float = 1.0, image_temperature: float = 1.0,
                 guidance: float = 5.0, branch: str = "cond"):  # fmt: skip
        if levels not in LEVELS:
            raise ValueError(f"levels {levels!r}: choose from {', '.join(LEVELS)}")
        if levels in ("both", "cot") and not use_cot:
            raise ValueError(f"levels {levels!r} trains the CoT, but use_cot is off")
        if branch not in ("cond", "cfg"):
            raise ValueError(f"branch {branch!r}: use cond (the official T2I-R1 choice) or cfg")
        self.janus, self.fmt, self.levels, self.use_cot = janus, fmt, levels, use_cot
        self.max_cot_tokens = max_cot_tokens or cot_token_limit(janus.max_positions, janus.num_image_tokens, fmt.kind)  # None: the checkpoint's
        self.cot_temperature, self.image_temperature = cot_temperature, image_temperature
        self.guidance, self.branch = guidance, branch

    @torch.no_grad()
    def rollout(self, prompts: list[str], group_size: int, generator: torch.Generator) -> Rollout:
        expanded = [p for p in prompts for _ in range(group_size)]
        cot_prefixes = [self.fmt.cot_prefix(p) for p in expanded]
        if self.use_cot:
            cots = self.janus.sample_text(cot_prefixes, self.max_cot_tokens, self.cot_temperature, generator)
            image_prefixes = [self.fmt.image_prefix_after(p, c) for p, c in zip(expanded, cots)]
        else:
            cots = None
            image_prefixes = [self.fmt.image_prefix(p, None) for p in expanded]
        tokens = self.janus.sample_image_tokens(image_prefixes, self.guidance, self.image_temperature, generator)
        texts = [self.fmt.cot_text(c) for c in cots] if cots is not None else None
        data = {"cot_prefixes": cot_prefixes, "cots": cots, "image_prefixes": image_prefixes, "tokens": tokens}
        return Rollout(expanded, group_size, self.janus.decode(tokens), data, texts)

    def log_probs(self, rollout: Rollout) -> tuple[torch.Tensor, torch.Tensor]:
        d = rollout.data
        parts, masks = [], []
        if self.levels in ("both", "cot"):
            logp, mask = self.janus.text_logprobs(d["cot_prefixes"], d["cots"])
            parts.append(logp)
            masks.append(mask)
        if self.levels in ("both", "image"):
            logp = self.janus.image_logprobs(d["image_prefixes"], d["tokens"], self.branch, self.guidance)
            parts.append(logp)
            masks.append(torch.ones_like(logp))
        return torch.cat(parts, 1), torch.cat(masks, 1)
