"""ReasonDiff's generator: a Wan DiT guided frame by frame by AlignFormer's latents.

Injection follows Wan2.1's image-to-video path (diffusers' `WanImageToVideoPipeline`), which is also
the released ReasonDiff code's: the DiT reads, channel-concatenated with the noisy latents, a
condition `y` of `temporal` mask channels and the condition latents. Where plain I2V puts the image's
latent at frame 0 and zeros elsewhere, ReasonDiff puts AlignFormer's c* in every latent frame, the
condition image's true latent at the anchor frame. So the DiT takes C + temporal + C input channels
(36 for Wan2.1's 16 latent channels and stride 4).

Choices where the released code and the paper differ or are silent (docs/reasondiff.md):
- the mask marks the anchor frame as Wan2.1's image-to-video marks its first frame (`anchor_mask =
  "frame"`): one mask value per pixel frame, frame 0's repeated `temporal` times, folded into
  `temporal` channels per latent frame, so the channel says which frame of its latent frame the image
  is. Models trained before this choice mark all `temporal` channels of the anchor's latent frame
  (`"latent-frame"`), which leaves the frame within it unsaid. The released code leaves the mask all
  ones, which tells the DiT nothing, and keeps the anchor binary (first or last frame);
- with frame-packed latents (ShapesWorld, data.py) `"frame-slot"` also puts the image's latent in its
  own frame's slot of the anchor's latent frame only, where the mask is set, and c* in the other
  slots: the image then sits in the very channels the DiT must reproduce it in. `"frame"` and
  `"latent-frame"` put it in every slot (all a video VAE's latent frame allows). Fine-tuned from a
  `"frame"` model, `"frame-slot"` measured no better (docs/reasondiff.md), so it is an option;
- the text context is the per-latent-frame narrative states concatenated along the sequence, as in
  the released code; narratives are grouped per latent frame by `group_by_latent_frame`. With
  `text_attention = "all"` (the released code's) every video token reads every frame's narrative, so
  the DiT is not told which narrative is whose. `"frame"` masks the DiT's cross-attention so that
  each latent frame's tokens read only their own frame's narrative, as WanAnimate gives each frame
  its own face features (our option; the paper is silent).

On Wan2.1's image-to-video DiT (the real path: a diffusers Wan2.1-I2V folder) every block's
cross-attention also reads CLIP features of the condition image (`add_k_proj`, `add_v_proj`), as the
released code feeds it. diffusers' processor finds those tokens by assuming 512 text tokens after
them, which the per-frame context (F x 512 tokens) breaks; `CrossAttnProcessor` is told how many
image tokens lead the context instead, and applies the per-frame text mask to the text alone.

Ablation switches (the paper's): `enhanced=False` drops c* (the condition latent at the anchor only,
zeros elsewhere: plain image-to-video at the anchor).
"""

from __future__ import annotations

import torch
from torch import nn

from .alignformer import AlignFormer, at_anchor_frame
from .latents import latent_index

ANCHOR_MASKS = ("frame", "frame-slot", "latent-frame")
TEXT_ATTENTIONS = ("all", "frame")


def _wan_processor():
    from diffusers.models.transformers.transformer_wan import WanAttnProcessor

    return WanAttnProcessor()


class CrossAttnProcessor:
    """Wan's cross-attention with what the model sets for each call: `image_tokens`, how many CLIP
    image tokens lead the context (0 without), and `mask`, bool (B or 1, 1, Sq, S_text), True where a
    video token may read a text token (None: every one). Computes what diffusers' `WanAttnProcessor`
    computes (text attention plus image attention, summed, then the output projection)."""

    def __init__(self):
        self.image_tokens, self.mask = 0, None

    @staticmethod
    def _attend(attn, query, key, value, mask=None):
        key, value = key.unflatten(2, (attn.heads, -1)).transpose(1, 2), value.unflatten(2, (attn.heads, -1)).transpose(1, 2)
        out = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=mask)
        return out.transpose(1, 2).flatten(2, 3).type_as(query)

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        image, text = encoder_hidden_states[:, : self.image_tokens], encoder_hidden_states[:, self.image_tokens :]
        query = attn.norm_q(attn.to_q(hidden_states)).unflatten(2, (attn.heads, -1)).transpose(1, 2)
        out = self._attend(attn, query, attn.norm_k(attn.to_k(text)), attn.to_v(text), self.mask)
        if self.image_tokens:
            out = out + self._attend(attn, query, attn.norm_added_k(attn.add_k_proj(image)), attn.add_v_proj(image))
        return attn.to_out[1](attn.to_out[0](out))


