"""T2I-R1 end to end through the commands a user runs, on tiny random models: the VQ tokenizer, the
records, fine-tuning, BiCoT-GRPO, generation with its CoT, and GenEval sampling with and without CoT."""

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from reasongen.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()


def run(*args):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res.output


def test_vq_data_sft_grpo_generate_sample(tmp_path):
    run("train", "vq", "--output-dir", tmp_path / "vq", "--preset", "tiny", "--steps", 2, "--teacher-steps", 1, "--batch-size", 4,
        "--restart-every", 1)
    report = json.loads((tmp_path / "vq" / "vq_report.json").read_text())
    assert report["codebook"] == 64 and report["heldout_images"] == 512
    run("bicot", "data", "--out", tmp_path / "data", "--vq", tmp_path / "vq" / "vq", "--n", 8)
    run("train", "bicot", "--data", tmp_path / "data", "--vq", tmp_path / "vq" / "vq", "--output-dir", tmp_path / "sft",
        "--preset", "tiny", "--steps", 2, "--batch-size", 4)  # fmt: skip
    sft = tmp_path / "sft" / "pipeline"
    assert json.loads((sft / "model_index.json").read_text())["_class_name"] == "BiCoTPipeline"
    run("train", "bicot", "--data", tmp_path / "data", "--output-dir", tmp_path / "grpo", "--stage", "grpo", "--init-from", sft,
        "--steps", 2, "--batch-size", 2, "--group-size", 2, "--lr", 1e-5)  # fmt: skip
    logs = [json.loads(line) for line in (tmp_path / "grpo" / "log.jsonl").read_text().splitlines()]
    assert {"reward", "reward_detector", "reward_attribute", "kl"} <= set(logs[-1])
    grpo = ["train", "bicot", "--data", str(tmp_path / "data"), "--output-dir", str(tmp_path / "g2"), "--stage", "grpo",
            "--init-from", str(sft), "--steps", "1"]  # fmt: skip
    for extra, says in ((["--rewards", "gdino"], "needs --expert-dir gdino=FOLDER"),
                        (["--rewards", "vqa", "--expert-dir", f"vqa={tmp_path / 'none'}"], "no VQA checkpoint"),
                        (["--expert-dir", "hps=x"], "NAME=FOLDER with NAME one of gdino, vqa, orm, clip")):  # fmt: skip
        res = runner.invoke(app, grpo + extra)
        assert res.exit_code == 2 and says in res.output, res.output

    out = tmp_path / "star.png"
    text = run("generate", "a photo of a star", "--method", "bicot", "--model", tmp_path / "grpo" / "pipeline", "-o", out)
    assert "cot:" in text and Image.open(out).size == (64, 64)
    meta = tmp_path / "m.jsonl"
    meta.write_text(json.dumps({"tag": "single_object", "prompt": "a photo of a star", "include": [{"class": "star", "count": 1}]}) + "\n")
    for flag in ("--cot", "--no-cot"):
        run("sample", "geneval", "--method", "bicot", "--model", sft, "--metadata", meta, "--outdir", tmp_path / flag, "--n", 2, flag)
        assert Image.open(tmp_path / flag / "00000" / "samples" / "0001.png").size == (64, 64)


def test_bad_stage_and_missing_start(tmp_path):
    res = runner.invoke(app, ["train", "bicot", "--data", str(tmp_path), "--output-dir", str(tmp_path / "x"), "--stage", "rl"])
    assert res.exit_code == 2 and "--stage" in res.output
