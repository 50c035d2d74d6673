"""FoXperts: one transformer whose tokens are routed to functionality-oriented experts (FoX, arXiv
2503.01298, "FoXperts").

A token's function picks its expert: text goes to the linguistic expert, clean image tokens (an image
to understand) to the semantic-visual expert, noised image tokens (an image being drawn) to the
generative-visual expert. Each expert owns its layer norms, QKV and output projections and FFN,
shaped exactly as a Qwen2 decoder layer (so a Qwen2 checkpoint initialises it, as the paper starts
every expert from Qwen2-0.5B); all tokens meet in one shared attention that is causal over text,
bidirectional inside an image and causal between segments (Transfusion / Mixture-of-Transformers
style). Heads: a language-model head on text, a velocity head on noised image tokens (rectified flow
on VAE latents, 2 x 2 patches), and a heatmap head on clean image tokens (reflection).

Expert layouts, for the paper's expert ablation: `functional` (the three above), `modality` (text /
image: both image kinds share one expert) and `dense` (one expert for everything).

Positions: one RoPE index over the whole sequence, as Qwen2 and Transfusion use, plus a learned
position per image patch (the paper does not say how image tokens are placed; this is our choice).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

TEXT, CLEAN_IMAGE, NOISY_IMAGE = 0, 1, 2
# Token kind -> expert index, for each layout of the paper's expert ablation.
EXPERT_LAYOUTS = {"functional": (0, 1, 2), "modality": (0, 1, 1), "dense": (0, 0, 0)}
EXPERT_NAMES = {
    "functional": ("linguistic", "semantic_visual", "generative_visual"),
    "modality": ("text", "image"),
    "dense": ("shared",),
}


def _qwen2_config(hidden_size, num_heads, num_kv_heads, intermediate_size, rope_theta, rms_norm_eps, max_positions):
    from transformers import Qwen2Config

    return Qwen2Config(hidden_size=hidden_size, num_attention_heads=num_heads, num_key_value_heads=num_kv_heads,
                       intermediate_size=intermediate_size, rope_theta=rope_theta, rms_norm_eps=rms_norm_eps,
                       max_position_embeddings=max_positions, hidden_act="silu")  # fmt: skip


class Expert(nn.Module):
    """One expert's weights in one layer: a Qwen2 decoder layer without its attention product."""

    def __init__(self, cfg):
        from transformers.models.qwen2.modeling_qwen2 import Qwen2MLP, Qwen2RMSNorm

        super().__init__()
        d, hd = cfg.hidden_size, cfg.hidden_size // cfg.num_attention_heads
        self.input_layernorm = Qwen2RMSNorm(d, eps=cfg.rms_norm_eps)
        self.q_proj = nn.Linear(d, cfg.num_attention_heads * hd, bias=True)
        self.k_proj = nn.Linear(d, cfg.num_key_value_heads * hd, bias=True)
        self.v_proj = nn.Linear(d, cfg.num_key_value_heads * hd, bias=True)
        self.o_proj = nn.Linear(cfg.num_attention_heads * hd, d, bias=False)
        self.post_attention_layernorm = Qwen2RMSNorm(d, eps=cfg.rms_norm_eps)
        self.mlp = Qwen2MLP(cfg)


