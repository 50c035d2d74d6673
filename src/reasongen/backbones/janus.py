"""Janus(-Pro) for T2I-R1: transformers' `JanusForConditionalGeneration` with its VQ image tokenizer.

Presets: `tiny` (tests), `shapes` (ShapesWorld at 64 px: a VQ tokenizer with 8x downsampling, so an
image is 8 x 8 = 64 tokens of 512 codes), `shapes16` (16 x 16 tokens), `shapes4k` (64 tokens of 4,096
codes) and the real Janus-Pro-1B / 7B, loaded from a local transformers folder
(`load_janus`). `JanusT2I` holds the primitives T2I-R1 needs on any of them, as Janus does them:

- text (the semantic CoT) sampled token by token after a prompt;
- image tokens sampled after `... <begin_of_image>` with classifier-free guidance on the generation
  head's raw logits, l = l_u + w (l_c - l_u), where the unconditional row is the same sequence with
  every token but BOS and `<begin_of_image>` replaced by padding (Janus's own construction);
- log-probabilities of given CoT and image tokens, with gradients, for GRPO; image tokens are scored
  by the conditional branch alone by default (the official T2I-R1 code), or by the guided
  distribution (`branch="cfg"`), which is the one they were sampled from;
- understanding: text after an image, which enters through the understanding encoder (SigLIP and
  its aligner) at the `<image_placeholder>` positions, for the base's captioning.

Sequences are left-padded so that every row ends where generation continues; positions count real
tokens only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PRESETS = {
    "tiny": dict(
        text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                  max_position_embeddings=512),  # fmt: skip
        vision=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, projection_dim=64, mlp_ratio=2.0),
        vq=dict(embed_dim=8, num_embeddings=64, latent_channels=32, base_channels=32, channel_multiplier=[1, 1, 2, 2],
                num_res_blocks=1, projection_dim=64, image_token_embed_dim=64),  # fmt: skip
        image_size=64,
    ),
    "shapes": dict(
        text=dict(hidden_size=256, intermediate_size=768, num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=4,
                  max_position_embeddings=1024),  # fmt: skip
        # the understanding encoder (a small SigLIP, one patch per VQ token): the base's captioning trains it, T2I-R1 does not use it
        vision=dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, projection_dim=256, mlp_ratio=2.0),
        vq=dict(embed_dim=8, num_embeddings=512, latent_channels=64, base_channels=32, channel_multiplier=[1, 1, 2, 2],
                num_res_blocks=1, projection_dim=256, image_token_embed_dim=256),  # fmt: skip
        image_size=64,
    ),
}


# `shapes` with one VQ level fewer: 16 x 16 tokens of 4 x 4 pixels (256 per image, 4x the sequence),
# for a tokenizer that keeps stars' points and crosses' arms, which 8 x 8 tokens round off (docs/t2i-r1.md).
PRESETS["shapes16"] = {**PRESETS["shapes"], "vq": {**PRESETS["shapes"]["vq"], "channel_multiplier": [1, 2, 2]}}
# `shapes` with 8x the codebook: still 64 tokens of 8 x 8 pixels, so the language model's sequence and
# cost stay as they are, but 4,096 codes (Janus has 16,384) for the edges' many colours and angles.
PRESETS["shapes4k"] = {**PRESETS["shapes"], "vq": {**PRESETS["shapes"]["vq"], "num_embeddings": 4096}}


def vq_downsampling(channel_multiplier) -> int:
    """Pixels per VQ token along a side: the Janus VQ halves the resolution between its levels."""
    return 2 ** (len(channel_multiplier) - 1)


def janus_config(preset: str, tokenizer):
    """A `JanusConfig` of a preset over `tokenizer`'s vocabulary (its special tokens included)."""
    from transformers import JanusConfig

    if preset not in PRESETS:
        raise ValueError(f"unknown Janus preset {preset!r}; choose from {', '.join(PRESETS)} (real Janus-Pro: load_janus(folder))")
    p = PRESETS[preset]
    ids = dict(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    text = dict(model_type="llama", vocab_size=len(tokenizer), **ids, **p["text"])
    # transformers sets the VQ token grid from the vision config (image_size // patch_size), so the
    # vision patch is the VQ's downsampling factor: 8 x 8 tokens for 64 px through an 8x VQ.
    factor = vq_downsampling(p["vq"]["channel_multiplier"])
    grid = p["image_size"] // factor
    vision = dict(p["vision"], image_size=p["image_size"], patch_size=factor, num_image_tokens=grid * grid)
    vq = dict(p["vq"], num_patches=grid)
    return JanusConfig(text_config=text, vision_config=vision, vq_config=vq,
                       image_token_id=tokenizer.convert_tokens_to_ids("<image_placeholder>"))  # fmt: skip


def build_janus(preset: str, tokenizer):
    from transformers import JanusForConditionalGeneration

    return JanusForConditionalGeneration(janus_config(preset, tokenizer))


def load_janus(folder, device="cpu", dtype=torch.float32):
    """A converted Janus-Pro checkpoint (e.g. a download of deepseek-community/Janus-Pro-1B) from a local
    folder: the model and its tokenizer. Safetensors only; nothing is fetched."""
    from pathlib import Path

    from transformers import AutoTokenizer, JanusForConditionalGeneration

    if not Path(folder).is_dir():
        raise ValueError(f"no Janus checkpoint at {folder}: pass a local folder in transformers format (e.g. a download of deepseek-community/Janus-Pro-1B)")
    model = JanusForConditionalGeneration.from_pretrained(folder, local_files_only=True, use_safetensors=True, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return model.to(device), tokenizer


def left_pad(rows: list[list[int]], pad_id: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ids left-padded to one length: ids (B, L) and the mask of real tokens (B, L)."""
    n = max(len(r) for r in rows)
    ids = torch.tensor([[pad_id] * (n - len(r)) + list(r) for r in rows], device=device)
    mask = torch.tensor([[0] * (n - len(r)) + [1] * len(r) for r in rows], device=device)
    return ids, mask


class JanusT2I:
    def __init__(self, model, tokenizer, boi_token_id: int | None = None):
        self.model, self.tokenizer = model, tokenizer
        self.boi = boi_token_id if boi_token_id is not None else tokenizer.convert_tokens_to_ids("<begin_of_image>")
        vq = model.config.vq_config
        self.num_image_tokens = vq.num_patches**2
        self.image_size = vq.num_patches * vq_downsampling(vq.channel_multiplier)  # pixels per side of a decoded image
        self.codebook = vq.num_embeddings

    @property
    def device(self):
        return next(self.model.parameters()).device

    def _lm(self, embeds, mask, past=None, positions=None):
        if positions is None:
            positions = (mask.long().cumsum(1) - 1).clamp(min=0)
        out = self.model.model.language_model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions,
                                              past_key_values=past, use_cache=past is not None)  # fmt: skip
        return out.last_hidden_state, out.past_key_values

    def text_embeds(self, ids, images=None):
        """Token embeddings; with `images` (B, H, W, 3) uint8, each row's `<image_placeholder>` tokens
        (one per understanding patch) take that row's image features instead, as Janus's forward does."""
        embeds = self.model.get_input_embeddings()(ids)
        if images is None:
            return embeds
        pixels = torch.as_tensor(images, device=self.device).permute(0, 3, 1, 2).float() / 127.5 - 1  # Janus's mean 0.5, std 0.5
        features = self.model.model.get_image_features(pixels.to(embeds.dtype)).pooler_output
        where = (ids == self.model.config.image_token_id)[..., None]
        if where.sum() != features.shape[0] * features.shape[1]:
            raise ValueError(f"{int(where.sum())} image placeholders for {features.shape[0]} images of {features.shape[1]} patches")
        return embeds.masked_scatter(where, features.to(embeds.dtype))

    @property
    def max_positions(self) -> int:
        return self.model.config.text_config.max_position_embeddings

    @property
    def understanding_tokens(self) -> int:
        """Placeholders one image takes in an understanding prompt (its vision patches)."""
        return self.model.config.vision_config.num_image_tokens

    def image_embeds(self, tokens):
        return self.model.prepare_embeddings_for_image_generation(tokens)

    def uncond_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Janus's unconditional row: every token but BOS and BOI replaced by padding."""
        keep = (ids == self.tokenizer.bos_token_id) | (ids == self.boi)
        return torch.where(keep, ids, torch.full_like(ids, self.tokenizer.pad_token_id))

    def uncond_prefix(self, prefix: list[int]) -> list[int]:
        return self.uncond_ids(torch.tensor(prefix)).tolist()

    # -- sampling (no gradients) --------------------------------------------------------------------
    @torch.no_grad()
    def sample_text(self, prefixes: list[list[int]], max_new_tokens: int, temperature: float = 1.0,
                    generator: torch.Generator | None = None, images=None) -> list[list[int]]:  # fmt: skip
        """Continue each prefix until end-of-text (included) or `max_new_tokens`. `generator`: one
        for the batch, or one per row (see `_pick`); temperature 0: greedy. `images`: one per row,
        for prefixes that hold image placeholders (captioning)."""
        from transformers import DynamicCache

        ids, mask = left_pad(prefixes, self.tokenizer.pad_token_id, self.device)
        past = DynamicCache()
        h, past = self._lm(self.text_embeds(ids, images), mask, past)
        out = [[] for _ in prefixes]
        done = torch.zeros(len(prefixes), dtype=torch.bool)
        for _ in range(max_new_tokens):
            logits = self.model.lm_head(h[:, -1]).float()
            tok = _pick(logits, temperature, generator, ~done)
            for i, t in enumerate(tok.tolist()):
                if not done[i]:
                    out[i].append(t)
                    done[i] = t == self.tokenizer.eos_token_id
            if done.all():
                break
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
            h, past = self._lm(self.text_embeds(tok[:, None].to(self.device)), mask, past, mask.sum(1, keepdim=True) - 1)
        return out

    @torch.no_grad()
    def sample_image_tokens(self, prefixes: list[list[int]], guidance: float = 5.0, temperature: float = 1.0,
                            generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
        """Image tokens (B, N) after each prefix (which must end with <begin_of_image>), with CFG."""
        from transformers import DynamicCache

        if any(not p or p[-1] != self.boi for p in prefixes):
            raise ValueError("each image prefix must end with the <begin_of_image> token")
        ids, mask = left_pad(prefixes, self.tokenizer.pad_token_id, self.device)
        B = len(prefixes)
        both = torch.cat([ids, self.uncond_ids(ids)]) if guidance != 1.0 else ids
        mask2 = torch.cat([mask, mask]) if guidance != 1.0 else mask
        past = DynamicCache()
        h, past = self._lm(self.text_embeds(both), mask2, past)
        tokens = torch.zeros(B, self.num_image_tokens, dtype=torch.long)
        for k in range(self.num_image_tokens):
            logits = self.model.model.generation_head(h[:, -1]).float()
            if guidance != 1.0:
                logits = logits[B:] + guidance * (logits[:B] - logits[B:])
            tok = _pick(logits, temperature, generator)
            tokens[:, k] = tok
            step = tok.to(self.device)
            step = torch.cat([step, step]) if guidance != 1.0 else step
            mask2 = torch.cat([mask2, torch.ones_like(mask2[:, :1])], 1)
            h, past = self._lm(self.image_embeds(step[:, None]), mask2, past, mask2.sum(1, keepdim=True) - 1)
        return tokens

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> list:
        """Image tokens -> uint8 H x W x 3 arrays."""
        x = self.model.model.vqmodel.decode(tokens.to(self.device))
        return list(((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())

    # -- scoring (with gradients) ---------------------------------------------------------------------
    def text_logprobs(self, prefixes: list[list[int]], completions: list[list[int]],
                      images=None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Log-probs (B, T) of each completion after its prefix, and the mask of its real tokens.
        `images`: one per row, for prefixes that hold image placeholders (captioning)."""
        rows = [p + c for p, c in zip(prefixes, completions)]
        ids, mask = left_pad(rows, self.tokenizer.pad_token_id, self.device)
        h, _ = self._lm(self.text_embeds(ids, images), mask)
        logp = torch.log_softmax(self.model.lm_head(h[:, :-1]).float(), -1).gather(-1, ids[:, 1:, None])[..., 0]
        T = max(len(c) for c in completions)
        out_mask = torch.zeros(len(rows), T, device=self.device)
        for i, c in enumerate(completions):
            out_mask[i, T - len(c) :] = 1  # completions sit at the right end of each left-padded row
        return logp[:, -T:], out_mask

    def image_logits(self, prefixes: list[list[int]], tokens: torch.Tensor, branch: str = "cond",
                     guidance: float = 5.0) -> torch.Tensor:  # fmt: skip
        """Generation-head logits (B, N, codebook) at every image position, given the tokens before it
        (teacher forcing): the conditional branch (`cond`) or the guided mix (`cfg`)."""
        if branch not in ("cond", "cfg"):
            raise ValueError(f"branch {branch!r}: use cond (the official T2I-R1 choice) or cfg")
        ids, mask = left_pad(prefixes, self.tokenizer.pad_token_id, self.device)
        tokens = tokens.to(self.device)
        n = tokens.shape[1]

        def head_logits(text_ids):
            embeds = torch.cat([self.text_embeds(text_ids), self.image_embeds(tokens[:, :-1])], 1)
            full = torch.cat([mask, torch.ones(len(tokens), n - 1, dtype=mask.dtype, device=mask.device)], 1)
            h, _ = self._lm(embeds, full)
            return self.model.model.generation_head(h[:, -n:]).float()

        logits = head_logits(ids)
        if branch == "cfg":
            uncond = head_logits(self.uncond_ids(ids))
            logits = uncond + guidance * (logits - uncond)
        return logits

    def image_logprobs(self, prefixes: list[list[int]], tokens: torch.Tensor, branch: str = "cond",
                       guidance: float = 5.0) -> torch.Tensor:  # fmt: skip
        """Log-probs (B, N) of given image tokens after each prefix: under the conditional branch
        (`cond`, T2I-R1's choice) or under the guided distribution they were sampled from (`cfg`)."""
        logits = self.image_logits(prefixes, tokens, branch, guidance)
        return torch.log_softmax(logits, -1).gather(-1, tokens.to(self.device)[..., None])[..., 0]


def _pick(logits: torch.Tensor, temperature: float, generator, active: torch.Tensor | None = None) -> torch.Tensor:
    """One token per row. `generator` is one torch.Generator (or None) for the whole batch, or a list
    with one per row, so that a row's draws depend on its own seed alone, not on its batch; rows not
    `active` (finished) then draw nothing, so that a row consumes its generator exactly as it would
    alone."""
    if temperature <= 0:
        return logits.argmax(-1).cpu()
    probs = F.softmax(logits / temperature, -1).cpu()
    if not isinstance(generator, (list, tuple)):
        return torch.multinomial(probs, 1, generator=generator)[:, 0]
    if len(generator) != len(probs):
        raise ValueError(f"{len(generator)} generators for {len(probs)} rows: give one per row")
    out = probs.argmax(-1)
    for i, g in enumerate(generator):
        if active is None or active[i]:
            out[i] = torch.multinomial(probs[i], 1, generator=g)[0]
    return out
