"""T2I-R1 (BiCoT): the VQ tokenizer, records, SFT and GRPO, the judge, and reward curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .common import check_options, check_training, comma_list, fail, t2i_r1_app, train_app


@train_app.command("vq")
def train_vq(
    output_dir: Path = typer.Option(..., help="Run folder: checkpoints/, log.jsonl, and the trained vq/ at the end."),
    preset: str = typer.Option("shapes", help="Janus preset whose VQ tokenizer to train."),
    steps: int = typer.Option(3000, help="Optimiser steps."),
    batch_size: int = typer.Option(32, help="Global batch."),
    lr: float = typer.Option(1e-3, help="Peak learning rate (AdamW, cosine decay to 10%)."),
    restart_every: int = typer.Option(100, help="Move codes unused for this many steps onto encoder outputs (0: never)."),
    teacher_steps: int = typer.Option(400, help="Warm-up steps on the fixed patch-PCA code before end-to-end training (train/vq.py)."),
    size: int = typer.Option(64, help="Canvas size."),
    checkpoint_every: int = typer.Option(100, help="Checkpoint every N steps."),
    seed: int = typer.Option(0, help="Seed."),
    mixed_precision: str = typer.Option("no", help="no, or bf16 (the nearest-code search stays in float32)."),
):
    """Train the VQ image tokenizer that T2I-R1's Janus model draws with (ShapesWorld renders)."""
    import torch

    from ..train.data import ShapesImages
    from ..train.loop import TrainConfig, train
    from ..backbones.janus import PRESETS, vq_downsampling
    from ..train.vae import PatchPCA, init_for_training
    from ..train.vq import VQTask, build_vq, finish_vq

    check_training(steps, batch_size, lr, checkpoint_every, seed)
    check_options(size=size)
    if not 0 <= teacher_steps <= steps:
        raise typer.BadParameter(f"--teacher-steps {teacher_steps} must lie in [0, --steps {steps}]")
    try:
        vq = build_vq(preset)
    except ValueError as e:
        fail(e)
    drawn = PRESETS[preset]["image_size"]  # the token grid is fixed by the preset's image size
    if size != drawn:
        fail(f"--size {size}: the {preset} preset's VQ tokenizes {drawn} px images; use --size {drawn}")
    init_for_training(vq)
    teacher = PatchPCA(ShapesImages(2048, size, seed, 0.0).batch(range(2048)), vq_downsampling(vq.config.channel_multiplier),
                       vq.config.embed_dim)  # fmt: skip
    cfg = TrainConfig(str(output_dir), steps, batch_size=batch_size, lr=lr, warmup_steps=50, lr_decay="cosine",
                      checkpoint_every=checkpoint_every, seed=seed, mixed_precision=mixed_precision,
                      extra={"preset": preset, "size": size, "teacher_steps": teacher_steps})  # fmt: skip
    torch.manual_seed(seed)
    vq = train(vq, VQTask(restart_every, teacher, teacher_steps), ShapesImages(10**7, size, seed, 0.0), cfg)
    report = finish_vq(vq, ShapesImages(512, size, seed + 1_000_003, 0.0).batch(range(512)), output_dir / "vq")
    (output_dir / "vq_report.json").write_text(json.dumps(report, indent=1) + "\n")
    typer.echo(f"{output_dir / 'vq'}: held-out PSNR {report['heldout_psnr_db']:.2f} dB, {report['codes_used']}/{report['codebook']} codes used")


@t2i_r1_app.command("data")
def t2i_r1_data(
    out: Path = typer.Option(..., help="Data folder: prompts, oracle CoTs, metadata and the targets' VQ codes."),
    vq: Path = typer.Option(..., help="The trained VQ tokenizer (`reasongen train vq`: RUN/vq), or a BiCoT pipeline folder, whose own tokenizer is used."),
    n: int = typer.Option(20000, help="Number of records."),
    size: int = typer.Option(64, help="Canvas size."),
    seed: int = typer.Option(0, help="Seed."),
):
    """Build T2I-R1's fine-tuning records on ShapesWorld (prompt -> CoT -> image tokens)."""
    from ..methods.t2i_r1.data import build_records
    from ..methods.t2i_r1.pipeline import T2IR1Pipeline
    from ..train.vq import load_vq

    try:
        if (vq / "model_index.json").is_file():  # a pipeline carries the tokenizer it was trained on
            tokenizer = T2IR1Pipeline.from_pretrained(vq).model.model.vqmodel
        else:
            tokenizer = load_vq(vq)
        build_records(out, tokenizer, n, size, seed)
    except (ValueError, OSError) as e:
        fail(e)
    typer.echo(f"{out}: {n} records")


