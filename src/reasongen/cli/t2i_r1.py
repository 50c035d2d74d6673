"""T2I-R1 (BiCoT): the VQ tokenizer, records, SFT and GRPO, the judge and the learned detector, reward
curves, and the reward experts' agreement with the evaluator."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer

from ..methods.autoencoder_config import VQTrainConfig
from ..methods.t2i_r1.config import REAL_EXPERTS, SHAPES_EXPERTS, T2IR1TrainConfig
from ..rewards.config import DetectorTrainConfig, JudgeTrainConfig
from .common import (check_options, check_output, comma_list, config_options, eval_app, fail,
                     t2i_r1_app, train_app)


@train_app.command("vq")
@config_options(VQTrainConfig)
def train_vq(cfg: VQTrainConfig):
    """Train the VQ image tokenizer that T2I-R1's Janus model draws with (ShapesWorld renders)."""
    from ..methods.autoencoders import new_vq, train_vq

    check_options(size=cfg.size)
    if not 0 <= cfg.teacher_steps <= cfg.steps:
        raise typer.BadParameter(f"--teacher-steps {cfg.teacher_steps} must lie in [0, --steps {cfg.steps}]")
    try:
        vq = new_vq(cfg)
    except ValueError as e:
        fail(e)
    report = train_vq(cfg, vq)
    typer.echo(f"{Path(cfg.output_dir) / 'vq'}: held-out PSNR {report['heldout_psnr_db']:.2f} dB, {report['codes_used']}/{report['codebook']} codes used")


@t2i_r1_app.command("data")
def t2i_r1_data(
    out: Path = typer.Option(..., help="Data folder: prompts, oracle CoTs, captions, metadata, the renders and their VQ codes."),
    vq: Path = typer.Option(..., help="The trained VQ tokenizer (`reasongen train vq`: RUN/vq), or a BiCoT pipeline folder, whose own tokenizer is used."),
    n: int = typer.Option(20000, help="Number of records."),
    size: int = typer.Option(64, help="Canvas size."),
    seed: int = typer.Option(0, help="Seed."),
):
    """Build the Janus model's records on ShapesWorld (prompt -> CoT -> image tokens, image -> caption)."""
    from ..methods.autoencoders import load_vq_tokenizer
    from ..methods.t2i_r1.data import build_records

    try:
        build_records(out, load_vq_tokenizer(vq), n, size, seed)
    except (ValueError, OSError) as e:
        fail(e)
    typer.echo(f"{out}: {n} records")


REWARDS_HELP = ("grpo: reward experts, comma-separated (equal weights): detector, attribute, judge, learned-detector, "
                "learned-attribute (ShapesWorld); gdino, vqa, orm, clip (real scale, from --expert-dir).")  # fmt: skip
EXPERT_DIR_HELP = ("NAME=FOLDER for a real-scale expert (gdino, vqa, orm or clip), a local transformers folder; "
                   "repeat per expert.")  # fmt: skip


def expert_folders(expert_dirs: list[str]) -> dict[str, str]:
    """--expert-dir NAME=FOLDER items as a dict, or one line saying the form."""
    folders = dict(item.split("=", 1) for item in expert_dirs if "=" in item)
    if len(folders) != len(expert_dirs):
        fail(ValueError(f"--expert-dir {expert_dirs}: give NAME=FOLDER with NAME one of {', '.join(REAL_EXPERTS)}"))
    return folders


