"""Supervised fine-tuning of the Janus model on prompt -> CoT -> image tokens (T2I-R1's starting
point on ShapesWorld, where no pretrained Janus exists).

Each sample is laid out one of three ways: with its CoT (probability 1 - p_direct - p_uncond: the
CoT's tokens and the image tokens are both learnt), without a CoT (p_direct: prompt -> image, so the
same model is also the "direct generation without CoT" baseline), or as Janus's unconditional row
(p_uncond: every token but BOS and <begin_of_image> replaced by padding; classifier-free guidance
needs it). Loss: cross-entropy of the image tokens (generation head) plus `cot_weight` times that of
the CoT tokens (language-model head).
"""

from __future__ import annotations

import torch

from ...backbones.janus import JanusT2I
from .format import SequenceFormat


class BiCoTSFTTask:
    def __init__(self, tokenizer, fmt: SequenceFormat, p_direct: float = 0.2, p_uncond: float = 0.1, cot_weight: float = 1.0):
        if not (0 <= p_direct and 0 <= p_uncond and p_direct + p_uncond < 1):
            raise ValueError(f"p_direct {p_direct} and p_uncond {p_uncond} must be >= 0 and leave room for CoT samples")
        self.tokenizer, self.fmt, self.p_direct, self.p_uncond, self.cot_weight = tokenizer, fmt, p_direct, p_uncond, cot_weight

    def loss(self, model, batch, generator):
        janus = JanusT2I(getattr(model, "module", model), self.tokenizer)
        prefixes, with_cot = [], []
        for prompt, cot, u in zip(batch["prompts"], batch["cots"], torch.rand(len(batch["prompts"]), generator=generator).tolist()):
            if u < self.p_uncond:
                prefixes.append(janus.uncond_prefix(self.fmt.image_prefix(prompt, cot)))
            elif u < self.p_uncond + self.p_direct:
                prefixes.append(self.fmt.image_prefix(prompt, None))
            else:
                prefixes.append(self.fmt.image_prefix(prompt, cot))
                with_cot.append((prompt, cot))
        image = -janus.image_logprobs(prefixes, batch["codes"], "cond").mean()
        logs = {"image_ce": image.item()}
        loss = image
        if with_cot:
            logp, mask = janus.text_logprobs([self.fmt.cot_prefix(p) for p, _ in with_cot], [self.fmt.cot_ids(c) for _, c in with_cot])
            cot = -(logp * mask).sum() / mask.sum()
            loss = loss + self.cot_weight * cot
            logs["cot_ce"] = cot.item()
        return loss, logs
