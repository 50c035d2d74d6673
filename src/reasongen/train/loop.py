"""One training loop for every model of the project, on accelerate.

One CPU process here; any number of GPUs or nodes through `accelerate launch` with no code change.
Each step's data and noise are functions of (seed, step, rank) alone, so a run killed and resumed
from its last checkpoint continues exactly as the uninterrupted run would, and every process of a
multi-process run draws its own disjoint slice of the global batch.

A task supplies the loss: `task.loss(model, batch, generator) -> (loss, {name: float})`, and may
have `set_step(step)`, called before each step, and `state_dict()` / `load_state_dict(state)` for
what it carries from step to step (JSON-able; saved with each checkpoint and given back on resume,
such as the VQ task's code-usage counts); a dataset supplies batches: `len(dataset)` and
`dataset.batch(indices)`.

A checkpoint holds what training changes: the trainable parameters (and the buffers), not the
frozen ones, which the run rebuilds from its own start (`--init-from`) when it resumes. A LoRA over
a 14B DiT checkpoints its adapter, not 28 GB of base weights.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from ..locks import write_atomic
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint


class Task(Protocol):
    def loss(self, model: torch.nn.Module, batch, generator: torch.Generator) -> tuple[torch.Tensor, dict]: ...


class Dataset(Protocol):
    def __len__(self) -> int: ...
    def batch(self, indices: list[int]): ...


@dataclass
class TrainConfig:
    output_dir: str
    steps: int
    batch_size: int = 32  # global: split across processes
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0
    lr_decay: str = "constant"  # or "cosine" (to 10% of lr at the last step)
    cooldown_steps: int = 0  # the last N of `steps` fall to zero as 1 - sqrt(progress): a warmup-stable-decay cool-down
    grad_clip: float | None = 1.0
    ema_decay: float | None = None  # the ceiling; the decay warms up as diffusers' EMAModel's does (ema_decay_at)
    ema_steps_before: int = 0  # steps the starting weights already averaged (a warm restart from saved EMA weights)
    checkpoint_every: int = 500
    log_every: int = 10
    keep_last: int = 2
    seed: int = 0
    mixed_precision: str = "no"  # "bf16" on GPUs
    time_budget: float | None = None  # seconds: stop cleanly with a checkpoint once this leg has run this long
    budget_clock: str = "wall"  # or "cpu": the process's CPU time over all its threads (equal compute whatever else runs)
    find_unused_parameters: bool = False  # DDP: True when some parameters get no gradient (the Wan VAE's time convs on single frames)
    extra: dict = field(default_factory=dict)  # recorded with each checkpoint

    def ema_decay_at(self, step: int) -> float:
        """min(ema_decay, (1 + n) / (10 + n)) at the EMA's n-th step, diffusers' EMAModel default: a
        constant 0.999 from the first step keeps 0.999^n of the random initialisation (22% after 1,500
        steps). n counts `ema_steps_before`: weights that are an EMA already are not a random start,
        and warming up again would make the saved weights nearly the raw ones for thousands of steps."""
        n = step + self.ema_steps_before
        return min(self.ema_decay, (1 + n) / (10 + n))

    def lr_at(self, step: int) -> float:
        scale = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        if self.lr_decay == "cosine":
            progress = step / max(self.steps - 1, 1)
            scale *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
        if self.cooldown_steps:
            # Hagele et al. 2024 (Scaling Laws and Compute-Optimal Training Beyond Fixed Training
            # Durations): a constant rate ended by a short 1-sqrt cool-down matches a cosine schedule,
            # and the cool-down can branch off a long run at any step.
            progress = max(step - (self.steps - self.cooldown_steps), 0) / self.cooldown_steps
            scale *= 1.0 - math.sqrt(min(progress, 1.0))
        return self.lr * scale


class EpochSampler:
    """The global batch of a step: positions step*B ... step*B+B-1 of an endless sequence of
    seeded permutations of the dataset."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n)}
        return self._perms[epoch]

    def indices(self, step: int) -> list[int]:
        pos = np.arange(step * self.batch_size, (step + 1) * self.batch_size)
        return [int(self._perm(p // self.n)[p % self.n]) for p in pos]


def step_generator(seed: int, step: int, rank: int, device="cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int(np.random.SeedSequence([seed, step, rank, 7]).generate_state(1, dtype=np.uint64)[0] >> 1))
    return g


def budget_clock(name: str):
    """The clock a time budget is counted on: wall time, or the process's CPU time (all threads)."""
    if name not in ("wall", "cpu"):
        raise ValueError(f"unknown budget clock {name!r}; use wall or cpu")
    return time.perf_counter if name == "wall" else time.process_time


def last_step(output_dir: str | Path) -> int:
    """The step a run folder's newest checkpoint reached (0: none yet)."""
    latest = latest_checkpoint(Path(output_dir) / "checkpoints")
    return int(latest.name.split("-")[1]) if latest is not None else 0


def trained_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The part of the state dict a checkpoint needs: trainable parameters and buffers."""
    frozen = {n for n, p in model.named_parameters(remove_duplicate=False) if not p.requires_grad}
    return {k: v for k, v in model.state_dict().items() if k not in frozen}


def train(model: torch.nn.Module, task: Task, dataset: Dataset, cfg: TrainConfig, progress: bool = True) -> torch.nn.Module:
    """`run` under a lock on `cfg.output_dir` (taken by the main process of a multi-process run): a
    second run into a folder that a live run trains in is refused; a killed run's lock is taken over."""
    import contextlib
    import os

    from ..locks import folder_lock

    main = int(os.environ.get("RANK", "0")) == 0
    with folder_lock(cfg.output_dir, "training run") if main else contextlib.nullcontext():
        return run(model, task, dataset, cfg, progress)


def run(model: torch.nn.Module, task: Task, dataset: Dataset, cfg: TrainConfig, progress: bool = True) -> torch.nn.Module:
    """Train `model` (its parameters with requires_grad) for `cfg.steps` steps, resuming from the
    newest checkpoint in `output_dir/checkpoints`. Returns the unwrapped model; with an EMA, its
    weights are the EMA's. With `cfg.time_budget` a leg stops after that many seconds at a step
    boundary, checkpointed, so the next call resumes it exactly (`last_step(output_dir)` says where)."""
    from accelerate import Accelerator, DistributedDataParallelKwargs

    # cpu=True without a GPU: under torchrun / `accelerate launch --multi_gpu` that makes accelerate
    # run gloo DDP across CPU processes instead of N independent single-process runs.
    acc = Accelerator(
        mixed_precision=cfg.mixed_precision, cpu=not torch.cuda.is_available(),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=cfg.find_unused_parameters)],
    )  # fmt: skip
    rank, world = acc.process_index, acc.num_processes
    if cfg.batch_size % world:
        raise ValueError(f"batch size {cfg.batch_size} does not split over {world} processes; use a multiple of {world}")
    out = Path(cfg.output_dir)
    ckpt_dir = out / "checkpoints"
    params = [p for p in model.parameters() if p.requires_grad]
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    ema = {n: p.detach().clone().float() for n, p in zip(names, params)} if cfg.ema_decay else None

    start = 0
    latest = latest_checkpoint(ckpt_dir)
    if latest is not None:
        ck = load_checkpoint(latest)
        model.load_state_dict(ck["model"], strict=False)
        if ck["optimizer"] is not None:
            optimizer.load_state_dict(ck["optimizer"])
        if ema is not None and ck["ema"] is not None:
            ema = {k: v.float() for k, v in ck["ema"].items()}
        start = ck["state"]["step"]
        if hasattr(task, "load_state_dict") and "task" in ck["state"]:
            task.load_state_dict(ck["state"]["task"])
        if acc.is_main_process:
            print(f"resuming from {latest} (step {start})")
    model, optimizer = acc.prepare(model, optimizer)
    raw = acc.unwrap_model(model)
    sampler = EpochSampler(len(dataset), cfg.batch_size, cfg.seed)
    per_rank = cfg.batch_size // world
    if acc.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / "train_config.json", json.dumps(asdict(cfg), indent=1))
    log_path = out / "log.jsonl"
    if acc.is_main_process and start and log_path.exists():
        # rows written after the checkpoint we resume from are redone below; keep the log one run
        rows = [r for r in log_path.read_text().splitlines() if r and json.loads(r)["step"] <= start]
        write_atomic(log_path, "".join(r + "\n" for r in rows))  # a kill here loses no row
    model.train()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="train", disable=not (progress and acc.is_main_process))
    t0, running = time.perf_counter(), []
    clock = budget_clock(cfg.budget_clock)
    leg_start = clock()
    for step in bar:
        idx = sampler.indices(step)[rank * per_rank : (rank + 1) * per_rank]
        batch = dataset.batch(idx)
        gen = step_generator(cfg.seed, step, rank)
        if hasattr(task, "set_step"):  # tasks whose loss changes over the run (a warm-up stage)
            task.set_step(step)
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr_at(step)
        with acc.autocast():
            loss, logs = task.loss(model, batch, gen)
        acc.backward(loss)
        if cfg.grad_clip:
            acc.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            decay = cfg.ema_decay_at(step)
            with torch.no_grad():
                for n, p in zip(names, params):
                    ema[n].lerp_(p.detach().float(), 1 - decay)
        running.append({"loss": float(loss.detach()), **logs})
        done = step + 1
        # every process must agree to stop at the same step: any process out of time stops them all
        out_of_time = cfg.time_budget is not None and clock() - leg_start >= cfg.time_budget
        if world > 1:
            flag = torch.tensor([float(out_of_time)], device=acc.device)
            out_of_time = bool(acc.reduce(flag, reduction="sum").item() > 0)
        if acc.is_main_process and (done % cfg.log_every == 0 or done == cfg.steps or out_of_time):
            # every logged figure is its mean over the steps since the last record, not the last step's
            keys = dict.fromkeys(k for r in running for k in r)
            values = {k: [r[k] for r in running if k in r] for k in keys}
            means = {k: float(np.mean(v)) if all(isinstance(x, (int, float)) for x in v) else v[-1] for k, v in values.items()}
            rec = {"step": done, "lr": cfg.lr_at(step), **means, "sec_per_step": (time.perf_counter() - t0) / len(running)}
            with open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
            bar.set_postfix(loss=f"{rec['loss']:.4f}")
            running, t0 = [], time.perf_counter()
        if done % cfg.checkpoint_every == 0 or done == cfg.steps or out_of_time:
            acc.wait_for_everyone()
            if acc.is_main_process:
                save_checkpoint(
                    ckpt_dir, done, trained_state(raw), optimizer.state_dict(), ema,
                    {"config": asdict(cfg), **({"task": task.state_dict()} if hasattr(task, "state_dict") else {})},
                    keep_last=cfg.keep_last,
                )  # fmt: skip
            acc.wait_for_everyone()
        if out_of_time:
            if acc.is_main_process:
                print(f"time budget of {cfg.time_budget:.0f} s reached at step {done}: checkpointed; run again to resume")
            break
    if ema is not None:
        with torch.no_grad():
            for n, p in raw.named_parameters():
                if n in ema:
                    p.copy_(ema[n].to(p.dtype))
    return raw