@train_app.command("t2i-r1")
@config_options(T2IR1TrainConfig)
def train_t2i_r1(
    cfg: T2IR1TrainConfig,
    rewards: str = typer.Option("detector,attribute", help=REWARDS_HELP),
    expert_dirs: list[str] = typer.Option([], "--expert-dir", help="grpo: " + EXPERT_DIR_HELP),
):
    """Train the Janus model on ShapesWorld: the plain base (--stage pretrain), then T2I-R1's supervised fine-tuning and BiCoT-GRPO."""
    from ..methods.t2i_r1.train import train_t2i_r1

    names = comma_list(rewards, "--rewards", SHAPES_EXPERTS + tuple(REAL_EXPERTS))
    try:
        train_t2i_r1(replace(cfg, rewards=tuple(names), expert_dirs=expert_folders(expert_dirs)))
    except (ValueError, OSError) as e:
        fail(e)
    typer.echo(f"{Path(cfg.output_dir) / 'pipeline'}")


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
    from ..methods.t2i_r1.curve import plot_curves, run_curves

    if label and len(label) != len(runs):
        fail(ValueError(f"{len(label)} --label for {len(runs)} runs: give one per run, or none"))
    try:
        curves = run_curves(runs, init_from, metadata, n, label, seed, say=typer.echo)
    except (ValueError, OSError) as e:
        fail(e)
    typer.echo(plot_curves(curves, out))


@train_app.command("judge")
@config_options(JudgeTrainConfig)
def train_judge(cfg: JudgeTrainConfig):
    """Train the ShapesWorld outcome-reward judge (T2I-R1's ORM analogue): does an image match its prompt?
    Each batch is half matching pairs, half not."""
    from ..rewards.judge import train_judge

    report = train_judge(cfg)
    typer.echo(f"{Path(cfg.output_dir) / 'judge'}: held-out accuracy {report['heldout_accuracy']:.3f}")


@train_app.command("detector")
@config_options(DetectorTrainConfig)
def train_detector(cfg: DetectorTrainConfig):
    """Train the learned ShapesWorld detector (CenterNet) that the learned-detector and learned-attribute
    rewards read."""
    from ..rewards.learned_detector import train_detector

    try:
        report = train_detector(cfg)
    except ValueError as e:
        fail(e)
    clean, degraded = report["clean"], report["degraded"]
    typer.echo(f"{Path(cfg.output_dir) / 'detector'}: held-out recall {clean['recall']:.3f} (degraded {degraded['recall']:.3f}), "
               f"precision {clean['precision']:.3f}, colour accuracy {clean['colour_accuracy']:.3f}")  # fmt: skip


@eval_app.command("rewards")
def eval_rewards(
    images: list[Path] = typer.Option(..., "--images", help=(
        "A GenEval-layout folder (`reasongen sample geneval`); repeat to pool several.")),
    rewards: str = typer.Option(..., help=(
        f"Reward experts, comma-separated: {', '.join(SHAPES_EXPERTS + tuple(REAL_EXPERTS))}.")),
    out: Path = typer.Option(..., help="The result (JSON): per expert, mean reward on correct and incorrect, AUC."),
    detector_model: Optional[Path] = typer.Option(None, help=(
        "The trained detector (`reasongen train detector`: RUN/detector), for learned-detector, learned-attribute.")),
    judge: Optional[Path] = typer.Option(None, help="The trained judge (`reasongen train judge`: RUN/judge)."),
    expert_dirs: list[str] = typer.Option([], "--expert-dir", help=EXPERT_DIR_HELP),
    device: str = typer.Option("cpu", help="Device for the learned detector and real-scale experts."),
):
    """How far each reward expert agrees with the evaluator (GenEval's rules, rule-based detector): mean reward
    on the images it calls correct and incorrect, and the ROC AUC of the reward for its verdict."""
    import json

    from ..locks import write_atomic
    from ..rewards.agreement import format_agreement, read_geneval_pairs, reward_agreement
    from ..rewards.experts import build_experts, check_experts

    names = comma_list(rewards, "--rewards", SHAPES_EXPERTS + tuple(REAL_EXPERTS))
    folders = expert_folders(expert_dirs)
    check_output(out, (".json",), "the result", "--out")
    check_options(device=device)
    try:
        check_experts(names, judge, detector_model, folders)
        pairs = read_geneval_pairs(images)
        experts = build_experts(names, judge, detector_model, folders, device=device)
        result = reward_agreement(pairs, experts, progress=True)
    except (ValueError, OSError) as e:
        fail(e)
    result["folders"] = [str(f) for f in images]
    write_atomic(out, json.dumps(result, indent=1) + "\n")
    typer.echo(format_agreement(result))
