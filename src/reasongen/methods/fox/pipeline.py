"""`FoXPipeline`: FoX's multimodal chain of thought on one FoXperts model.

1. **Plan**: from the prompt, the model writes a detailed caption, then a layout JSON (greedy by
   default). The layout is parsed (`plan.parse_layout`): repaired or rejected with the reason kept in
   the trace, never a crash.
2. **Act**: the image, drawn by rectified flow conditioned on prompt, caption and layout.
3. **Reflect**: the model reads its own image with the prompt and gives an artifact heatmap in
   [0, 1]; the mask is the heatmap above `heatmap_threshold`. If the mask is smaller than
   `min_mask_pixels`, reflection found nothing wrong and the chain ends.
4. **Correct**: the masked region is blanked and redrawn from the plan (masked inpainting); the result
   is pasted back inside the mask only, so nothing outside the mask changes. Steps 3-4 repeat up to
   `correction_rounds` times.

Modes, for the paper's chain ablation: `direct` (prompt -> image), `twice` (two direct images, the one
the model's own reflection finds less wrong), `plan_act` (steps 1-2) and `mcot` (all four).

On disk: `model_index.json`, `transformer/` (FoXperts), `vae/` (the Wan VAE, frame-wise) and
`tokenizer/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...backbones.foxperts import FoXpertsModel, ImageSegment, TextSegment
from ...backbones.wan import FrameVAE
from ...flow import make_scheduler, sample
from ...images import to_tensor, to_uint8
from .. import load_pipeline_vae, read_model_index, save_weights
from ..pipeline_base import ReasongenPipeline
from .inputs import blank, encode_texts, plan_parts
from .plan import parse_layout

MODES = ("direct", "twice", "plan_act", "mcot")
DEFAULTS = {
    "sampler": "unipc",
    "flow_shift": 1.0,  # ShapesWorld's small latents need no shift (docs/cof.md)
    "num_inference_steps": 50,
    "guidance_scale": 5.0,
    "height": 64,
    "width": 64,
    "heatmap_threshold": 0.5,  # the paper gives no rule for turning the heatmap into a mask; ours
    "min_mask_pixels": 8,  # a smaller mask counts as "nothing wrong" (stray pixels are not a flaw)
    "correction_rounds": 1,
    "max_caption_tokens": 96,
    "max_layout_tokens": 192,
    "temperature": 0.0,  # 0: greedy planning
}


@dataclass
class MCoTTrace:
    """What the chain did for one image: the plan, every image, heatmap and mask, and why it ended."""

    prompt: str
    mode: str
    seed: int
    caption: str | None = None
    layout_text: str | None = None
    layout: dict = field(default_factory=dict)
    layout_problems: list[str] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)  # the first image, then one per correction (uint8)
    heatmaps: list[np.ndarray] = field(default_factory=list)  # one per reflection, float H x W in [0, 1]
    masks: list[np.ndarray] = field(default_factory=list)  # bool H x W
    candidate_scores: list[float] = field(default_factory=list)  # `twice`: each candidate's mean heatmap
    stopped: str = ""

    @property
    def image(self) -> np.ndarray:
        return self.images[-1]


class FoXPipeline(ReasongenPipeline):
    defaults = DEFAULTS

    def __init__(self, model: FoXpertsModel, vae, tokenizer, **config):
        self.register_settings(config)
        self.model, self.tokenizer = model.eval(), tokenizer
        self.vae = (vae if isinstance(vae, FrameVAE) else FrameVAE(vae)).eval()
        self.scheduler = make_scheduler(self.config["sampler"], self.config["flow_shift"])
        latent = self.config["height"] // self.vae.spatial
        if (self.config["height"] != self.config["width"] or latent != model.config.latent_size
                or self.vae.z_dim != model.config.latent_channels):  # fmt: skip
            raise ValueError(
                f"{self.config['width']}x{self.config['height']} px through this VAE gives {self.vae.z_dim} x {latent} x {latent} "
                f"latents; the model takes {model.config.latent_channels} x {model.config.latent_size} x {model.config.latent_size}"
            )

    # -- loading and saving ------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path, device="cpu", dtype=torch.float32, **overrides) -> "FoXPipeline":
        from transformers import PreTrainedTokenizerFast

        path = Path(path)
        index = read_model_index(path, "fox")
        kw = dict(local_files_only=True, use_safetensors=True)
        model = FoXpertsModel.from_pretrained(path, subfolder="transformer", torch_dtype=dtype, **kw).to(device)
        vae = load_pipeline_vae(path, index, device)
        tokenizer = PreTrainedTokenizerFast.from_pretrained(path / "tokenizer")
        config = cls.settings_in(index)
        return cls(model, vae, tokenizer, **{**config, **overrides})

    def save_pretrained(self, path: str | Path, dtype=None) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_weights(self.model, path / "transformer", dtype)
        self.vae.vae.save_pretrained(path / "vae", safe_serialization=True)
        self.tokenizer.save_pretrained(path / "tokenizer")
        self.write_model_index(path, self.model_index())

    # -- the four steps --------------------------------------------------------------------------
    @property
    def device(self):
        return next(self.model.parameters()).device

    def _text(self, texts: list[list[str]]) -> TextSegment:
        ids, valid, _ = encode_texts(self.tokenizer, texts)
        return TextSegment(ids.to(self.device), valid.to(self.device))

    @torch.no_grad()
    def plan(self, prompt: str, generator: torch.Generator | None = None) -> tuple[str, str]:
        """(caption, layout text), written token by token after the prompt: greedy (`plan_many`), or
        sampled at the configured temperature."""
        if self.config["temperature"] == 0:
            return self.plan_many([prompt])[0]
        eos = self.tokenizer.eos_token_id
        logits, cache = self.model.decode_text(self._text([[prompt]]).ids)
        parts = []
        for limit in (self.config["max_caption_tokens"], self.config["max_layout_tokens"]):
            new = []
            for _ in range(limit):
                probs = torch.softmax(logits[0, -1].float() / self.config["temperature"], -1).cpu()
                token = int(torch.multinomial(probs, 1, generator=generator))
                logits, cache = self.model.decode_text(torch.tensor([[token]], device=self.device), cache)
                if token == eos:
                    break
                new.append(token)
            else:  # no end-of-text within the limit: close the part so the next one starts cleanly
                logits, cache = self.model.decode_text(torch.tensor([[eos]], device=self.device), cache)
            parts.append(self.tokenizer.decode(new, skip_special_tokens=True))
        return parts[0], parts[1]

    @torch.no_grad()
    def plan_many(self, prompts: list[str]) -> list[tuple[str, str]]:
        """Greedy plans of many prompts, decoded together, each distinct prompt once: prompts of one
        token length form a batch that steps in lockstep (no padding, so each row is what `plan`
        would write alone)."""
        unique = list(dict.fromkeys(prompts))
        plans: dict[str, tuple[str, str]] = {}
        for rows, ids in self._by_length([[p] for p in unique]):
            plans.update(zip([unique[i] for i in rows], self._plan_lockstep(ids)))
        return [plans[p] for p in prompts]

    def _by_length(self, texts: list[list[str]]):
        """The texts' rows grouped by token length, shortest first: (row indices, their ids with no
        padding), so that a group steps in lockstep and each row is what it would be alone."""
        ids = self._text(texts)
        lengths = ids.valid.sum(1).tolist()
        for n in sorted(set(lengths)):
            rows = [i for i, k in enumerate(lengths) if k == n]
            yield rows, ids.ids[rows, :n]

    def _plan_lockstep(self, ids: torch.Tensor) -> list[tuple[str, str]]:
        eos, limits = self.tokenizer.eos_token_id, (self.config["max_caption_tokens"], self.config["max_layout_tokens"])
        parts = [[[], []] for _ in range(ids.shape[0])]
        phase = [0] * ids.shape[0]  # 0: caption, 1: layout, 2: done
        live = list(range(ids.shape[0]))  # rows still writing; finished rows leave the batch
        logits, cache = self.model.decode_text(ids)
        while live:
            chosen = logits[:, -1].float().argmax(-1).tolist()
            step = []
            for b, token in zip(live, chosen):
                part = parts[b][phase[b]]
                if token != eos and len(part) == limits[phase[b]]:
                    token = eos  # no end-of-text within the limit: close the part, as `plan` does
                if token == eos:
                    phase[b] += 1
                else:
                    part.append(token)
                step.append(token)
            keep = [j for j, b in enumerate(live) if phase[b] < 2]
            if not keep:
                break
            if len(keep) < len(live):
                step, live = [step[j] for j in keep], [live[j] for j in keep]
                cache = [(k[keep], v[keep]) for k, v in cache]
            logits, cache = self.model.decode_text(torch.tensor(step, device=ids.device)[:, None], cache)
        return [tuple(self.tokenizer.decode(p, skip_special_tokens=True) for p in row) for row in parts]

    def _draw(self, prefix: list, uncond_prefix: list, generators, steps: int, guidance: float) -> torch.Tensor:
        """Latents drawn by rectified flow after the context segments `prefix`."""
        from diffusers.utils.torch_utils import randn_tensor

        c, s = self.model.config.latent_channels, self.model.config.latent_size
        latents = randn_tensor((len(generators), c, s, s), generator=generators, device=self.device, dtype=torch.float32)
        dtype = next(self.model.parameters()).dtype

        def velocity(x, t, ctx):
            return self.model(ctx + [ImageSegment(x.to(dtype), timestep=t)])[-1].float()

        return sample(velocity, latents, self.scheduler, steps, guidance, prefix, uncond_prefix)

    def _decode(self, latents: torch.Tensor) -> list[np.ndarray]:
        return list(to_uint8(self.vae.decode_frames(latents[:, :, None].float())[:, 0]))

    def _encode(self, images: list[np.ndarray]) -> torch.Tensor:
        x = to_tensor(np.stack(images))[:, None].to(self.device)
        return self.vae.encode_frames(x)[:, :, 0]

    @torch.no_grad()
    def act(self, texts: list[list[str]], generators, steps: int, guidance: float) -> list[np.ndarray]:
        uncond = [self._text([[""]] * len(texts))]
        return self._decode(self._draw([self._text(texts)], uncond, generators, steps, guidance))

    @torch.no_grad()
    def read(self, images: list[np.ndarray], texts: list[str], max_tokens: int) -> list[str]:
        """Greedy text after each clean image and its text (`""`: a caption follows; a question: its
        answer), as Stage II trains them. Each token recomputes the whole (short) sequence; rows of one
        token length step together, with no padding."""
        latents, eos = self._encode(images), self.tokenizer.eos_token_id
        out: list[str] = [""] * len(texts)
        for rows, seq in self._by_length([[t] for t in texts]):
            written = [[] for _ in rows]
            done = torch.zeros(len(rows), dtype=torch.bool)
            for _ in range(max_tokens):
                logits = self.model([ImageSegment(latents[rows]), TextSegment(seq)])[1][:, -1]
                token = logits.float().argmax(-1).cpu()
                for j, t in enumerate(token.tolist()):
                    if not done[j] and t != eos:
                        written[j].append(t)
                done |= token == eos
                if done.all():
                    break
                seq = torch.cat([seq, token[:, None].to(seq.device)], 1)
            for j, i in enumerate(rows):
                out[i] = self.tokenizer.decode(written[j], skip_special_tokens=True).strip()
        return out

    def caption(self, images: list[np.ndarray]) -> list[str]:
        return self.read(images, [""] * len(images), self.config["max_caption_tokens"])

    def answer(self, images: list[np.ndarray], questions: list[str], max_tokens: int = 8) -> list[str]:
        return self.read(images, questions, max_tokens)

    @torch.no_grad()
    def reflect(self, prompts: list[str], images: list[np.ndarray]) -> np.ndarray:
        """Artifact heatmaps (B, H, W) in [0, 1]: high where the image is wrong for its prompt."""
        heat = self.model([self._text([[p] for p in prompts]), ImageSegment(self._encode(images))])[1]
        return torch.sigmoid(heat[:, 0].float()).cpu().numpy()

    @torch.no_grad()
    def correct(self, texts: list[list[str]], images: list[np.ndarray], masks: list[np.ndarray], generators,
                steps: int, guidance: float) -> list[np.ndarray]:  # fmt: skip
        """Redraw each image inside its mask (bool, the image's H x W); outside it nothing changes."""
        for image, mask in zip(images, masks):
            if mask.shape != image.shape[:2]:
                raise ValueError(f"a correction mask of shape {mask.shape} does not fit an image of {image.shape[:2]}; pass an H x W mask of the image's size")
        blanked = [blank(im, m) for im, m in zip(images, masks)]
        share = torch.from_numpy(np.stack(masks).astype(np.float32))[:, None].to(self.device)
        share = F.avg_pool2d(share, self.vae.spatial)[:, 0]
        context = ImageSegment(self._encode(blanked), masked=share)
        uncond = [self._text([[""]] * len(texts)), context]
        drawn = self._decode(self._draw([self._text(texts), context], uncond, generators, steps, guidance))
        return [np.where(m[..., None], d, im) for d, im, m in zip(drawn, images, masks)]

    # -- the chain ----------------------------------------------------------------------------------
    def __call__(self, prompts: str | list[str], seeds: int | list[int] = 0, mode: str = "mcot",
                 num_inference_steps: int | None = None, guidance_scale: float | None = None,
                 heatmap_threshold: float | None = None, correction_rounds: int | None = None) -> list[MCoTTrace]:  # fmt: skip
        """One trace per (prompt, seed) pair; a single prompt with several seeds repeats the prompt."""
        cfg = self.config
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        seeds = [seeds] if isinstance(seeds, int) else list(seeds)
        if len(prompts) == 1 and len(seeds) > 1:
            prompts = prompts * len(seeds)
        steps = cfg["num_inference_steps"] if num_inference_steps is None else num_inference_steps
        g = cfg["guidance_scale"] if guidance_scale is None else guidance_scale
        threshold = cfg["heatmap_threshold"] if heatmap_threshold is None else heatmap_threshold
        rounds = cfg["correction_rounds"] if correction_rounds is None else correction_rounds
        if mode not in MODES:
            raise ValueError(f"unknown MCoT mode {mode!r}; choose from {', '.join(MODES)}")
        if len(prompts) != len(seeds):
            raise ValueError(f"{len(prompts)} prompts and {len(seeds)} seeds: give one seed per prompt, or one prompt")
        if not all(isinstance(p, str) and p.strip() for p in prompts):
            raise ValueError(f"prompts must be non-empty strings, got {prompts!r}")
        if steps < 1 or rounds < 0 or not 0 < threshold < 1:
            raise ValueError(f"need num_inference_steps >= 1, correction_rounds >= 0 and 0 < heatmap_threshold < 1; "
                             f"got {steps}, {rounds}, {threshold}")  # fmt: skip
        traces = [MCoTTrace(p, mode, s) for p, s in zip(prompts, seeds)]
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]

        if mode in ("direct", "twice"):
            texts = [[p] for p in prompts]
            first = self.act(texts, gens, steps, g)
            if mode == "twice":
                second = self.act(texts, gens, steps, g)
                scores = [self.reflect(prompts, imgs).mean(axis=(1, 2)) for imgs in (first, second)]
                first = [a if sa <= sb else b for a, b, sa, sb in zip(first, second, *scores)]
                for t, sa, sb in zip(traces, *scores):
                    t.candidate_scores = [float(sa), float(sb)]
            for t, im in zip(traces, first):
                t.images.append(im)
                t.stopped = "direct generation" if mode == "direct" else "the better of two by reflection"
            return traces

        if cfg["temperature"] == 0:  # greedy plans repeat per prompt
            planned = self.plan_many(prompts)
        else:
            planned = [self.plan(t.prompt, gen) for t, gen in zip(traces, gens)]
        for t, (caption, layout_text) in zip(traces, planned):
            t.caption, t.layout_text = caption, layout_text
            parsed = parse_layout(t.layout_text)
            t.layout, t.layout_problems = parsed.boxes, parsed.problems
        texts = [plan_parts(t.prompt, t.caption, t.layout_text) for t in traces]
        for t, im in zip(traces, self.act(texts, gens, steps, g)):
            t.images.append(im)
        if mode == "plan_act":
            for t in traces:
                t.stopped = "planning and acting only"
            return traces

        active = list(range(len(traces)))
        for r in range(rounds + 1):
            heat = self.reflect([traces[i].prompt for i in active], [traces[i].image for i in active])
            todo = []
            for i, h in zip(active, heat):
                mask = h > threshold
                traces[i].heatmaps.append(h)
                traces[i].masks.append(mask)
                if mask.sum() < cfg["min_mask_pixels"]:
                    traces[i].stopped = f"reflection found nothing wrong (round {r + 1})"
                elif r == rounds:
                    traces[i].stopped = f"correction rounds used up ({rounds})"
                else:
                    todo.append(i)
            if not todo:
                break
            fixed = self.correct([texts[i] for i in todo], [traces[i].image for i in todo],
                                 [traces[i].masks[-1] for i in todo], [gens[i] for i in todo], steps, g)  # fmt: skip
            for i, im in zip(todo, fixed):
                traces[i].images.append(im)
            active = todo
        return traces
