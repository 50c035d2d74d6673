"""The Wan2.1 backbone: diffusers' `WanTransformer3DModel` and `AutoencoderKLWan` behind a thin wrapper.

Presets give the configs (a tiny one for tests, the ShapesWorld one this project trains, and the
real Wan2.1-T2V 1.3B and 14B for checkpoints in diffusers format). `FrameVAE` adds what CoF-T2I
needs on top of the VAE:

- independent frame-wise encoding: each frame is its own one-frame clip, so K frames give K latent
  frames and no frame leaks into another (CoF-T2I, Table 3: "independent frame-wise encoding");
- the paper's continuous baseline: the chain padded by repeating its last frame to 1 + 4k frames
  (F1, F2, F3, F3, F3 for three), encoded as one clip;
- latent normalisation (z - mean) / std with the VAE config's per-channel statistics;
- a refusal of any clip length the VAE would silently cut (it drops frames beyond 1 + 4k);
- frame-packed clip latents (ReasonDiff on ShapesWorld, docs/reasondiff.md): every frame encoded
  alone, then grouped as the video VAE groups them (frame 0 alone, then `temporal` frames per latent
  frame) and stacked along channels, so a clip gets the video VAE's number of latent frames without
  a learned temporal code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

# ShapesWorld VAE: 64 px -> 16 x 16 x 8 (4x spatial); temporal stride 4 kept for the continuous baseline.
SHAPES_VAE = dict(
    base_dim=16, z_dim=8, dim_mult=[1, 2, 4], num_res_blocks=1, temperal_downsample=[True, True],
    scale_factor_spatial=4, scale_factor_temporal=4, latents_mean=[0.0] * 8, latents_std=[1.0] * 8,
)  # fmt: skip
TINY_VAE = dict(
    base_dim=3, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True],
    latents_mean=[0.0] * 4, latents_std=[1.0] * 4,
)  # fmt: skip
COMMON_DIT = dict(patch_size=(1, 2, 2), freq_dim=256, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6)


@dataclass(frozen=True)
class WanPreset:
    name: str
    transformer: dict
    vae: dict | None  # None: the real Wan2.1 VAE, loaded with the checkpoint
    text_encoder: str  # "tiny", "minilm" or "umt5"
    height: int
    width: int
    notes: str = ""
    flow_shift: float = 5.0
    sample_steps: int = 50  # what a CoF pipeline trained from the preset stores (Wan2.1's 50 by default)
    extra: dict = field(default_factory=dict)


PRESETS = {
    "tiny": WanPreset(
        "tiny",
        dict(COMMON_DIT, num_attention_heads=2, attention_head_dim=12, in_channels=4, out_channels=4, text_dim=32,
             ffn_dim=32, num_layers=2, rope_max_seq_len=32),  # fmt: skip
        TINY_VAE, "tiny", 32, 32, "for tests: random weights, built in code",
    ),
    "shapes": WanPreset(
        "shapes",
        dict(COMMON_DIT, num_attention_heads=4, attention_head_dim=64, in_channels=8, out_channels=8, text_dim=384,
             ffn_dim=1024, num_layers=6, rope_max_seq_len=64),  # fmt: skip
        SHAPES_VAE, "minilm", 64, 64, "ShapesWorld at 64 px, trained by this project", flow_shift=1.0,  # small latents: no shift (docs/cof.md)
        sample_steps=20,  # CoF: 50 scored the same on shapes-geneval (docs/cof.md, "Speed")
    ),
    "wan2.1-t2v-1.3b": WanPreset(
        "wan2.1-t2v-1.3b",
        dict(COMMON_DIT, num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
             text_dim=4096, ffn_dim=8960, num_layers=30, rope_max_seq_len=1024),  # fmt: skip
        None, "umt5", 480, 832, "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    ),
    "wan2.1-t2v-14b": WanPreset(
        "wan2.1-t2v-14b",
        dict(COMMON_DIT, num_attention_heads=40, attention_head_dim=128, in_channels=16, out_channels=16,
             text_dim=4096, ffn_dim=13824, num_layers=40, rope_max_seq_len=1024),  # fmt: skip
        None, "umt5", 1024, 1024, "Wan-AI/Wan2.1-T2V-14B-Diffusers (CoF-T2I's base; T2I at 1024 px)",
    ),
}


def get_preset(name: str) -> WanPreset:
    if name not in PRESETS:
        raise ValueError(f"unknown Wan preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name]


def build_transformer(preset: str | WanPreset, **overrides):
    """A randomly initialised `WanTransformer3DModel` of a preset (for training from scratch or tests)."""
    from diffusers import WanTransformer3DModel

    p = get_preset(preset) if isinstance(preset, str) else preset
    return WanTransformer3DModel(**{**p.transformer, **overrides})


def widen_input(transformer, in_channels: int, out_channels: int | None = None):
    """A copy of a Wan DiT that reads `in_channels` input channels: its own first, the new ones through
    zero weights in the patch embedding, so that it computes exactly what the DiT did whatever the new
    channels hold. That is how an image-to-video DiT, whose input adds a mask and condition latents
    (diffusers' `WanImageToVideoPipeline`), starts from a text-to-video one. `out_channels` (default:
    the DiT's) must match what it writes, since the output projection is kept."""
    from diffusers import WanTransformer3DModel

    cfg = dict(transformer.config)
    old = cfg["in_channels"]
    if in_channels < old:
        raise ValueError(f"a DiT reading {old} input channels cannot be narrowed to {in_channels}")
    if out_channels not in (None, cfg["out_channels"]):
        raise ValueError(f"the DiT writes {cfg['out_channels']} channels, not {out_channels}: its output projection is kept")
    wide = WanTransformer3DModel.from_config({**cfg, "in_channels": in_channels})
    state = transformer.state_dict()
    weight = state["patch_embedding.weight"]
    state["patch_embedding.weight"] = torch.cat([weight, weight.new_zeros(weight.shape[0], in_channels - old, *weight.shape[2:])], dim=1)
    wide.load_state_dict(state)
    return wide.to(weight.dtype)


def build_vae(preset: str | WanPreset, **overrides):
    from diffusers import AutoencoderKLWan

    p = get_preset(preset) if isinstance(preset, str) else preset
    return AutoencoderKLWan(**{**(p.vae or {}), **overrides})


def load_vae(path) -> "FrameVAE":
    """A trained `AutoencoderKLWan` from a local folder (safetensors only), wrapped as a FrameVAE."""
    from diffusers import AutoencoderKLWan

    return FrameVAE(AutoencoderKLWan.from_pretrained(path, local_files_only=True, use_safetensors=True)).eval()


def valid_clip_length(n: int) -> bool:
    """The Wan VAE encodes 1 + 4k frames; any other length loses its last frames silently."""
    return n >= 1 and (n - 1) % 4 == 0


def pad_chain(frames: torch.Tensor, temporal: int) -> torch.Tensor:
    """A chain (B, K, 3, H, W) with its last frame repeated up to 1 + temporal * k frames, the clip
    length a VAE of that temporal stride encodes whole (the paper's continuous baseline: F1 F2 F3 F3 F3)."""
    K = frames.shape[1]
    T = 1 + temporal * -(-(K - 1) // temporal) if K > 1 else 1
    return torch.cat([frames, frames[:, -1:].expand(-1, T - K, -1, -1, -1)], dim=1)


class FrameVAE(torch.nn.Module):
    """`AutoencoderKLWan` used frame by frame, with normalised latents. Frames are (B, K, 3, H, W) in
    [-1, 1]; latents are (B, C, K, h, w), normalised."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae
        cfg = vae.config
        self.register_buffer("mean", torch.tensor(cfg.latents_mean, dtype=torch.float32).view(1, -1, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.latents_std, dtype=torch.float32).view(1, -1, 1, 1, 1), persistent=False)
        self.spatial = 2 ** len(cfg.temperal_downsample)
        self.temporal = 2 ** sum(cfg.temperal_downsample)

    @property
    def z_dim(self) -> int:
        return self.vae.config.z_dim

    def check_size(self, height: int, width: int) -> None:
        if height % self.spatial or width % self.spatial:
            raise ValueError(
                f"frames of {width}x{height} px do not fit the VAE's {self.spatial}x downsampling; "
                f"use sizes divisible by {self.spatial} (the transformer's 2x2 patches need {2 * self.spatial})"
            )

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean.to(z)) / self.std.to(z)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std.to(z) + self.mean.to(z)

    def encode_frames(self, frames: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        """Each frame encoded alone as a one-frame clip (independent frame-wise encoding)."""
        B, K, C, H, W = frames.shape
        self.check_size(H, W)
        dist = self.vae.encode(frames.reshape(B * K, C, 1, H, W)).latent_dist
        z = dist.sample(generator) if sample else dist.mode()
        return self.normalize(z.reshape(B, K, *z.shape[1:]).squeeze(3).transpose(1, 2))

    def decode_frames(self, latents: torch.Tensor) -> torch.Tensor:
        """Each latent frame decoded alone; (B, C, K, h, w) -> (B, K, 3, H, W) in [-1, 1]."""
        B, C, K, h, w = latents.shape
        z = self.denormalize(latents).transpose(1, 2).reshape(B * K, C, 1, h, w)
        x = self.vae.decode(z).sample
        return x.reshape(B, K, *x.shape[1:]).squeeze(3)

    def pad_chain(self, frames: torch.Tensor) -> torch.Tensor:
        """The continuous baseline's clip: the chain with its last frame repeated up to 1 + 4k frames."""
        return pad_chain(frames, self.temporal)

    def check_clip_length(self, T: int) -> None:
        if T < 1 or (T - 1) % self.temporal:
            raise ValueError(
                f"a clip of {T} frames does not fit the VAE (1 + {self.temporal}k frames): it would silently drop "
                f"{(T - 1) % self.temporal} frame(s); pad it explicitly (FrameVAE.pad_chain) or encode frame-wise"
            )

    def encode_clip(self, frames: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        """Frames encoded together as one clip (causal, temporally compressed). The length must be
        1 + 4k (for this VAE's temporal stride): the VAE would drop any frame beyond that."""
        B, T, C, H, W = frames.shape
        self.check_size(H, W)
        self.check_clip_length(T)
        dist = self.vae.encode(frames.transpose(1, 2)).latent_dist
        return self.normalize(dist.sample(generator) if sample else dist.mode())

    def decode_clip(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, C, F, h, w) -> (B, 1 + 4(F-1), 3, H, W)."""
        return self.vae.decode(self.denormalize(latents)).sample.transpose(1, 2)

    def encode_packed(self, frames: torch.Tensor) -> torch.Tensor:
        """Frame-packed clip latents: (B, 1 + 4k, 3, H, W) -> (B, temporal * C, 1 + k, h, w). Each frame
        is encoded alone (`encode_frames`); latent frame f > 0 stacks frames 4f-3..4f along channels
        (slot-major: channel s * C + c is frame slot s, latent channel c), and latent frame 0 holds
        frame 0 in every slot, as Wan's image-to-video repeats its first frame's mask. A still image
        (one frame) packs to one latent frame of four copies."""
        B, T = frames.shape[:2]
        self.check_clip_length(T)
        z = self.encode_frames(frames)  # (B, C, T, h, w)
        z = torch.cat([z[:, :, :1].expand(-1, -1, self.temporal, -1, -1), z[:, :, 1:]], dim=2)
        C, h, w = z.shape[1], z.shape[3], z.shape[4]
        z = z.view(B, C, -1, self.temporal, h, w).permute(0, 3, 1, 2, 4, 5)  # (B, slot, C, F, h, w)
        return z.reshape(B, self.temporal * C, -1, h, w)

    def decode_packed(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, temporal * C, F, h, w) -> (B, 1 + temporal (F - 1), 3, H, W): each frame decoded alone;
        frame 0 from the mean of latent frame 0's slots (identical when encoded, close when sampled)."""
        B, C4, F, h, w = latents.shape
        if C4 != self.temporal * self.z_dim:
            raise ValueError(f"frame-packed latents have {self.temporal} x {self.z_dim} = {self.temporal * self.z_dim} channels; got {C4}")
        z = latents.view(B, self.temporal, self.z_dim, F, h, w)
        first = z[:, :, :, :1].mean(1)  # (B, C, 1, h, w)
        rest = z[:, :, :, 1:].permute(0, 2, 3, 1, 4, 5).reshape(B, self.z_dim, (F - 1) * self.temporal, h, w)
        return self.decode_frames(torch.cat([first, rest], dim=2))
