"""The training commands' options generated from their typed configs (`cli/common.py: config_options`):
every field with help is an option of the same name and default, and what a user passes reaches the
config the training function gets (paths as str, custom flags, options in another form)."""

import dataclasses

import pytest
from typer.testing import CliRunner

from reasongen.cli import app
from reasongen.methods import autoencoders
from reasongen.methods.autoencoder_config import VAETrainConfig, VQTrainConfig
from reasongen.methods.cof import train as cof_train
from reasongen.methods.cof.config import CoFTrainConfig
from reasongen.methods.fox import train as fox_train
from reasongen.methods.fox.config import FoXTrainConfig
from reasongen.methods.reasondiff import train as reasondiff_train
from reasongen.methods.reasondiff.config import ReasonDiffTrainConfig
from reasongen.methods.t2i_r1 import train as t2i_r1_train
from reasongen.methods.t2i_r1.config import T2IR1TrainConfig
from reasongen.methods.wan import train as wan_train
from reasongen.methods.wan.config import WanTrainConfig

runner = CliRunner()
COMMANDS = {"cof": CoFTrainConfig, "fox": FoXTrainConfig, "reasondiff": ReasonDiffTrainConfig, "t2i-r1": T2IR1TrainConfig,
            "vae": VAETrainConfig, "vq": VQTrainConfig, "wan": WanTrainConfig}  # fmt: skip


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_field_with_help_is_an_option_with_its_default(command):
    import typer

    params = {p.name: p for p in typer.main.get_command(app).commands["train"].commands[command].params}
    for f in dataclasses.fields(COMMANDS[command]):
        if "help" not in f.metadata:
            continue
        p = params[f.name]
        assert p.help == f.metadata["help"]
        assert p.required == (f.default is dataclasses.MISSING)
        if f.default is not dataclasses.MISSING:
            assert p.default == f.default
        if "flag" in f.metadata:
            assert p.opts + p.secondary_opts == f.metadata["flag"].split("/")
        else:
            assert p.opts == ["--" + f.name.replace("_", "-")]


def capture(monkeypatch, module, name):
    seen = []
    monkeypatch.setattr(module, name, lambda cfg, *a, **k: seen.append(cfg) or {"heldout_psnr_db": 0.0, "codes_used": 0, "codebook": 0})
    return seen


def test_what_is_passed_reaches_the_config(monkeypatch, tmp_path):
    run = str(tmp_path / "run")
    seen = capture(monkeypatch, cof_train, "train_cof")
    res = runner.invoke(app, ["train", "cof", "--data", "d", "--vae", "v", "--output-dir", run, "--init-from", "p", "--lora-rank", "4",
                              "--gradient-checkpointing", "--lr", "0.01"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert seen == [CoFTrainConfig("d", "v", run, init_from="p", lora_rank=4, gradient_checkpointing=True, lr=0.01)]
    assert res.output.strip().endswith("pipeline")

    seen = capture(monkeypatch, reasondiff_train, "train_reasondiff")
    res = runner.invoke(app, ["train", "reasondiff", "--data", "d", "--vae", "v", "--output-dir", run, "--single-prompt", "--no-enhanced"])
    assert res.exit_code == 0, res.output
    assert seen == [ReasonDiffTrainConfig("d", "v", run, multi_frame=False, enhanced=False)]

    seen = capture(monkeypatch, fox_train, "train_fox")
    res = runner.invoke(app, ["train", "fox", "--data", "d", "--vae", "v", "--output-dir", run, "--tasks", "reflect,correct"])
    assert res.exit_code == 0, res.output
    assert seen == [FoXTrainConfig("d", "v", run, tasks=("reflect", "correct"))]

    seen = capture(monkeypatch, t2i_r1_train, "train_t2i_r1")
    res = runner.invoke(app, ["train", "t2i-r1", "--data", "d", "--output-dir", run, "--no-cot", "--rewards", "detector,vqa",
                              "--expert-dir", "vqa=/x"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert seen == [T2IR1TrainConfig("d", run, use_cot=False, rewards=("detector", "vqa"), expert_dirs={"vqa": "/x"})]

    seen = capture(monkeypatch, wan_train, "train_wan")
    monkeypatch.setattr(wan_train, "samples_seen", lambda out: 0)
    res = runner.invoke(app, ["train", "wan", "--data", "d", "--output-dir", run, "--ema", "0.99", "--compile", "--time-budget", "2",
                              "--cpu-budget", "--text-encoder", "words"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert seen == [WanTrainConfig("d", run, ema_decay=0.99, compile=True, time_budget=120.0, budget_clock="cpu", text_encoder="words")]

    seen = capture(monkeypatch, autoencoders, "train_vae")
    res = runner.invoke(app, ["train", "vae", "--output-dir", run, "--chains", "c", "--no-keep-frame-path"])
    assert res.exit_code == 0, res.output
    assert seen == [VAETrainConfig(run, chains="c", keep_frame_path=False)]


@pytest.mark.parametrize("args, flag", [(["train", "fox", "--data", "d", "--vae", "v", "--tasks", "dream"], "--tasks"),
                                        (["train", "t2i-r1", "--data", "d", "--expert-dir", "vqa"], "--expert-dir"),
                                        (["train", "cof", "--data", "d", "--vae", "v", "--steps", "0"], "--steps"),
                                        (["train", "wan", "--data", "d", "--patch", "3"], "--patch")])  # fmt: skip
def test_a_refused_option_ends_in_one_line_before_training(monkeypatch, tmp_path, args, flag):
    seen = [capture(monkeypatch, module, name) for module, name in ((cof_train, "train_cof"), (fox_train, "train_fox"),
                                                                    (t2i_r1_train, "train_t2i_r1"), (wan_train, "train_wan"))]  # fmt: skip
    res = runner.invoke(app, args + ["--output-dir", str(tmp_path / "run")])
    assert res.exit_code == 2 and res.output.startswith(f"error: {flag}") and len(res.output.strip().splitlines()) == 1
    assert seen == [[], [], [], []]