class ReasonDiffModel(nn.Module):
    def __init__(self, transformer, alignformer: AlignFormer, temporal: int = 4, anchor_mask: str = "frame",
                 text_attention: str = "all"):  # fmt: skip
        super().__init__()
        if anchor_mask not in ANCHOR_MASKS:
            raise ValueError(f"anchor mask {anchor_mask!r}: choose frame (Wan's per-frame mask), frame-slot (the same, "
                             "frame-packed latents) or latent-frame (the anchor's whole latent frame)")  # fmt: skip
        self.transformer, self.alignformer, self.temporal, self.anchor_mask = transformer, alignformer, temporal, anchor_mask
        self.image_context = transformer.config.image_dim is not None  # Wan2.1 I2V: CLIP features of the image
        self.cross_processor = CrossAttnProcessor()
        self.text_attention = text_attention
        c = alignformer.proj_out.out_features
        if anchor_mask == "frame-slot" and c % temporal:
            raise ValueError(f"anchor mask frame-slot needs frame-packed latents ({temporal} slots of equal channels); "
                             f"{c} channels do not split into {temporal}: use frame")  # fmt: skip
        want = 2 * c + temporal
        if transformer.config.in_channels != want:
            raise ValueError(f"the DiT takes {transformer.config.in_channels} input channels; ReasonDiff needs {want} "
                             f"({c} noisy + {temporal} mask + {c} condition latents)")  # fmt: skip

    @property
    def text_attention(self) -> str:
        return self._text_attention

    @text_attention.setter
    def text_attention(self, value: str) -> None:
        """`frame`, or a DiT that reads image features, puts `CrossAttnProcessor` on every block's
        cross-attention; otherwise the DiT keeps its own (or gets Wan's back)."""
        if value not in TEXT_ATTENTIONS:
            raise ValueError(f"text attention {value!r}: choose all (every frame reads every narrative, the released code's) "
                             "or frame (each latent frame reads its own narrative)")  # fmt: skip
        ours = value == "frame" or self.image_context
        if ours or getattr(self, "_text_attention", "all") == "frame":
            for block in self.transformer.blocks:
                block.attn2.set_processor(self.cross_processor if ours else _wan_processor())
        self._text_attention = value

    def text_mask(self, num_frames: int, height: int, width: int, context_length: int, device) -> torch.Tensor:
        """(1, 1, Sq, Sk) bool: the video token of latent frame f (frame-major order, as Wan patches
        the latents) reads the text tokens of frame f's narrative, the f-th of F equal groups."""
        if context_length % num_frames:
            raise ValueError(f"a text context of {context_length} tokens does not split into {num_frames} frames' narratives")
        _, ph, pw = self.transformer.config.patch_size
        per_frame = (height // ph) * (width // pw)
        video_frame = torch.arange(num_frames * per_frame, device=device) // per_frame
        text_frame = torch.arange(context_length, device=device) // (context_length // num_frames)
        return (video_frame[:, None] == text_frame[None])[None, None]

    @property
    def latent_channels(self) -> int:
        return self.alignformer.proj_out.out_features

    def condition(self, anchor: torch.Tensor, narratives: torch.Tensor, narrative_mask: torch.Tensor,
                  anchor_frame: torch.Tensor, num_frames: int, enhanced: bool = True) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """The DiT's `y` (B, temporal + C, F, h, w) and the per-frame latents c* (B, C, F, h, w).
        anchor (B, C, h, w); narratives (B, F, L, D) per latent frame; anchor_frame (B,) pixel frames
        of the clip's 1 + temporal * (F - 1)."""
        B, C, h, w = anchor.shape
        frames = 1 + self.temporal * (num_frames - 1)
        if not ((0 <= anchor_frame) & (anchor_frame < frames)).all():
            raise ValueError(f"anchor frame {anchor_frame.tolist()} lies outside the clip's {frames} frames")
        anchor_index = latent_index(anchor_frame, self.temporal)
        mask = self.mask(anchor_frame, num_frames)
        image_at = self.image_at(mask, anchor_index)
        if enhanced:
            c_star = self.alignformer(anchor, narratives, narrative_mask, anchor_index, image_at)
        else:
            c_star = torch.where(image_at[..., None, None], anchor[:, :, None].expand(B, C, num_frames, h, w), torch.zeros((), device=anchor.device))
        mask = mask.to(c_star.dtype)[..., None, None].expand(B, self.temporal, num_frames, h, w)
        return torch.cat([mask, c_star.to(mask.dtype)], dim=1), c_star

    def mask(self, anchor_frame: torch.Tensor, num_frames: int) -> torch.Tensor:
        """(B, temporal, F). `frame` and `frame-slot`: Wan's image-to-video mask with the anchor frame in
        place of frame 0 (one value per pixel frame, frame 0's repeated `temporal` times, then
        `temporal` per latent frame). `latent-frame`: every channel of the anchor's latent frame."""
        if self.anchor_mask == "latent-frame":
            return at_anchor_frame(latent_index(anchor_frame, self.temporal), self.temporal, num_frames)
        frames = 1 + self.temporal * (num_frames - 1)
        per_frame = torch.arange(frames, device=anchor_frame.device)[None] == anchor_frame[:, None]  # (B, frames)
        per_frame = torch.cat([per_frame[:, :1].expand(-1, self.temporal), per_frame[:, 1:]], dim=1)
        return per_frame.view(-1, num_frames, self.temporal).transpose(1, 2)

    def image_at(self, mask: torch.Tensor, anchor_index: torch.Tensor) -> torch.Tensor:
        """(B, C, F) bool: where the condition latents hold the image's own latent. `frame-slot`: the
        channels of the slots the mask sets (slot s is channels s * C/temporal onwards, as
        `FrameVAE.encode_packed` stacks them); otherwise every channel of the anchor's latent frame."""
        if self.anchor_mask == "frame-slot":
            return mask.repeat_interleave(self.latent_channels // self.temporal, dim=1)
        return at_anchor_frame(anchor_index, self.latent_channels, mask.shape[-1])

    def velocity(self, x: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor, y: torch.Tensor,
                 image_states: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """Velocity for noisy latents x (B, C, F, h, w) given the text context (B, S, D) and `y` (the
        sampler computes `y` once and calls this at every step); `image_states` (B, N, image_dim): the
        condition image's CLIP features, for an image-to-video DiT only."""
        if self.image_context != (image_states is not None):
            raise ValueError("this DiT reads the condition image's CLIP features (Wan2.1 image-to-video): pass image_states"
                             if self.image_context else "this DiT has no image cross-attention: image_states must be None")  # fmt: skip
        if self.text_attention == "frame":
            self.cross_processor.mask = self.text_mask(*x.shape[2:], context.shape[1], x.device)
        self.cross_processor.image_tokens = 0 if image_states is None else image_states.shape[1]
        try:
            return self.transformer(torch.cat([x, y.to(x.dtype)], dim=1), timestep, context, return_dict=False,
                                    encoder_hidden_states_image=None if image_states is None else image_states.to(x.dtype))[0]  # fmt: skip
        finally:
            self.cross_processor.mask, self.cross_processor.image_tokens = None, 0

    def forward(self, x, timestep, context, anchor, narratives, narrative_mask, anchor_frame, enhanced: bool = True,
                image_states: torch.Tensor | None = None):  # fmt: skip
        """Training: (velocity, c*) in one call, so that a DDP-wrapped model sees every parameter used."""
        y, c_star = self.condition(anchor, narratives, narrative_mask, anchor_frame, x.shape[2], enhanced)
        return self.velocity(x, timestep, context, y, image_states), c_star


def build_reasondiff_model(preset, channels: int, temporal: int, text_dim: int, anchor_mask: str = "frame",
                           text_attention: str = "all") -> ReasonDiffModel:  # fmt: skip
    """A fresh ReasonDiffModel: a Wan DiT of `preset` taking the noisy latents, the anchor mask and the
    condition latents (2 x channels + temporal input channels), and an AlignFormer for `channels`."""
    from ...backbones.wan import build_transformer

    dit = build_transformer(preset, in_channels=2 * channels + temporal, out_channels=channels)
    return ReasonDiffModel(dit, AlignFormer(channels, text_dim), temporal=temporal, anchor_mask=anchor_mask, text_attention=text_attention)


def narrative_context(states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-latent-frame narrative states (B, F, L, D) -> the DiT's context (B, F*L, D) and the
    AlignFormer's token mask (B, F, L): a token is real where any of its group's states is non-zero
    (text encoders here give exact zeros beyond a prompt)."""
    B, F, L, D = states.shape
    return states.reshape(B, F * L, D), states.abs().amax(-1) > 0