class FoXpertsLayer(nn.Module):
    def __init__(self, cfg, num_experts: int):
        super().__init__()
        self.experts = nn.ModuleList(Expert(cfg) for _ in range(num_experts))
        self.num_heads, self.num_kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim = cfg.hidden_size // cfg.num_attention_heads

    def forward(self, x, groups, cos, sin, mask):
        """x (B, L, D); groups: for each expert, the flat indices (into B * L) of its tokens."""
        from transformers.models.qwen2.modeling_qwen2 import apply_rotary_pos_emb

        B, L, D = x.shape
        flat = x.reshape(B * L, D)
        qkv = [None, None, None]
        for expert, idx in zip(self.experts, groups):
            if idx.numel() == 0:
                continue
            h = expert.input_layernorm(flat.index_select(0, idx))
            for j, proj in enumerate((expert.q_proj, expert.k_proj, expert.v_proj)):
                out = proj(h)
                if qkv[j] is None:
                    qkv[j] = out.new_zeros(B * L, out.shape[-1])
                qkv[j] = qkv[j].index_copy(0, idx, out.to(qkv[j].dtype))
        q = qkv[0].view(B, L, self.num_heads, self.head_dim).transpose(1, 2)
        k = qkv[1].view(B, L, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = qkv[2].view(B, L, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=self.num_heads != self.num_kv_heads)
        attn = attn.transpose(1, 2).reshape(B * L, -1)
        out = None
        for expert, idx in zip(self.experts, groups):
            if idx.numel() == 0:
                continue
            h = flat.index_select(0, idx) + expert.o_proj(attn.index_select(0, idx))
            h = h + expert.mlp(expert.post_attention_layernorm(h))
            if out is None:
                out = h.new_zeros(B * L, D)
            out = out.index_copy(0, idx, h.to(out.dtype))
        return out.view(B, L, D)

    def decode(self, x, cos, sin, expert_index: int, past=None):
        """Text decoding with a key/value cache: the new tokens x (B, n, D), all of one expert, attend
        causally to the cached ones `past` = (k, v) and to each other. Returns (hidden states, cache)."""
        from transformers.models.qwen2.modeling_qwen2 import apply_rotary_pos_emb

        expert = self.experts[expert_index]
        B, n, _ = x.shape
        h = expert.input_layernorm(x)
        q = expert.q_proj(h).view(B, n, self.num_heads, self.head_dim).transpose(1, 2)
        k = expert.k_proj(h).view(B, n, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = expert.v_proj(h).view(B, n, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        seen = k.shape[2] - n
        mask = torch.ones(n, seen + n, dtype=torch.bool, device=x.device).tril(diagonal=seen)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=self.num_heads != self.num_kv_heads)
        h = x + expert.o_proj(attn.transpose(1, 2).reshape(B, n, -1))
        return h + expert.mlp(expert.post_attention_layernorm(h)), (k, v)


@dataclass
class TextSegment:
    """Token ids (B, n), right-padded; `valid` (B, n) marks the real tokens (None: all are)."""

    ids: torch.Tensor
    valid: torch.Tensor | None = None


@dataclass
class ImageSegment:
    """Normalised VAE latents (B, C, h, w). A noised image (being drawn) carries its flow timestep
    (B,), 1000 s; a clean one may carry `masked` (B, h, w) in [0, 1], the share of each latent pixel
    that is masked out (the correction task's input), which marks its tokens."""

    latents: torch.Tensor
    timestep: torch.Tensor | None = None
    masked: torch.Tensor | None = None

    @property
    def noisy(self) -> bool:
        return self.timestep is not None


class FoXpertsModel(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 256,
        num_layers: int = 6,
        num_heads: int = 4,
        num_kv_heads: int = 4,
        intermediate_size: int = 768,
        latent_channels: int = 8,
        latent_size: int = 16,  # side of the latent image (the VAE's output)
        patch_size: int = 2,
        pixels_per_latent: int = 4,  # the VAE's spatial factor: the heatmap is at image resolution
        experts: str = "functional",
        rope_theta: float = 1e6,
        rms_norm_eps: float = 1e-6,
        max_positions: int = 4096,
        tie_word_embeddings: bool = True,
        pad_token_id: int = 0,
    ):
        super().__init__()
        if experts not in EXPERT_LAYOUTS:
            raise ValueError(f"unknown expert layout {experts!r}; choose from {', '.join(EXPERT_LAYOUTS)}")
        if latent_size % patch_size:
            raise ValueError(f"latent_size {latent_size} is not a multiple of patch_size {patch_size}")
        from transformers.models.qwen2.modeling_qwen2 import Qwen2RMSNorm, Qwen2RotaryEmbedding

        cfg = _qwen2_config(hidden_size, num_heads, num_kv_heads, intermediate_size, rope_theta, rms_norm_eps, max_positions)
        self.route = EXPERT_LAYOUTS[experts]
        n_experts = max(self.route) + 1
        grid = latent_size // patch_size
        self.embed_tokens = nn.Embedding(vocab_size, hidden_size)
        self.patch_embed = nn.Linear(latent_channels * patch_size**2, hidden_size)
        self.image_pos = nn.Parameter(torch.zeros(grid * grid, hidden_size))
        self.mask_embed = nn.Parameter(torch.zeros(hidden_size))
        self.time_proj = Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(256, hidden_size)
        self.layers = nn.ModuleList(FoXpertsLayer(cfg, n_experts) for _ in range(num_layers))
        self.norms = nn.ModuleList(Qwen2RMSNorm(hidden_size, eps=rms_norm_eps) for _ in range(n_experts))
        self.rotary = Qwen2RotaryEmbedding(cfg)
        # Tied embeddings (Qwen2-0.5B's choice) read the embedding matrix; no second tensor is kept,
        # so the weights save to safetensors as they are.
        self.lm_head = None if tie_word_embeddings else nn.Linear(hidden_size, vocab_size, bias=False)
        self.velocity_head = nn.Linear(hidden_size, latent_channels * patch_size**2)
        heat = patch_size * pixels_per_latent
        self.heatmap_head = nn.Linear(hidden_size, heat * heat)
        # Qwen2's initializer_range: nn.Embedding's default N(0, 1) through the tied head gives logits
        # of std sqrt(hidden_size) and a first planning loss in the hundreds, whose gradients the
        # clip then shares with (and takes from) the flow loss.
        nn.init.normal_(self.embed_tokens.weight, std=0.02)
        nn.init.normal_(self.image_pos, std=0.02)
        nn.init.zeros_(self.velocity_head.weight)
        nn.init.zeros_(self.velocity_head.bias)

    # -- sequence assembly ------------------------------------------------------------------------
    def _patchify(self, z: torch.Tensor) -> torch.Tensor:
        B, C, h, w = z.shape
        p = self.config.patch_size
        if (C, h, w) != (self.config.latent_channels, self.config.latent_size, self.config.latent_size):
            raise ValueError(
                f"image latents of shape {(C, h, w)} do not fit this model, which takes "
                f"{(self.config.latent_channels, self.config.latent_size, self.config.latent_size)} (channels, height, width)"
            )
        return z.reshape(B, C, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(B, (h // p) * (w // p), C * p * p)

    def _unpatchify(self, t: torch.Tensor, channels: int, p: int) -> torch.Tensor:
        B, n, _ = t.shape
        g = int(round(n**0.5))
        return t.reshape(B, g, g, channels, p, p).permute(0, 3, 1, 4, 2, 5).reshape(B, channels, g * p, g * p)

    def _embed(self, seg) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Embeddings (B, n, D), validity (B, n) and token kind of one segment."""
        if isinstance(seg, TextSegment):
            valid = torch.ones_like(seg.ids, dtype=torch.bool) if seg.valid is None else seg.valid.bool()
            return self.embed_tokens(seg.ids), valid, TEXT
        x = self.patch_embed(self._patchify(seg.latents).to(self.patch_embed.weight.dtype)) + self.image_pos
        if seg.noisy:
            t = self.time_embed(self.time_proj(seg.timestep.reshape(-1)).to(x.dtype))
            x = x + t[:, None]
        elif seg.masked is not None:
            p = self.config.patch_size
            share = F.avg_pool2d(seg.masked[:, None].to(x.dtype), p).flatten(1)  # (B, n) share of each patch masked
            x = x + share[..., None] * self.mask_embed
        valid = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        return x, valid, NOISY_IMAGE if seg.noisy else CLEAN_IMAGE

    def forward(self, segments: list) -> list[torch.Tensor]:
        """Run a sequence of segments; returns one output per segment: text -> next-token logits
        (B, n, V); noised image -> velocity (B, C, h, w); clean image -> heatmap logits (B, 1, H, W)
        at image resolution."""
        parts = [self._embed(s) for s in segments]
        x = torch.cat([p[0] for p in parts], dim=1)
        valid = torch.cat([p[1] for p in parts], dim=1)
        kinds = torch.cat([torch.full_like(p[1], p[2], dtype=torch.long) for p in parts], dim=1)
        seg_id = torch.cat([torch.full_like(p[1], i, dtype=torch.long) for i, p in enumerate(parts)], dim=1)
        B, L, _ = x.shape
        positions = (valid.long().cumsum(1) - 1).clamp(min=0)
        mask = self._attention_mask(valid, kinds, seg_id)
        cos, sin = self.rotary(x, positions)
        route = torch.tensor(self.route, device=x.device)[kinds].flatten()
        groups = [torch.nonzero(route == e).squeeze(1) for e in range(len(self.norms))]
        for layer in self.layers:
            x = layer(x, groups, cos, sin, mask)
        flat = x.reshape(B * L, -1)
        normed = None
        for norm, idx in zip(self.norms, groups):
            if idx.numel():
                h = norm(flat.index_select(0, idx))
                normed = h.new_zeros(B * L, h.shape[-1]) if normed is None else normed
                normed = normed.index_copy(0, idx, h.to(normed.dtype))
        x = normed.view(B, L, -1)
        outs, start = [], 0
        for seg, (_, v, kind) in zip(segments, parts):
            h = x[:, start : start + v.shape[1]]
            start += v.shape[1]
            if kind == TEXT:
                outs.append(self.lm_head(h) if self.lm_head is not None else F.linear(h, self.embed_tokens.weight))
            elif kind == NOISY_IMAGE:
                outs.append(self._unpatchify(self.velocity_head(h), self.config.latent_channels, self.config.patch_size))
            else:
                heat = self.config.patch_size * self.config.pixels_per_latent
                outs.append(self._unpatchify(self.heatmap_head(h), 1, heat))
        return outs

    def decode_text(self, ids: torch.Tensor, cache: list | None = None) -> tuple[torch.Tensor, list]:
        """Next-token logits (B, n, V) of text alone, a piece at a time: `ids` (B, n) are the new
        tokens (no padding), `cache` what the previous call returned (None at the start). The same
        as `forward([TextSegment(every token so far)])`, at the cost of the new tokens only."""
        expert = self.route[TEXT]
        seen = 0 if cache is None else cache[0][0].shape[2]
        x = self.embed_tokens(ids)
        positions = torch.arange(seen, seen + ids.shape[1], device=ids.device)[None].expand(ids.shape[0], -1)
        cos, sin = self.rotary(x, positions)
        new_cache = []
        for i, layer in enumerate(self.layers):
            x, kv = layer.decode(x, cos, sin, expert, None if cache is None else cache[i])
            new_cache.append(kv)
        h = self.norms[expert](x)
        return (self.lm_head(h) if self.lm_head is not None else F.linear(h, self.embed_tokens.weight)), new_cache

    @staticmethod
    def _attention_mask(valid, kinds, seg_id) -> torch.Tensor:
        """(B, 1, L, L) bool: causal over text, bidirectional inside an image, causal between
        segments; padding is never attended (each position still sees itself, so no row is empty)."""
        L = valid.shape[1]
        idx = torch.arange(L, device=valid.device)
        sq, sk = seg_id[:, :, None], seg_id[:, None, :]
        image_q = (kinds != TEXT)[:, :, None]
        allowed = (sk < sq) | ((sk == sq) & (image_q | (idx[None, None, :] <= idx[None, :, None])))
        allowed = (allowed & valid[:, None, :]) | torch.eye(L, dtype=torch.bool, device=valid.device)
        return allowed[:, None]

    # -- real-scale initialisation ----------------------------------------------------------------
    def load_qwen2(self, folder, all_experts: bool = True) -> None:
        """Initialise from a local Qwen2 checkpoint (transformers folder, safetensors): its layers
        become the linguistic expert (and, with `all_experts`, every expert, as the paper does),
        its embeddings, final norm and LM head ours. The shapes must match the preset."""
        from transformers import Qwen2ForCausalLM

        qwen = Qwen2ForCausalLM.from_pretrained(folder, local_files_only=True, use_safetensors=True)
        theirs = qwen.state_dict()
        own = {}
        for i, layer in enumerate(self.layers):
            for e, _ in enumerate(layer.experts):
                if e and not all_experts:
                    break
                for name in ("q_proj.weight", "q_proj.bias", "k_proj.weight", "k_proj.bias", "v_proj.weight",
                             "v_proj.bias", "o_proj.weight"):  # fmt: skip
                    own[f"layers.{i}.experts.{e}.{name}"] = theirs[f"model.layers.{i}.self_attn.{name}"]
                for name in ("input_layernorm.weight", "post_attention_layernorm.weight", "mlp.gate_proj.weight",
                             "mlp.up_proj.weight", "mlp.down_proj.weight"):  # fmt: skip
                    own[f"layers.{i}.experts.{e}.{name}"] = theirs[f"model.layers.{i}.{name}"]
        for e in range(len(self.norms) if all_experts else 1):
            own[f"norms.{e}.weight"] = theirs["model.norm.weight"]
        own["embed_tokens.weight"] = theirs["model.embed_tokens.weight"]
        if not self.config.tie_word_embeddings:
            own["lm_head.weight"] = theirs["lm_head.weight"]
        mine = self.state_dict()
        bad = [k for k, v in own.items() if k not in mine or mine[k].shape != v.shape]
        if bad:
            raise ValueError(f"{folder}: the Qwen2 checkpoint does not fit this FoXperts config ({len(bad)} tensors, e.g. {bad[0]})")
        self.load_state_dict(own, strict=False)


PRESETS = {
    # FoX: three experts initialised from Qwen2-0.5B (about 1.3B parameters), SD3-VAE latents
    # (16 channels, 8x) at 512 px with 2 x 2 patches.
    "fox-qwen2-0.5b": dict(vocab_size=151936, hidden_size=896, num_layers=24, num_heads=14, num_kv_heads=2,
                           intermediate_size=4864, latent_channels=16, latent_size=64, patch_size=2,
                           pixels_per_latent=8, rope_theta=1e6, max_positions=32768),  # fmt: skip
    # ShapesWorld at 64 px through the project's Wan VAE (16 x 16 x 8 latents): 64 image tokens.
    "shapes": dict(hidden_size=256, num_layers=6, num_heads=4, num_kv_heads=4, intermediate_size=768,
                   latent_channels=8, latent_size=16, patch_size=2, pixels_per_latent=4, rope_theta=1e4,
                   max_positions=1024),  # fmt: skip
    # For tests, over the tiny Wan VAE (8x): 64 px -> 8 x 8 x 4 latents.
    "tiny": dict(hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=64, latent_channels=4,
                 latent_size=8, patch_size=2, pixels_per_latent=8, rope_theta=1e4, max_positions=512),  # fmt: skip
}


def build_foxperts(preset: str, vocab_size: int | None = None, **overrides) -> FoXpertsModel:
    """A randomly initialised FoXperts model of a preset; `experts` picks the ablation layout."""
    if preset not in PRESETS:
        raise ValueError(f"unknown FoXperts preset {preset!r}; choose from {', '.join(PRESETS)}")
    cfg = {**PRESETS[preset], **overrides}
    if vocab_size is not None:
        cfg["vocab_size"] = vocab_size
    if "vocab_size" not in cfg:
        raise ValueError(f"preset {preset!r} needs vocab_size (the tokenizer's length)")
    return FoXpertsModel(**cfg)
