"""`CoFPipeline`: CoF-T2I's chain-of-frame generation on a Wan2.1 backbone.

The K frames of the chain (default 3: draft, semantics corrected, finished) are denoised together
as one K-latent-frame video; only the last latent frame is decoded, as one-frame clip, unless
`return_chain=True`, which decodes every frame. With K = 1 and the same weights and seed it computes
what diffusers' `WanPipeline` computes with `num_frames=1`.

On disk (Hugging Face layout): `model_index.json`, `transformer/`, `vae/`, `scheduler/`, and
`text_encoder/` + `tokenizer/` unless the text encoder is the packaged MiniLM (`"text_encoder":
"minilm"` in `model_index.json`: no copy of its weights). A diffusers Wan2.1 T2V folder (its
`model_index.json` names `WanPipeline`) loads too, with umT5 from its own sub-folders. A pipeline
trained with a LoRA (`reasongen train cof --lora-rank`) holds `transformer_lora/` and the path of
its base (`base_model`), whose DiT and text encoder it reads (backbones/lora.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

from ...backbones.text import TextEncoder, load_text_encoder
from ...backbones.wan import FrameVAE
from ...flow import make_scheduler, sample
from ...images import save_chain, unit_to_uint8  # noqa: F401  (save_chain: the chain's strip and GIF)
from .. import load_pipeline_vae, load_transformer, read_model_index, save_transformer
from ..pipeline_base import ReasongenPipeline

DEFAULTS = {
    "num_frames": 3,  # CoF-T2I: F1 -> F2 -> F3
    "encoding": "framewise",  # or "continuous" (the paper's ablation: the chain padded to 1 + 4k and encoded as a clip)
    "system_prompt": "",  # CoF-T2I prefixes a system prompt at training and inference; its text is not public
    "sampler": "unipc",
    "flow_shift": 5.0,
    "num_inference_steps": 50,  # Wan2.1's defaults (the paper does not give its own)
    "guidance_scale": 5.0,
    "batch_guidance": True,  # the guided and unguided passes as one batch (flow.sample); False halves activation memory
    "height": 64,
    "width": 64,
}


OUTPUT_TYPES = ("uint8", "pil", "np")  # uint8 arrays (the default), PIL images, or float arrays in [0, 1] as diffusers' "np"


@dataclass
class CoFOutput:
    images: list  # the last frame of each chain: uint8 H x W x 3 arrays by default (see `output_type`)
    chains: list[list] | None = None  # every frame, when asked for, in the same type
    latents: torch.Tensor | None = field(default=None, repr=False)


class CoFPipeline(ReasongenPipeline):
    defaults = DEFAULTS

    def __init__(self, transformer, vae, text_encoder: TextEncoder, scheduler=None, base_model: str | Path | None = None, **config):
        """`base_model`: with a LoRA on the transformer, the checkpoint folder it adapts (saved as a path)."""
        self.register_settings(config)
        if self.config["encoding"] not in ("framewise", "continuous"):
            raise ValueError(f"encoding {self.config['encoding']!r}: use framewise or continuous")
        self.transformer, self.text_encoder = transformer.eval(), text_encoder
        self.vae = vae if isinstance(vae, FrameVAE) else FrameVAE(vae)
        self.vae.eval()
        self.scheduler = scheduler or make_scheduler(self.config["sampler"], self.config["flow_shift"])
        self.base_model = Path(base_model).resolve() if base_model is not None else None
        if text_encoder.dim != transformer.config.text_dim:
            raise ValueError(f"text encoder gives {text_encoder.dim}-dim states, the transformer takes {transformer.config.text_dim}")

    # -- loading and saving ------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path, device="cpu", dtype=torch.float32, **overrides) -> "CoFPipeline":
        path = Path(path)
        index = read_model_index(path, "cof")  # a CoFPipeline folder, or a diffusers Wan2.1 T2V one
        transformer, base_model = load_transformer(path, index, dtype)
        base = base_model or path  # a LoRA reads its base's text encoder too
        transformer.to(device)
        vae = load_pipeline_vae(path, index, device)
        if index.get("_class_name") == "WanPipeline":  # a real Wan2.1 checkpoint
            config = {"height": 1024, "width": 1024}
            text_encoder = load_text_encoder("umt5", str(path), device=device, dtype=dtype)
        else:
            config = cls.settings_in(index)
            kind = index.get("text_encoder", "minilm")
            text_encoder = load_text_encoder(kind, None if kind == "minilm" else str(base), max_length=index.get("max_length"),
                                             device=device, dtype=dtype if kind == "umt5" else torch.float32)  # fmt: skip
        scheduler = None
        if (path / "scheduler").is_dir() and index.get("_class_name") == "WanPipeline":
            from diffusers import UniPCMultistepScheduler

            scheduler = UniPCMultistepScheduler.from_pretrained(path, subfolder="scheduler")
        return cls(transformer, vae, text_encoder, scheduler, base_model=base_model, **{**config, **overrides})

    def save_pretrained(self, path: str | Path, dtype=None) -> None:
        """Weights as safetensors (`dtype=torch.float16` halves them). With a LoRA: the adapter and
        the base's path, not the base's weights."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        index = self.model_index(text_encoder=self.text_encoder.kind, max_length=self.text_encoder.max_length)
        save_transformer(self.transformer, path, index, self.base_model, dtype)
        self.vae.vae.save_pretrained(path / "vae", safe_serialization=True)
        if self.text_encoder.kind != "minilm" and "base_model" not in index:  # a LoRA reads its base's
            self.text_encoder.model.save_pretrained(path / "text_encoder", safe_serialization=True)
            self.text_encoder.tokenizer.save_pretrained(path / "tokenizer")
        self.write_model_index(path, index)

    # -- generation --------------------------------------------------------------------------
    def encode_prompt(self, prompts: list[str]) -> torch.Tensor:
        return self.text_encoder([self.config["system_prompt"] + p for p in prompts])

    def latent_frames(self, num_frames: int) -> int:
        if self.config["encoding"] == "continuous":
            return 1 + -(-(num_frames - 1) // self.vae.temporal) if num_frames > 1 else 1
        return num_frames

    def check_inputs(self, prompts, num_frames: int, height: int, width: int, steps: int) -> None:
        if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
            raise ValueError(f"prompts must be non-empty strings, got {prompts!r}")
        if num_frames < 1:
            raise ValueError(f"num_frames={num_frames}: a chain has at least one frame")
        unit = self.vae.spatial * self.transformer.config.patch_size[1]
        if height % unit or width % unit:
            raise ValueError(f"{width}x{height} px: height and width must be multiples of {unit} (VAE stride x patch)")
        if steps < 1:
            raise ValueError(f"num_inference_steps={steps}: need at least 1")

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        num_frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        negative_prompt: str = "",
        generator: torch.Generator | list[torch.Generator] | None = None,
        return_chain: bool = False,
        progress: bool = False,
        output_type: str = "uint8",
    ) -> CoFOutput:
        from diffusers.utils.torch_utils import randn_tensor

        cfg = self.config
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        K = cfg["num_frames"] if num_frames is None else num_frames
        H = cfg["height"] if height is None else height
        W = cfg["width"] if width is None else width
        steps = cfg["num_inference_steps"] if num_inference_steps is None else num_inference_steps
        g = cfg["guidance_scale"] if guidance_scale is None else guidance_scale
        self.check_inputs(prompts, K, H, W, steps)
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type {output_type!r}: choose from {', '.join(OUTPUT_TYPES)}")
        device = next(self.transformer.parameters()).device
        dtype = next(self.transformer.parameters()).dtype

        # 1. Text: the condition, and the negative prompt for guidance.
        cond = self.encode_prompt(prompts).to(device, dtype)
        uncond = self.text_encoder([negative_prompt] * len(prompts)).to(device, dtype) if g > 1.0 else None
        # 2. Noise for all K frames at once (the same draw as WanPipeline's for K = 1).
        shape = (len(prompts), self.vae.z_dim, self.latent_frames(K), H // self.vae.spatial, W // self.vae.spatial)
        latents = randn_tensor(shape, generator=generator, device=device, dtype=torch.float32)

        # 3. Denoise the chain jointly.
        def velocity(x, t, ctx):
            return self.transformer(x.to(dtype), t, ctx, return_dict=False)[0].float()

        bar = tqdm(total=steps, desc="cof", disable=not progress)
        latents = sample(velocity, latents, self.scheduler, steps, g, cond, uncond, progress=bar.update,
                         batch_guidance=cfg["batch_guidance"])
        bar.close()

        # 4. Decode only the last frame, or the whole chain.
        if cfg["encoding"] == "continuous":
            frames = self.vae.decode_clip(latents.float())[:, :K]
            final = frames[:, K - 1]
            chain = frames if return_chain else None
        else:
            final = self.vae.decode_frames(latents[:, :, -1:].float())[:, 0]
            chain = self.vae.decode_frames(latents.float()) if return_chain else None

        def to_np(x):
            unit = (x / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).cpu().float().numpy()
            if output_type == "np":
                return list(unit)
            images = [unit_to_uint8(u) for u in unit]
            return [Image.fromarray(u) for u in images] if output_type == "pil" else images

        images = to_np(final)
        chains = [to_np(c) for c in chain] if chain is not None else None
        return CoFOutput(images, chains, latents)
