"""CoF end to end through the commands a user runs, on tiny random models: data, training,
generation with the chain, and GenEval sampling of any frame."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
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
    run("cof", "data", "--out", tmp_path / "data", "--vae", tmp_path / "vae", "--n", 8, "--workers", 1)
    info = json.loads((tmp_path / "data" / "chains.json").read_text())
    assert len(info["prompts"]) == 8 and sum(info["tiers"].values()) == 8
    for variant in ("cof", "target"):
        run("train", "cof", "--data", tmp_path / "data", "--vae", tmp_path / "vae", "--output-dir", tmp_path / variant,
            "--variant", variant, "--preset", "tiny", "--steps", 3, "--batch-size", 4, "--checkpoint-every", 2,
            "--flow-shift", 1.5)  # fmt: skip
    index = json.loads((tmp_path / "cof" / "pipeline" / "model_index.json").read_text())
    assert index["num_frames"] == 3 and index["text_encoder"] == "tiny" and index["height"] == 64
    assert index["flow_shift"] == 1.5  # the shift it was trained with is the one it samples with
    assert index["num_inference_steps"] == 50  # the tiny preset's sampling steps: Wan2.1's
    assert json.loads((tmp_path / "target" / "pipeline" / "model_index.json").read_text())["num_frames"] == 1
    # continuous latents are not encoded by default (they need a VAE trained on chains): training says so
    res = runner.invoke(app, ["train", "cof", "--data", str(tmp_path / "data"), "--vae", str(tmp_path / "vae"), "--output-dir",
                              str(tmp_path / "cont"), "--variant", "continuous", "--preset", "tiny", "--steps", "1"])  # fmt: skip
    assert res.exit_code != 0 and "no continuous latents" in res.output, res.output

    # --init-from: a saved model trained further starts from its weights (lr 0 keeps them exactly)
    # and keeps its sampling settings
    index_file = tmp_path / "cof" / "pipeline" / "model_index.json"
    index_file.write_text(json.dumps({**index, "num_inference_steps": 7}))
    run("train", "cof", "--data", tmp_path / "data", "--vae", tmp_path / "vae", "--output-dir", tmp_path / "more",
        "--preset", "tiny", "--steps", 1, "--batch-size", 4, "--lr", 0, "--init-from", tmp_path / "cof" / "pipeline")  # fmt: skip
    before, after = (load_file(tmp_path / run_dir / "pipeline" / "transformer" / "diffusion_pytorch_model.safetensors")
                     for run_dir in ("cof", "more"))  # fmt: skip
    assert all(torch.equal(before[k], after[k]) for k in before)
    more = json.loads((tmp_path / "more" / "pipeline" / "model_index.json").read_text())
    assert more["num_inference_steps"] == 7 and more["flow_shift"] == 1.5
    res = runner.invoke(app, ["train", "cof", "--data", str(tmp_path / "data"), "--vae", str(tmp_path / "vae"), "--output-dir",
                              str(tmp_path / "x"), "--preset", "tiny", "--steps", "1", "--init-from", str(tmp_path / "data")])  # fmt: skip
    assert res.exit_code == 2 and "--init-from" in res.output

    out = tmp_path / "gen" / "red.png"
    run("generate", "a photo of a red circle", "-o", out, "--model", tmp_path / "cof" / "pipeline", "--steps", 2, "--save-chain")
    assert Image.open(out).size == (64, 64)
    assert Image.open(tmp_path / "gen" / "red-chain.png").width > 3 * 64 and (tmp_path / "gen" / "red-chain.gif").is_file()

    meta = tmp_path / "m.jsonl"
    meta.write_text(json.dumps({"tag": "single_object", "prompt": "a photo of a star", "include": [{"class": "star", "count": 1}]}) + "\n")
    for frame in ("-1", "0"):
        run("sample", "geneval", "--method", "cof", "--model", tmp_path / "cof" / "pipeline", "--metadata", meta,
            "--outdir", tmp_path / f"s{frame}", "--n", 2, "--steps", 2, "--frame", frame)  # fmt: skip
    a = Image.open(tmp_path / "s-1" / "00000" / "samples" / "0001.png")
    b = Image.open(tmp_path / "s0" / "00000" / "samples" / "0001.png")
    assert a.size == (64, 64) and (np.asarray(a) != np.asarray(b)).any()  # F3 and F1 of one chain differ
    # --frame all: every frame of the same chains, drawn once, each into its own folder
    run("sample", "geneval", "--method", "cof", "--model", tmp_path / "cof" / "pipeline", "--metadata", meta,
        "--outdir", tmp_path / "all", "--n", 2, "--steps", 2, "--frame", "all")  # fmt: skip
    assert (np.asarray(Image.open(tmp_path / "all" / "f3" / "00000" / "samples" / "0001.png")) == np.asarray(a)).all()
    assert (np.asarray(Image.open(tmp_path / "all" / "f1" / "00000" / "samples" / "0001.png")) == np.asarray(b)).all()
    assert (tmp_path / "all" / "f2" / "00000" / "samples" / "0000.png").is_file()
    for bad, says in (("3", "draws 3 frame(s)"), ("last", "'last'")):
        res = runner.invoke(app, ["sample", "geneval", "--method", "cof", "--model", str(tmp_path / "cof" / "pipeline"),
                                  "--metadata", str(meta), "--outdir", str(tmp_path / "bad"), "--frame", bad])  # fmt: skip
        assert res.exit_code == 2 and says in res.output, res.output
    assert "overall" in run("eval", "geneval", tmp_path / "s-1", "--workers", 1)


def test_without_a_model_the_error_says_what_to_pass(tmp_path):
    res = runner.invoke(app, ["generate", "a photo of a star", "--model", str(tmp_path)])
    assert res.exit_code == 2 and "pass --model DIR" in res.output


def test_the_default_draws_the_readme_prompt_with_the_shipped_base(tmp_path):
    out = tmp_path / "out.png"
    run("generate", "a photo of a red circle left of a blue star", "-o", out, "--steps", 2)  # the best shipped model: shapes-wan
    assert Image.open(out).size == (64, 64)
    res = runner.invoke(app, ["generate", "a photo of a red circle", "-o", str(tmp_path / "c.png"), "--save-chain"])
    assert res.exit_code == 2 and "--save-chain goes with --method cof" in res.output, res.output  # the base draws no chain
    res = runner.invoke(app, ["generate", "a photo of a red circle", "--method", "cof", "-o", str(tmp_path / "c.png")])
    assert res.exit_code == 2 and "pass --model DIR" in res.output and "no shipped model" in res.output, res.output
    assert not (tmp_path / "c.png").exists()


def test_generate_refuses_bad_output_paths_and_prompts_before_sampling(tmp_path, monkeypatch):
    import reasongen.methods.cof.pipeline as cof_pipeline

    def never(*a, **k):
        raise AssertionError("sampled before refusing")

    monkeypatch.setattr(cof_pipeline.CoFPipeline, "from_pretrained", never)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    cases = [
        (["a red star", "-o", str(tmp_path / "out.txt")], "out.txt: the image is written as .png"),
        (["a red star", "-o", str(tmp_path)], "is a folder"),
        (["   ", "-o", str(tmp_path / "x.png")], "the prompt is empty"),
    ]
    import os

    if os.geteuid() != 0:  # root writes anywhere
        cases.append((["a red star", "-o", str(locked / "sub" / "x.png")], "cannot write in"))
    for args, says in cases:
        res = runner.invoke(app, ["generate", *args])
        assert res.exit_code == 2 and says in res.output and "Traceback" not in res.output, res.output
        assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "out.txt").exists()


def test_a_very_long_prompt_is_refused_in_one_short_line():
    from reasongen.backbones.text import load_text_encoder

    enc = load_text_encoder("minilm")
    with pytest.raises(ValueError) as e:
        enc(["a red star " * 2400])
    assert len(str(e.value)) < 400 and "characters" in str(e.value) and "shorten it" in str(e.value)


def test_a_truncated_model_folder_is_named_in_one_line(tmp_path):
    import shutil

    from reasongen.methods import SHIPPED_MODELS

    folder = tmp_path / "wan"
    shutil.copytree(SHIPPED_MODELS / "shapes-wan", folder)
    index = json.loads((folder / "model_index.json").read_text())
    index["vae_folder"] = str((SHIPPED_MODELS / "shapes-wan" / index["vae_folder"]).resolve())  # the copy shares the shipped VAE
    (folder / "model_index.json").write_text(json.dumps(index))
    weights = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    res = runner.invoke(app, ["generate", "a red star", "--model", str(folder), "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and str(folder) in res.output and "copy or train it again" in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1 and len(res.output) < 400 + len(str(folder)) and not (tmp_path / "x.png").exists()
    (folder / "model_index.json").write_text("{not json")
    res = runner.invoke(app, ["generate", "a red star", "--model", str(folder), "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and str(folder) in res.output, res.output
