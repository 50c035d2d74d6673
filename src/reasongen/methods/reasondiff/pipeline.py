"""`ReasonDiffPipeline`: a video from an image and a narration (anchor frame + one narrative per frame).

The narrator runs before the pipeline (`narrator.py`: the ShapesWorld oracle, a chat model); the
pipeline takes its `Narration`, so that what the narrator said, and what it repaired, stays visible.
Steps: the image through the VAE as a one-frame clip (video or frame-packed latents, data.py); the narratives through the text encoder,
grouped per latent frame; AlignFormer's c* and the anchor mask as the DiT's channel condition `y`,
computed once; rectified-flow sampling of every latent frame together with classifier-free guidance
on the narratives (the unconditional branch: the empty narrative in every frame, the same `y`, as
Wan's image-to-video keeps its image); the clip decoded as it was encoded.

On disk: `model_index.json` (the settings, and the text encoder kind), `transformer/`, `alignformer/`
(safetensors and its config), `vae/`. A pipeline whose DiT was trained as a LoRA (`reasongen train
reasondiff --lora-rank`) holds `transformer_lora/` and the path of its base (`base_model`) instead of
`transformer/` (backbones/lora.py).

The real path: a diffusers Wan2.1-I2V folder (`WanImageToVideoPipeline`: umT5, the video VAE, the
DiT, the CLIP image encoder) loads as a ReasonDiff pipeline with a new, untrained AlignFormer, to be
trained from (`reasongen train reasondiff --init-from FOLDER --lora-rank 16`). Its DiT also reads the
condition image's CLIP features (backbones/image_encoder.py), in both guidance branches, as Wan's
image-to-video keeps its image.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ...backbones.image_encoder import ImageEncoder, load_image_encoder
from ...backbones.text import TextEncoder, load_text_encoder
from ...backbones.wan import FrameVAE
from ...flow import make_scheduler, sample
from ...locks import write_atomic
from ...world.video import check_clip_length
from .. import load_pipeline_vae, load_transformer, read_model_index, save_transformer
from ..pipeline_base import ReasongenPipeline
from .alignformer import AlignFormer
from .latents import clip_latent_channels, decode_clips, encode_clips, encode_narratives, frames_per_latent
from .model import ReasonDiffModel, narrative_context
from .narrator import Narration

DEFAULTS = {
    "num_frames": 17,
    "height": 64,
    "width": 64,
    "sampler": "unipc",
    "flow_shift": 1.0,
    "num_inference_steps": 50,  # the released code's inference: 50 steps, guidance 5
    "guidance_scale": 5.0,
    "clip_latents": "video",  # or "packed": frames through the image VAE, four per latent frame (data.py)
    # how the model was trained (the paper's ablations), so that it is sampled the same way
    "multi_frame": True,  # False: one prompt in every frame (narrator.one_prompt)
    "enhanced": True,  # False: no c*, the image at the anchor only
}


def is_t2v_base(path: str | Path) -> bool:
    """Whether a folder holds a frame-wise text-to-video base: a one-frame pipeline of `reasongen train wan`."""
    index_path = Path(path) / "model_index.json"
    if not index_path.is_file():
        return False
    index = json.loads(index_path.read_text())
    return index.get("_class_name") == "CoFPipeline" and index.get("num_frames") == 1


@dataclass
class ReasonDiffOutput:
    frames: np.ndarray  # uint8 (T, H, W, 3)
    anchor: int  # the pixel frame the image was placed at
    narratives: list[str]
    problems: list[str] = field(default_factory=list)  # what was repaired on the way in
    latents: torch.Tensor | None = field(default=None, repr=False)


class ReasonDiffPipeline(ReasongenPipeline):
    defaults = DEFAULTS

    def __init__(self, model: ReasonDiffModel, vae, text_encoder: TextEncoder, base_model: str | Path | None = None,
                 image_encoder: ImageEncoder | None = None, **config):  # fmt: skip
        """`base_model`: with a LoRA on the DiT, the pipeline folder whose DiT it adapts (saved as a path).
        `image_encoder`: the CLIP encoder an image-to-video DiT reads the condition image through."""
        self.register_settings(config)
        check_clip_length(self.config["num_frames"])
        self.model, self.text_encoder = model.eval(), text_encoder
        self.base_model = Path(base_model).resolve() if base_model is not None else None
        if model.image_context and image_encoder is None:
            raise ValueError("this DiT reads the condition image's CLIP features (Wan2.1 image-to-video): pass its image_encoder")
        self.image_encoder = image_encoder
        self.vae = (vae if isinstance(vae, FrameVAE) else FrameVAE(vae)).eval()
        folded = frames_per_latent(self.vae, self.config["clip_latents"])
        if folded != model.temporal:
            raise ValueError(f"{self.config['clip_latents']} clip latents fold {folded} frames per latent frame, the model's mask expects {model.temporal}")
        channels = clip_latent_channels(self.vae, self.config["clip_latents"])
        if channels != model.latent_channels:
            raise ValueError(f"{self.config['clip_latents']} clip latents from this VAE have {channels} channels, the model takes "
                             f"{model.latent_channels}: set clip_latents to what the model was trained on")  # fmt: skip
        if model.anchor_mask == "frame-slot" and self.config["clip_latents"] != "packed":
            raise ValueError(f"anchor mask frame-slot places the image in one frame of frame-packed latents; these are {self.config['clip_latents']} latents: use frame")

    # -- loading and saving ------------------------------------------------------------------
    def save_pretrained(self, path: str | Path, dtype=None) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        index = self.model_index(temporal=self.model.temporal, anchor_mask=self.model.anchor_mask, text_attention=self.model.text_attention,
                                 text_encoder=self.text_encoder.kind, max_length=self.text_encoder.max_length,
                                 image_encoder=self.image_encoder is not None)  # fmt: skip
        save_transformer(self.model.transformer, path, index, self.base_model, dtype)
        if self.image_encoder is not None and "base_model" not in index:  # a LoRA reads its base's
            self.image_encoder.save_pretrained(path)
        af = self.model.alignformer
        (path / "alignformer").mkdir(exist_ok=True)
        state = {k: (v.to(dtype) if dtype is not None else v).contiguous() for k, v in af.state_dict().items()}
        save_file(state, path / "alignformer" / "model.safetensors")
        write_atomic(path / "alignformer" / "config.json", json.dumps(af.config, indent=1) + "\n")
        self.vae.vae.save_pretrained(path / "vae", safe_serialization=True)
        if self.text_encoder.kind != "minilm" and "base_model" not in index:  # a LoRA reads its base's
            self.text_encoder.model.save_pretrained(path / "text_encoder", safe_serialization=True)
            self.text_encoder.tokenizer.save_pretrained(path / "tokenizer")
        self.write_model_index(path, index)

    @classmethod
    def from_pretrained(cls, path: str | Path, device="cpu", dtype=torch.float32, **overrides) -> "ReasonDiffPipeline":
        path = Path(path)
        index = read_model_index(path, "reasondiff")  # a ReasonDiffPipeline folder, or a diffusers Wan2.1-I2V one
        transformer, base_model = load_transformer(path, index, dtype)
        vae = load_pipeline_vae(path, index, device)
        if index.get("_class_name") == "WanImageToVideoPipeline":
            return cls._from_wan_i2v(path, transformer, vae, device, dtype, overrides)
        af = AlignFormer(**json.loads((path / "alignformer" / "config.json").read_text()))
        af.load_state_dict({k: v.float() for k, v in load_file(path / "alignformer" / "model.safetensors").items()})
        source = base_model or path  # a LoRA reads its base's encoders
        kind = index.get("text_encoder", "minilm")
        text_encoder = load_text_encoder(kind, None if kind == "minilm" else str(source), max_length=index.get("max_length"), device=device)
        image_encoder = load_image_encoder(source, device, dtype) if index.get("image_encoder") else None
        # pipelines saved before the per-frame mask marked the anchor's whole latent frame, and every
        # frame read every narrative before the per-frame text attention
        model = ReasonDiffModel(transformer, af.to(dtype), index["temporal"], index.get("anchor_mask", "latent-frame"),
                                index.get("text_attention", "all")).to(device)  # fmt: skip
        config = cls.settings_in(index)
        return cls(model, vae, text_encoder, base_model=base_model, image_encoder=image_encoder, **{**config, **overrides})

    @classmethod
    def _from_wan_i2v(cls, path: Path, transformer, vae, device, dtype, overrides: dict) -> "ReasonDiffPipeline":
        """ReasonDiff over a Wan2.1-I2V checkpoint: its DiT, VAE, umT5 and CLIP, and a new AlignFormer of
        the released code's width (2048, 4 heads; narrower if the DiT is), to be trained."""
        text_encoder = load_text_encoder("umt5", str(path), device=device, dtype=dtype)
        fvae = FrameVAE(vae)
        width = transformer.config.num_attention_heads * transformer.config.attention_head_dim
        af = AlignFormer(fvae.z_dim, text_encoder.dim, dim=min(2048, width), heads=4)
        model = ReasonDiffModel(transformer, af.to(dtype), fvae.temporal).to(device)
        config = {"num_frames": 81, "height": 480, "width": 832, "flow_shift": 5.0}  # the released inference settings
        return cls(model, fvae, text_encoder, image_encoder=load_image_encoder(path, device, dtype), **{**config, **overrides})

    @classmethod
    def from_base(cls, path: str | Path, num_frames: int = 17, device="cpu", dtype=torch.float32) -> "ReasonDiffPipeline":
        """ReasonDiff over a frame-wise text-to-video base (`reasongen train wan`: a one-frame pipeline),
        as the paper starts from Wan2.1: the base's DiT widened to also read the anchor mask and the
        condition latents through zero weights (`widen_input`: at the first step it draws what the
        base draws), its VAE and text encoder, `frames` clip latents (one latent frame per frame, as
        the base was trained), and a new AlignFormer, to be trained (stage 1)."""
        from ...backbones.wan import widen_input
        from ..cof.pipeline import CoFPipeline

        if not is_t2v_base(path):
            raise ValueError(f"{path} is not a text-to-video base (a one-frame pipeline from `reasongen train wan`)")
        base = CoFPipeline.from_pretrained(path, device=device, dtype=dtype)
        channels = base.transformer.config.out_channels
        dit = widen_input(base.transformer, 2 * channels + 1)  # noisy latents, one mask channel per frame, condition latents
        model = ReasonDiffModel(dit, AlignFormer(channels, base.text_encoder.dim).to(device, dtype), temporal=1).to(device)
        config = {k: base.config[k] for k in ("height", "width", "flow_shift", "sampler")}
        return cls(model, base.vae, base.text_encoder, num_frames=num_frames, clip_latents="frames", **config)

    # -- generation --------------------------------------------------------------------------
    def check_image(self, image) -> tuple[np.ndarray, list[str]]:
        """The condition image as uint8 (H, W, 3). A PIL image in another mode is converted, and an
        image of another size is resized to the model's (bicubic, as diffusers' image-to-video
        pipelines resize theirs); each is said so in the returned notes. A wrong shape or dtype is refused."""
        from PIL import Image

        problems = []
        if hasattr(image, "mode"):  # a PIL image
            if image.mode != "RGB":
                problems.append(f"image mode {image.mode} converted to RGB")
                image = image.convert("RGB")
            image = np.array(image)  # a writable copy
        image = np.asarray(image)
        H, W = self.config["height"], self.config["width"]
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
            raise ValueError(f"the condition image must be uint8 RGB (H, W, 3); got {image.dtype} {image.shape}")
        if image.shape[:2] != (H, W):
            h, w = image.shape[:2]
            note = f"image of {w}x{h} px resized to {W}x{H}, the model's size"
            if w * H != h * W:
                note += f" (its aspect ratio {w}:{h} changed)"
            problems.append(note)
            image = np.array(Image.fromarray(image).resize((W, H), Image.BICUBIC))
        return image, problems

    @torch.no_grad()
    def __call__(self, image, narration: Narration, num_inference_steps: int | None = None, guidance_scale: float | None = None,
                 generator: torch.Generator | None = None, enhanced: bool | None = None, progress: bool = False) -> ReasonDiffOutput:  # fmt: skip
        return self.many([image], [narration], num_inference_steps, guidance_scale, [generator], enhanced, progress)[0]

    @torch.no_grad()
    def many(self, images: list, narrations: list[Narration], num_inference_steps: int | None = None,
             guidance_scale: float | None = None, generators: list[torch.Generator | None] | None = None,
             enhanced: bool | None = None, progress: bool = False) -> list[ReasonDiffOutput]:  # fmt: skip
        """Clips for several (image, narration) pairs, sampled together. Each clip's noise comes from its
        own generator, so a clip does not depend on the batch it is drawn in. `enhanced` (AlignFormer's
        c*, or the image at the anchor only) defaults to how the model was trained."""
        from diffusers.utils.torch_utils import randn_tensor

        from ...images import to_tensor, to_uint8

        cfg = self.config
        T, B = cfg["num_frames"], len(images)
        steps = cfg["num_inference_steps"] if num_inference_steps is None else num_inference_steps
        enhanced = cfg["enhanced"] if enhanced is None else enhanced
        g = cfg["guidance_scale"] if guidance_scale is None else guidance_scale
        generators = [None] * B if generators is None else list(generators)
        if steps < 1:
            raise ValueError(f"num_inference_steps={steps}: need at least 1")
        if not B or len(narrations) != B or len(generators) != B:
            raise ValueError(f"{B} images, {len(narrations)} narrations and {len(generators)} generators: give one of each per clip")
        checked = [self.check_image(image) for image in images]
        for narration in narrations:
            if len(narration.narratives) != T:
                raise ValueError(f"{len(narration.narratives)} narratives for a {T}-frame clip; read the narrator's answer with parse_narration, which repairs the count")
            if not 0 <= narration.anchor < T:
                raise ValueError(f"anchor frame {narration.anchor} lies outside frames 0..{T - 1}")
            if not cfg["multi_frame"] and len(set(narration.narratives)) > 1:
                raise ValueError("this model was trained with one prompt in every frame (--single-prompt) and was given "
                                 f"{len(set(narration.narratives))} different narratives: pass narrator.one_prompt(narration, text)")  # fmt: skip
        device = next(self.model.parameters()).device
        dtype = next(self.model.transformer.parameters()).dtype

        pixels = to_tensor(np.stack([image for image, _ in checked]))[:, None].to(device)
        anchor_latent = encode_clips(self.vae, pixels, cfg["clip_latents"])[:, :, 0]  # the image as a one-frame clip
        F = 1 + (T - 1) // self.model.temporal
        states = encode_narratives(self.text_encoder, [n.narratives for n in narrations], self.model.temporal).to(device)
        cond, token_mask = narrative_context(states)
        anchors = torch.tensor([n.anchor for n in narrations], device=device)
        y, _ = self.model.condition(anchor_latent.to(dtype), states.to(dtype), token_mask, anchors, F, enhanced)
        image_states = self.image_encoder([image for image, _ in checked]).to(device, dtype) if self.model.image_context else None
        cond = cond.to(dtype)
        uncond = None
        if g > 1.0:  # the empty narrative in every frame
            empty = encode_narratives(self.text_encoder, [[""] * T], self.model.temporal).to(device)
            uncond = narrative_context(empty)[0].to(dtype).expand_as(cond)

        h, w = cfg["height"] // self.vae.spatial, cfg["width"] // self.vae.spatial
        shape = (1, self.model.latent_channels, F, h, w)
        latents = torch.cat([randn_tensor(shape, generator=gen, device=device, dtype=torch.float32) for gen in generators])

        def velocity(x, t, ctx):
            return self.model.velocity(x.to(dtype), t, ctx, y, image_states).float()

        scheduler = make_scheduler(cfg["sampler"], cfg["flow_shift"])
        bar = tqdm(total=steps, desc="reasondiff", disable=not progress)
        latents = sample(velocity, latents, scheduler, steps, g, cond, uncond, progress=bar.update)
        bar.close()
        clips = to_uint8(decode_clips(self.vae, latents.float(), cfg["clip_latents"]))
        return [ReasonDiffOutput(clips[i], n.anchor, list(n.narratives), problems + list(n.problems), latents[i : i + 1])
                for i, ((_, problems), n) in enumerate(zip(checked, narrations))]  # fmt: skip