@train_app.command("t2i-r1")
def train_t2i_r1(
    data: Path = typer.Option(..., help="Folder from `reasongen t2i-r1 data` (GRPO reads its prompts and metadata)."),
    output_dir: Path = typer.Option(..., help="Run folder: checkpoints/, log.jsonl, and pipeline/ at the end."),
    stage: str = typer.Option("sft", help="sft (prompt -> CoT -> image tokens) or grpo (BiCoT-GRPO from --init-from)."),
    vq: Optional[Path] = typer.Option(None, help="sft: the VQ tokenizer the data was coded with (it goes inside the model)."),
    init_from: Optional[Path] = typer.Option(None, help="grpo (required) or sft: a BiCoT pipeline folder to start from."),
    preset: str = typer.Option("shapes", help="Janus preset (sft from scratch)."),
    levels: str = typer.Option("both", help="grpo: what the loss trains: both (BiCoT), image (image tokens only) or cot (CoT only)."),
    use_cot: bool = typer.Option(True, "--cot/--no-cot", help="grpo: sample a CoT before the image (off: the direct policy, with --levels image)."),
    rewards: str = typer.Option("detector,attribute", help="grpo: reward experts, comma-separated (equal weights): detector, attribute, judge (ShapesWorld); gdino, vqa, orm, clip (real scale, from --expert-dir)."),
    judge: Optional[Path] = typer.Option(None, help="grpo: the trained judge folder (`reasongen train judge`: RUN/judge), for the judge reward."),
    expert_dir: list[str] = typer.Option([], help="grpo: NAME=FOLDER for a real-scale expert (gdino, vqa, orm or clip), a local transformers folder; repeat per expert."),
    group_size: int = typer.Option(8, help="grpo: samples per prompt (T2I-R1: 8)."),
    beta: float = typer.Option(0.01, help="grpo: weight of the k3 KL to the frozen initial model (T2I-R1: 0.01)."),
    inner_iterations: int = typer.Option(1, help="grpo: optimiser steps per rollout (1: on-policy, the official setting; more: PPO clipping)."),
    clip_eps: float = typer.Option(0.2, help="grpo: PPO clipping range (with --inner-iterations > 1)."),
    branch: str = typer.Option("cond", help="grpo: which distribution scores image tokens: cond (official) or cfg (the one sampled from)."),
    guidance: float = typer.Option(5.0, help="grpo: guidance when sampling image tokens (T2I-R1: 5)."),
    steps: int = typer.Option(3000, help="Optimiser steps."),
    batch_size: int = typer.Option(32, help="Global batch: samples for sft, prompts for grpo (each drawn --group-size times)."),
    lr: Optional[float] = typer.Option(None, help="Learning rate (default: sft 5e-4 peak with cosine decay; grpo 5e-5 constant, as the ShapesWorld runs of docs/t2i-r1.md; T2I-R1 uses 1e-6 on the 7B)."),
    mixed_precision: str = typer.Option("no", help="no, or bf16."),
    checkpoint_every: int = typer.Option(250, help="Checkpoint every N steps."),
    keep_last: int = typer.Option(2, help="Checkpoints kept (0: all, for `reasongen t2i-r1 curve`)."),
    seed: int = typer.Option(0, help="Seed."),
):
    """Train T2I-R1 on ShapesWorld: supervised fine-tuning, then BiCoT-GRPO."""
    from ..methods.t2i_r1.train import REAL_EXPERTS, SHAPES_EXPERTS, T2IR1TrainConfig, train_t2i_r1

    check_training(steps, batch_size, lr, checkpoint_every, seed)
    names = comma_list(rewards, "--rewards", SHAPES_EXPERTS + tuple(REAL_EXPERTS))
    folders = dict(item.split("=", 1) for item in expert_dir if "=" in item)
    if len(folders) != len(expert_dir):
        fail(ValueError(f"--expert-dir {expert_dir}: give NAME=FOLDER with NAME one of {', '.join(REAL_EXPERTS)}"))
    cfg = T2IR1TrainConfig(str(data), str(output_dir), stage, None if vq is None else str(vq), None if init_from is None else str(init_from),
                           preset, levels, use_cot, tuple(names), None if judge is None else str(judge), folders, group_size, beta,
                           inner_iterations, clip_eps, branch, guidance, steps, batch_size, lr, mixed_precision, checkpoint_every,
                           keep_last, seed)  # fmt: skip
    try:
        train_t2i_r1(cfg)
    except (ValueError, OSError) as e:
        fail(e)
    typer.echo(f"{output_dir / 'pipeline'}")


