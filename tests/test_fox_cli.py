"""FoX (MCoT) end to end through the commands a user runs, on tiny random models: data, training,
generation with its trace, and GenEval sampling in each mode of the chain ablation."""

import json

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from reasongen.backbones.wan import build_vae
from reasongen.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()


def run(*args):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res.output


def test_data_train_generate_sample(tmp_path):
    torch.manual_seed(0)
    build_vae("tiny").save_pretrained(tmp_path / "vae", safe_serialization=True)
    run("fox", "data", "--out", tmp_path / "data", "--vae", tmp_path / "vae", "--n", 6, "--workers", 1)
    train = ["train", "fox", "--data", tmp_path / "data", "--vae", tmp_path / "vae", "--preset", "tiny", "--steps", 3, "--batch-size", 2,
             "--checkpoint-every", 3]  # fmt: skip
    # the paper's stages in order, each from the one before; the dense ablation straight at Stage III
    run(*train, "--stage", 1, "--output-dir", tmp_path / "stage1", "--object-weight", 8)
    run(*train, "--stage", 2, "--output-dir", tmp_path / "stage2", "--init-from", tmp_path / "stage1" / "pipeline")
    run(*train, "--output-dir", tmp_path / "functional", "--init-from", tmp_path / "stage2" / "pipeline")
    run(*train, "--output-dir", tmp_path / "dense", "--experts", "dense")
    logs = [json.loads(line) for line in (tmp_path / "stage2" / "log.jsonl").read_text().splitlines()]
    assert {k for r in logs for k in r if k.endswith(("_flow", "_lm"))} == {"t2i_flow", "caption_lm", "vqa_lm"}
    res = runner.invoke(app, [str(a) for a in train] + ["--stage", "4", "--output-dir", str(tmp_path / "bad")])
    assert res.exit_code == 2 and "--stage 4: choose 1" in res.output, res.output
    pipe = tmp_path / "functional" / "pipeline"
    assert json.loads((pipe / "model_index.json").read_text())["_class_name"] == "FoXPipeline"
    cfg = json.loads((tmp_path / "dense" / "pipeline" / "transformer" / "config.json").read_text())
    assert cfg["experts"] == "dense"

    out = tmp_path / "gen" / "star.png"
    text = run("generate", "a photo of a star", "--method", "fox", "--model", pipe, "-o", out, "--steps", 2, "--save-trace")
    assert "caption:" in text and "chain:" in text
    assert Image.open(out).size == (64, 64)
    trace = json.loads((tmp_path / "gen" / "star-trace.json").read_text())
    assert trace["mode"] == "mcot" and trace["stopped"] and len(trace["mask_pixels"]) >= 1
    assert (tmp_path / "gen" / "star-heatmap1.png").is_file() and (tmp_path / "gen" / "star-before.png").is_file()

    meta = tmp_path / "m.jsonl"
    meta.write_text(json.dumps({"tag": "single_object", "prompt": "a photo of a star", "include": [{"class": "star", "count": 1}]}) + "\n")
    for mode in ("direct", "twice", "plan_act"):
        run("sample", "geneval", "--method", "fox", "--model", pipe, "--metadata", meta, "--outdir", tmp_path / mode,
            "--n", 2, "--steps", 2, "--mode", mode)  # fmt: skip
        assert Image.open(tmp_path / mode / "00000" / "samples" / "0001.png").size == (64, 64)
    run("eval", "fox", pipe, "--n", 4, "--plan-metadata", meta, "--out", tmp_path / "eval.json")
    figures = json.loads((tmp_path / "eval.json").read_text())
    assert figures["records"] == 4 and figures["plans"]["plans"] == 1
    assert figures["reflection"]["flawed_images"] + figures["reflection"]["clean_images"] == 4
    res = runner.invoke(app, ["eval", "fox", str(tmp_path), "--n", "4"])
    assert res.exit_code == 2 and "no model at" in res.output
    res = runner.invoke(app, ["sample", "geneval", "--method", "fox", "--model", str(pipe), "--metadata", str(meta),
                              "--outdir", str(tmp_path / "bad"), "--mode", "dream"])  # fmt: skip
    assert res.exit_code == 2 and "dream" in res.output
    res = runner.invoke(app, ["sample", "geneval", "--method", "cof", "--metadata", str(meta), "--outdir", str(tmp_path / "bad"),
                              "--mode", "mcot"])  # fmt: skip
    assert res.exit_code == 2 and "--mode does not apply to method cof" in res.output
    # a checkpoint of another method is named as such
    res = runner.invoke(app, ["generate", "a photo of a star", "--method", "cof", "--model", str(pipe)])
    assert res.exit_code == 2 and "'FoXPipeline'" in res.output and "use --method fox" in res.output


def test_without_a_model_the_error_says_what_to_pass(tmp_path):
    res = runner.invoke(app, ["generate", "a photo of a star", "--method", "fox", "--model", str(tmp_path)])
    assert res.exit_code == 2 and "reasongen train fox" in res.output
    res = runner.invoke(app, ["generate", "a photo of a star", "--method", "fox", "--save-chain"])
    assert res.exit_code == 2 and "--save-trace" in res.output


def test_without_a_shipped_model_the_error_says_what_to_pass(tmp_path):
    """FoX ships no model until its pretraining lands (the old one left the tree to keep it small):
    the default says so and what to pass, in one line."""
    res = runner.invoke(app, ["generate", "a photo of a red circle", "--method", "fox", "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and "pass --model DIR" in res.output and "reasongen train fox" in res.output, res.output
    res = runner.invoke(app, ["generate", "a photo of a red circle", "--method", "mcot", "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and "now called 'fox'" in res.output, res.output
