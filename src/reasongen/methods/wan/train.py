"""Pretraining `shapes-wan`: a Wan DiT trained from scratch on ShapesWorld text-to-image, and
jointly on text-to-video clips when given them.

The recipe is Wan2.1's (rectified flow, logit-normal noise levels, classifier-free guidance through
10% dropped prompts, EMA) at ShapesWorld's size; what the papers leave to the scale (patch size,
width and depth, learning rate, noise-level sampling and loss weighting, batch, curriculum) is a
field of `WanTrainConfig`, so the recipe study (docs/foundation.md) runs every arm through this one
function. Runs go in legs: `time_budget` stops a leg with a checkpoint, and calling `train_wan` again
on the same `output_dir` resumes it exactly. As Wan2.1's stages do, a run may start on images and
add clips in a later leg (`clips`, `clips_per_step`): each step then adds that many clips, drawn
frame-wise over the same latents, to its image batch (`data.JointLatents`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

import torch

from ...flow import flow_loss
from ...locks import write_atomic
from ...train.data import object_weights
from ...train.loop import TrainConfig, last_step, train
from ...world.vocab import TAGS
from .config import WanTrainConfig

CURRICULUM_TAGS = ("single_object", "colors")  # one object a scene: what a curriculum trains on first
# Settings that may change between legs of one run: where it ends (the schedule), what it trains on
# next (the stages: clips joining an image run), and how the machine runs a step (each leg runs on
# the machine its session gets, with bf16 units or without; a checkpoint holds fp32 weights and
# optimiser state either way). Any other change is refused.
LEG_KEYS = ("steps", "cooldown_steps", "clips", "clips_per_step", "mixed_precision", "compile")


class DiTWithText(torch.nn.Module):
    """The DiT and the word encoder's network as one module, so that the loop's optimiser, EMA and
    checkpoints cover both when the text side is trained (`text_encoder="words"`)."""

    def __init__(self, transformer, text_encoder):
        super().__init__()
        self.transformer, self.text = transformer, text_encoder.model
        self.encoder = [text_encoder]  # in a list: its network is already registered as `text`


class T2ITask:
    """Rectified-flow loss on `JointLatents` batches (images, clips or None): (latents, prompts,
    object masks) each, prompts dropped with `drop_prob` for guidance, optionally through a compiled
    forward. The prompts' states come from the frozen encoder's cache, or, for a `DiTWithText`, from
    its encoder with gradients. It counts the clips it has trained on (saved with each checkpoint)."""

    def __init__(self, prompt_cache, cfg: WanTrainConfig):
        self.prompts, self.cfg, self._compiled, self.clips_seen = prompt_cache, cfg, None, 0
        if cfg.weighting not in ("none", "min_snr", "object"):
            raise ValueError(f"unknown loss weighting {cfg.weighting!r}; use none, min_snr or object")

    def forward(self, model):
        if not self.cfg.compile:
            return model
        if self._compiled is None:
            # static shapes: an image (1 latent frame) and a clip (17) have different token counts, and
            # dynamic=False compiles one graph per shape instead of recompiling both as dynamic shapes
            self._compiled = torch.compile(model, dynamic=False)
        return self._compiled

    def loss(self, model, batch, generator):
        images, clips = batch
        encode = None
        if isinstance(model, DiTWithText):
            encode, model = model.encoder[0].encode, model.transformer
        loss = self._flow_loss(model, encode, images, generator, cache=True)
        if clips is None:
            return loss, {}
        clip_loss = self._flow_loss(model, encode, clips, generator, cache=False)  # dense captions rarely repeat: not cached
        dist = torch.distributed
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        self.clips_seen += len(clips[1]) * world
        # Each part is a mean over its own elements, and the loss is their sum: our choice, since Wan2.1
        # mixes images and videos in its joint stages without publishing a weight.
        return loss + clip_loss, {"image_loss": float(loss.detach()), "clip_loss": float(clip_loss.detach())}

    def _flow_loss(self, model, encode, batch, generator, cache: bool):
        x0, prompts, objects = batch
        keep = torch.rand(len(prompts), generator=generator) >= self.cfg.drop_prob
        kept = [p if k else "" for p, k in zip(prompts, keep.tolist())]
        ctx = encode(kept) if encode is not None else self.prompts(kept, keep=cache)
        device = next(model.parameters()).device
        x0, ctx, objects = x0.to(device), ctx.to(device), objects.to(device)
        fn = self.forward(model)
        weights = None
        if self.cfg.weighting == "object":  # per latent cell of every frame: masks (B, h, w) of images, (B, T, h, w) of clips
            frames = objects[:, None] if objects.dim() == 3 else objects
            weights = object_weights(frames, self.cfg.object_weight)[:, None]
        return flow_loss(lambda x, t: fn(x, t, ctx, return_dict=False)[0], x0, generator, 1.0, self.cfg.timesteps,
                         weights=weights, weighting="min_snr" if self.cfg.weighting == "min_snr" else "none")  # fmt: skip

    def state_dict(self) -> dict:
        return {"clips_seen": self.clips_seen}

    def load_state_dict(self, state: dict) -> None:
        self.clips_seen = state.get("clips_seen", 0)


def build_pipeline(cfg: WanTrainConfig, transformer=None):
    """The one-frame text-to-image pipeline a run trains (a CoFPipeline with K = 1, which computes
    what diffusers' WanPipeline computes with num_frames=1), randomly initialised unless given."""
    from ...backbones.text import load_text_encoder, word_encoder
    from ...backbones.wan import build_transformer, get_preset, load_vae
    from .. import SHIPPED_MODELS
    from ..cof.pipeline import CoFPipeline

    preset = get_preset(cfg.preset)
    vae = load_vae(cfg.vae or SHIPPED_MODELS / "shapes-vae")
    if transformer is None:
        torch.manual_seed(cfg.seed)
        transformer = build_transformer(preset, **cfg.transformer_overrides())
    cfg.check()
    if cfg.text_encoder == "words":  # as wide as the states the DiT takes, heads of 64
        dim = preset.transformer["text_dim"]
        text_encoder = word_encoder(dim, num_heads=max(dim // 64, 1), max_length=cfg.text_max_length, seed=cfg.seed + 1)
    else:
        text_encoder = load_text_encoder(preset.text_encoder, max_length=cfg.text_max_length)
    return CoFPipeline(transformer, vae, text_encoder, num_frames=1, flow_shift=preset.flow_shift, sampler="unipc",
                       num_inference_steps=preset.sample_steps, height=preset.height, width=preset.width)  # fmt: skip


def train_wan(cfg: WanTrainConfig, progress: bool = True):
    """Train (or resume) a run; returns its pipeline, with the EMA weights, saved in `output_dir/pipeline`."""
    from ...backbones.text import PromptCache
    from ...train.loop import budget_clock
    from .data import ClipLatents, FrameLatents, JointLatents

    cfg.check()
    out = Path(cfg.output_dir)
    clips = ClipLatents(cfg.clips) if cfg.clips else None  # refused before anything is written
    config_path = out / "wan_config.json"
    record = {k: v for k, v in asdict(cfg).items() if k not in ("time_budget", "budget_clock", "output_dir", "init_from")}
    old, legs = None, []
    if config_path.is_file():  # a resumed run must be the same run
        defaults = {f.name: f.default for f in fields(WanTrainConfig)}  # settings added later: a run written before had the default
        old = json.loads(config_path.read_text())
        diff = sorted(k for k in record if k != "extra" and old.get(k, defaults.get(k)) != record[k])
        legs = [k for k in diff if k in LEG_KEYS]
        diff = [k for k in diff if k not in LEG_KEYS]
        if diff:
            raise ValueError(f"{out} holds a run with other settings ({', '.join(f'{k}: {old.get(k)} -> {record[k]}' for k in diff)}); "
                             "resume with the same settings or choose another --output-dir")  # fmt: skip
    pipe = build_pipeline(cfg)  # after the refusals above, which need no model
    if clips is not None:
        try:  # every caption whole in this run's text encoder, checked now rather than at the step that draws it
            pipe.text_encoder.tokenize(sorted(set(clips.prompts)))
        except ValueError as e:
            raise ValueError(f"--clips {cfg.clips}: {e}") from None
    out.mkdir(parents=True, exist_ok=True)
    if legs:
        print(f"{out}: settings change from this leg on, at step {last_step(out)} "
              f"({', '.join(f'{k}: {old.get(k, defaults.get(k))} -> {record[k]}' for k in legs)})")  # fmt: skip
    if old is None or legs:
        write_atomic(config_path, json.dumps(record if old is None else {**old, **{k: record[k] for k in legs}}, indent=1))
    if cfg.init_from and last_step(out) == 0:
        warm_restart(pipe, Path(cfg.init_from), out)
    transformer = pipe.transformer.train()
    if cfg.text_encoder == "words":
        pipe.text_encoder.model.requires_grad_(True).train()
        transformer = DiTWithText(transformer, pipe.text_encoder)
    task = T2ITask(PromptCache(pipe.text_encoder), cfg)
    loop = dict(output_dir=str(out), batch_size=cfg.batch_size, lr=cfg.lr, warmup_steps=cfg.warmup_steps,
                lr_decay=cfg.lr_decay, cooldown_steps=cfg.cooldown_steps, ema_decay=cfg.ema_decay, checkpoint_every=cfg.checkpoint_every,
                log_every=cfg.log_every, seed=cfg.seed, mixed_precision=cfg.mixed_precision, budget_clock=cfg.budget_clock,
                ema_steps_before=warm_restart_steps(out, cfg.batch_size))  # fmt: skip
    clock = budget_clock(cfg.budget_clock)
    start = clock()
    stages = [(cfg.curriculum_steps, CURRICULUM_TAGS)] if cfg.curriculum_steps else []
    stages.append((cfg.steps, None))
    ran = False
    for stage_steps, tags in stages:  # a leg runs at least one step, and stops between stages when out of time
        if last_step(out) >= stage_steps:
            continue
        budget = None if cfg.time_budget is None else max(cfg.time_budget - (clock() - start), 0.0)
        if ran and budget == 0.0:
            break
        data = JointLatents(FrameLatents(cfg.data, tags=tags), clips, cfg.clips_per_step)
        transformer = train(transformer, task, data, TrainConfig(steps=stage_steps, time_budget=budget, **loop), progress)
        ran = True
        if last_step(out) < stage_steps:  # stopped on time
            break
    if isinstance(transformer, DiTWithText):
        pipe.text_encoder.model = transformer.text.requires_grad_(False).eval()
        transformer = transformer.transformer
    pipe.transformer = transformer.eval()
    pipe.save_pretrained(out / "pipeline")
    write_training_record(out / "pipeline", samples_seen(out), record, clips_seen(out))
    return pipe


def write_training_record(pipeline_dir: Path, seen: int, recipe: dict, clips: int = 0) -> None:
    """`training.json` beside a saved pipeline: how many images and clips it has seen, and the recipe."""
    record = {"samples_seen": seen, "clips_seen": clips, "recipe": recipe}
    write_atomic(Path(pipeline_dir) / "training.json", json.dumps(record, indent=1) + "\n")


def warm_restart(pipe, init_from: Path, out: Path) -> None:
    """Load a saved pipeline's DiT (and a trained word encoder) into a run that has no checkpoint
    (its folder was lost: a process here lives about 3 hours). The optimiser and the step count start
    afresh; the images the start had seen are recorded, so the learning curve goes on from there.
    Logged in warm_restart.json."""
    from ...backbones.text import load_text_encoder

    grown_from = load_deeper(pipe.transformer, init_from)
    if pipe.text_encoder.kind == "words":
        if not (init_from / "text_encoder").is_dir():
            raise ValueError(f"--init-from {init_from}: no text_encoder/ to go on training the word encoder from (a minilm run's pipeline?)")
        pipe.text_encoder.model.load_state_dict(load_text_encoder("words", str(init_from)).model.state_dict())
    training = json.loads((init_from / "training.json").read_text()) if (init_from / "training.json").is_file() else {}
    before, clips = training.get("samples_seen", 0), training.get("clips_seen", 0)
    log = {"init_from": str(init_from), "samples_before": before, "clips_before": clips}
    if grown_from < len(pipe.transformer.blocks):
        log["grown_from_blocks"] = grown_from
        print(f"grown from {grown_from} to {len(pipe.transformer.blocks)} blocks: the new ones start as identities")
    write_atomic(out / "warm_restart.json", json.dumps(log) + "\n")
    print(f"warm restart from {init_from} ({before} images and {clips} clips seen before; optimiser state starts afresh, the EMA goes on)")


def load_deeper(transformer, init_from: Path) -> int:
    """A saved pipeline's DiT into `transformer`, which may have more blocks than it (`--num-layers`):
    the saved blocks come first, and each block after them starts as an identity, its self-attention,
    cross-attention and FFN output projections at zero (DiT's adaLN-Zero starts every block so), so
    the deeper model computes exactly what the saved one did and training goes on from there. Every
    other setting must match the saved model. Returns the saved model's number of blocks."""
    from .. import load_transformer_weights

    blocks = transformer.blocks
    config = Path(init_from) / "transformer" / "config.json"
    saved = json.loads(config.read_text()).get("num_layers", len(blocks)) if config.is_file() else len(blocks)
    transformer.blocks = blocks[:saved]  # the same modules: loading fills them, and checks every saved tensor
    try:
        load_transformer_weights(transformer, init_from)
    finally:
        transformer.blocks = blocks
    for block in blocks[saved:]:
        for layer in (block.attn1.to_out[0], block.attn2.to_out[0], block.ffn.net[-1]):
            torch.nn.init.zeros_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
    return saved


def warm_start(out: Path) -> dict:
    """What a run's warm-restart start had seen (`warm_restart.json`); empty for a run from scratch."""
    warm = Path(out) / "warm_restart.json"
    return json.loads(warm.read_text()) if warm.is_file() else {}


def warm_restart_steps(out: Path, batch_size: int) -> int:
    """The steps a warm restart's saved (EMA) weights had averaged, counted in this run's batches;
    0 for a run that started from scratch. The EMA goes on from there at its full decay."""
    return warm_start(out).get("samples_before", 0) // batch_size


def samples_seen(output_dir: str | Path) -> int:
    """How many training images a run has seen so far (its steps times its batch, plus those its
    warm-restart start had seen)."""
    out = Path(output_dir)
    cfg = json.loads((out / "wan_config.json").read_text())
    return warm_start(out).get("samples_before", 0) + last_step(out) * cfg["batch_size"]


def clips_seen(output_dir: str | Path) -> int:
    """How many clips a run has trained on so far: the count its newest checkpoint holds (the
    training task's state; clips per step may change between legs), plus its warm-restart start's."""
    from ...train.checkpoint import latest_checkpoint

    out = Path(output_dir)
    latest = latest_checkpoint(out / "checkpoints")
    state = json.loads((latest / "state.json").read_text()) if latest is not None else {}
    return warm_start(out).get("clips_before", 0) + state.get("task", {}).get("clips_seen", 0)


__all__ = ["WanTrainConfig", "train_wan", "build_pipeline", "samples_seen", "clips_seen", "TAGS"]


def dit_flops_per_sample(config, tokens: int, text_tokens: int) -> float:
    """Matrix-product FLOPs of one training sample (forward and backward, 3x the forward) of a Wan
    DiT with `tokens` latent tokens and `text_tokens` text states: the count MFU is taken over."""
    d, f, L = config.num_attention_heads * config.attention_head_dim, config.ffn_dim, config.num_layers
    per_block = (
        4 * d * d * tokens  # self-attention q k v o
        + 2 * tokens * tokens * d  # scores and values
        + 2 * d * d * tokens + 2 * d * d * text_tokens  # cross-attention q o, and k v over the text
        + 2 * tokens * text_tokens * d
        + 2 * d * f * tokens  # feed-forward
    )
    return 3 * 2 * L * per_block


def train_wan_oneshot(output_dir: str | Path, work_dir: str | Path, minutes: float = 9.0, n: int = 262_144, batch_size: int = 256,
                      lr: float = 1e-3, workers: int | None = None, peak_tflops: float | None = None, **overrides):  # fmt: skip
    """The prepared one-command pretraining for one accelerator: build the data, train until the
    budget (minutes, data generation included) leaves time to save, write the pipeline in fp16
    (every file well under 16 MiB), the loop's log.jsonl and report.json (samples per second and,
    given the device's peak bf16 TFLOP/s, the model FLOPs utilisation) into `output_dir`; the data
    and the run's checkpoints stay in `work_dir`."""
    import os
    import time

    from ...backbones.wan import load_vae
    from .. import SHIPPED_MODELS
    from .data import build_frames

    start = time.perf_counter()
    out, work = Path(output_dir), Path(work_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    fvae = load_vae(overrides.get("vae") or SHIPPED_MODELS / "shapes-vae").to(device)
    build_frames(work / "data", n, fvae, workers=workers or os.cpu_count() or 1, batch_size=512 if device == "cuda" else 64)
    data_seconds = time.perf_counter() - start
    reserve = 30.0  # saving the pipeline and the report
    budget = max(60 * minutes - (time.perf_counter() - start) - reserve, 1.0)
    overrides.setdefault("mixed_precision", "bf16" if device == "cuda" else "no")  # CPUs may lack bf16 units (docs/foundation.md)
    cfg = WanTrainConfig(str(work / "data"), str(work / "run"), time_budget=budget, batch_size=batch_size, lr=lr,
                         checkpoint_every=10**9, log_every=50, **overrides)  # fmt: skip
    t0 = time.perf_counter()
    pipe = train_wan(cfg, progress=False)
    train_seconds = time.perf_counter() - t0
    pipe.save_pretrained(out / "pipeline", dtype=torch.float16)
    seen = samples_seen(work / "run")
    write_atomic(out / "log.jsonl", (work / "run" / "log.jsonl").read_text())
    tokens = (16 // cfg.patch) ** 2
    flops = dit_flops_per_sample(pipe.transformer.config, tokens, cfg.text_max_length)
    report = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "minutes": minutes, "n_images": n,
        "data_seconds": round(data_seconds, 1), "train_seconds": round(train_seconds, 1), "samples_seen": seen,
        "samples_per_second": round(seen / train_seconds, 1), "model_tflops_per_second": float(f"{seen * flops / train_seconds / 1e12:.4g}"),
        "total_seconds": round(time.perf_counter() - start, 1), "config": asdict(cfg),
    }  # fmt: skip
    if peak_tflops:
        report["mfu"] = float(f"{report['model_tflops_per_second'] / peak_tflops:.4g}")
    write_atomic(out / "report.json", json.dumps(report, indent=1))
    return report