@t2i_r1_app.command("curve")
def t2i_r1_curve(
    runs: list[Path] = typer.Argument(..., help="GRPO run folders (`train t2i-r1 --stage grpo --keep-last 0`), plotted together."),
    init_from: Path = typer.Option(..., help="The pipeline the runs started from (their --init-from): step 0, and the config the checkpoints load into."),
    out: Path = typer.Option(..., help="The figure (PNG): training reward beside the independent score."),
    metadata: str = typer.Option("shapes-geneval", help="The independent benchmark: a metadata file or a shipped name."),
    n: int = typer.Option(1, help="Images per prompt for each checkpoint."),
    label: list[str] = typer.Option([], help="A label per run, in order (default: the folder names)."),
    seed: int = typer.Option(0, help="Seed of the samples (the same for every checkpoint)."),
):
    """Reward curves of GRPO runs beside an independent benchmark score per checkpoint (reward hacking would show)."""
    from ..methods.t2i_r1.curve import checkpoint_scores, plot_curves, read_log

    if label and len(label) != len(runs):
        fail(ValueError(f"{len(label)} --label for {len(runs)} runs: give one per run, or none"))
    curves, start = {}, None
    try:
        for run, name in zip(runs, label or [r.name for r in runs]):
            scores = checkpoint_scores(run, init_from, metadata, n, seed, start=start)
            start = scores[0]  # every run starts from --init-from: sample step 0 once
            curves[name] = {"log": read_log(run), "scores": scores}
            typer.echo(f"{name}: " + ", ".join(f"step {s} {v['overall']:.3f}" for s, v in sorted(scores.items())))
    except (ValueError, OSError) as e:
        fail(e)
    typer.echo(plot_curves(curves, out))


@train_app.command("judge")
def train_judge(
    output_dir: Path = typer.Option(..., help="Run folder: checkpoints/, log.jsonl, and the trained judge/ at the end."),
    steps: int = typer.Option(2000, help="Optimiser steps."),
    batch_size: int = typer.Option(64, help="Global batch (half matching pairs, half not)."),
    lr: float = typer.Option(1e-3, help="Peak learning rate (AdamW, cosine decay to 10%)."),
    checkpoint_every: int = typer.Option(250, help="Checkpoint every N steps."),
    seed: int = typer.Option(0, help="Seed."),
):
    """Train the ShapesWorld outcome-reward judge (T2I-R1's ORM analogue): does an image match its prompt?"""
    import torch

    from ..backbones.text import TextFeatures, load_text_encoder
    from ..rewards.judge import JudgeModel, JudgePairs, JudgeTask, heldout_report
    from ..train.loop import TrainConfig, train

    check_training(steps, batch_size, lr, checkpoint_every, seed)
    features = TextFeatures(load_text_encoder("minilm"))
    cfg = TrainConfig(str(output_dir), steps, batch_size=batch_size, lr=lr, warmup_steps=50, lr_decay="cosine",
                      checkpoint_every=checkpoint_every, seed=seed)  # fmt: skip
    torch.manual_seed(seed)
    model = train(JudgeModel(), JudgeTask(features), JudgePairs(seed=seed), cfg).eval()
    model.save_pretrained(output_dir / "judge", safe_serialization=True)
    report = heldout_report(model, features, seed + 1_000_003)
    (output_dir / "judge_report.json").write_text(json.dumps(report, indent=1) + "\n")
    typer.echo(f"{output_dir / 'judge'}: held-out accuracy {report['heldout_accuracy']:.3f}")
