"""ReasonDiff's two training stages on the rectified-flow loss (the CoF machinery: `flow_loss`,
`PromptCache`, the shared loop).

- Stage 1 (joint): the DiT (or its LoRA) and AlignFormer on the flow loss.
- Stage 2: AlignFormer alone (the caller freezes the DiT), flow loss + 0.2 ||c* - c||^2 against the
  clip's true latents (`aux_latent_loss`, the paper's weight).

Classifier-free guidance drops the DiT's text context (each frame's narrative replaced by the empty
prompt) with probability 0.1; the condition `y`, built from the image and the narratives, stays, as
Wan's image-to-video keeps its image in both branches.

Ablations (the paper's): `multi_frame=False` gives every frame the clip's caption instead of its own
narrative; `enhanced=False` drops c* (the image at the anchor only); `aux_weight=0` drops the
auxiliary loss.
"""

from __future__ import annotations

import torch

from ...flow import flow_loss
from .alignformer import aux_latent_loss
from .data import encode_narratives
from .model import narrative_context


class ReasonDiffTask:
    def __init__(self, prompt_cache, temporal: int = 4, stage: int = 1, aux_weight: float = 0.2, shift: float = 1.0,
                 drop_prob: float = 0.1, timesteps: str = "logit_normal", multi_frame: bool = True, enhanced: bool = True):  # fmt: skip
        if stage not in (1, 2):
            raise ValueError(f"stage {stage}: ReasonDiff trains in stage 1 (joint) or 2 (AlignFormer with the auxiliary loss)")
        self.prompts, self.temporal, self.stage, self.aux_weight = prompt_cache, temporal, stage, aux_weight
        self.shift, self.drop_prob, self.timesteps = shift, drop_prob, timesteps
        self.multi_frame, self.enhanced = multi_frame, enhanced

    def loss(self, model, batch, generator):
        clips, cond, anchor_frame, narratives, captions, image_states = batch
        if not self.multi_frame:
            narratives = [[c] * len(n) for c, n in zip(captions, narratives)]
        device = next(model.parameters()).device
        grouped = encode_narratives(self.prompts, narratives, self.temporal).to(device)
        _, token_mask = narrative_context(grouped)
        keep = (torch.rand(len(clips), generator=generator) >= self.drop_prob).to(device)
        empty = self.prompts([""]).to(device)[:, None]  # (1, 1, L, D): the empty prompt in every frame
        context, _ = narrative_context(torch.where(keep.view(-1, 1, 1, 1), grouped, empty))
        clips, cond, anchor_frame = clips.to(device), cond.to(device), anchor_frame.to(device)
        image_states = None if image_states is None else image_states.to(device)  # an image-to-video DiT's CLIP input
        out = {}

        def velocity(x, t):
            v, out["c_star"] = model(x, t, context, cond, grouped, token_mask, anchor_frame, self.enhanced, image_states)
            return v

        loss = flow_loss(velocity, clips, generator, self.shift, self.timesteps)
        logs = {"flow": loss.item()}
        if self.stage == 2 and self.aux_weight and self.enhanced:
            aux = aux_latent_loss(out["c_star"], clips, self.aux_weight)
            loss, logs["aux"] = loss + aux, aux.item()
        return loss, logs
