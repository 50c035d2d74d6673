"""T2I-R1 end to end through the commands a user runs, on tiny random models: the VQ tokenizer, the
records, fine-tuning, BiCoT-GRPO, generation with its CoT, and GenEval sampling with and without CoT."""

import json
import shutil

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
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
    run("t2i-r1", "data", "--out", tmp_path / "data", "--vq", tmp_path / "vq" / "vq", "--n", 8)
    # the recipe in order: the plain Janus base (drawing and captioning), then T2I-R1's SFT from it
    run("train", "t2i-r1", "--data", tmp_path / "data", "--vq", tmp_path / "vq" / "vq", "--output-dir", tmp_path / "base",
        "--stage", "pretrain", "--preset", "tiny", "--steps", 2, "--batch-size", 4, "--object-weight", 4)  # fmt: skip
    base = tmp_path / "base" / "pipeline"
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"tag": "single_object", "prompt": "a photo of a star", "include": [{"class": "star", "count": 1}]}) + "\n")
    run("sample", "geneval", "--method", "janus", "--model", base, "--metadata", one, "--outdir", tmp_path / "janus", "--n", 1)
    assert Image.open(tmp_path / "janus" / "00000" / "samples" / "0000.png").size == (64, 64)
    run("train", "t2i-r1", "--data", tmp_path / "data", "--init-from", base, "--output-dir", tmp_path / "sft", "--steps", 2, "--batch-size", 4)
    sft = tmp_path / "sft" / "pipeline"
    assert json.loads((sft / "model_index.json").read_text())["_class_name"] == "T2IR1Pipeline"
    # a pipeline carries its tokenizer: records coded through it are those of the VQ folder, up to the
    # near-ties that the pipeline's fp16 copy of the weights flips (a random tiny VQ has many)
    run("t2i-r1", "data", "--out", tmp_path / "data2", "--vq", sft, "--n", 8)
    codes = [load_file(tmp_path / d / "codes.safetensors")["codes"] for d in ("data", "data2")]
    assert (codes[0] == codes[1]).float().mean() > 0.9, (codes[0] == codes[1]).float().mean()
    run("train", "t2i-r1", "--data", tmp_path / "data", "--output-dir", tmp_path / "grpo", "--stage", "grpo", "--init-from", sft,
        "--steps", 2, "--batch-size", 2, "--group-size", 2, "--lr", 1e-5, "--checkpoint-every", 1, "--keep-last", 0)  # fmt: skip
    logs = [json.loads(line) for line in (tmp_path / "grpo" / "log.jsonl").read_text().splitlines()]
    assert {"reward", "reward_detector", "reward_attribute", "kl"} <= set(logs[-1])
    # the recipe as a function: a GRPO run trains the language model and leaves the generation
    # head, embedding and aligner (frozen, as T2I-R1's) exactly as they were
    from reasongen.methods.t2i_r1.pipeline import T2IR1Pipeline
    from reasongen.methods.t2i_r1.train import T2IR1TrainConfig, train_t2i_r1

    after = train_t2i_r1(T2IR1TrainConfig(str(tmp_path / "data"), str(tmp_path / "grpo-fn"), stage="grpo", init_from=str(sft), steps=1,
                                          batch_size=2, group_size=2, lr=1e-2), progress=False).model  # fmt: skip
    before = T2IR1Pipeline.from_pretrained(sft).model
    for part in ("generation_head", "generation_embeddings", "generation_aligner"):
        for a, b in zip(getattr(before.model, part).parameters(), getattr(after.model, part).parameters()):
            assert torch.equal(a, b.to(a.dtype)), part
    assert all(p.requires_grad for p in after.model.language_model.parameters())  # what GRPO trains
    assert not any(p.requires_grad for p in after.model.generation_head.parameters())
    meta = tmp_path / "m.jsonl"
    meta.write_text(json.dumps({"tag": "single_object", "prompt": "a photo of a star", "include": [{"class": "star", "count": 1}]}) + "\n")
    text = run("t2i-r1", "curve", tmp_path / "grpo", "--init-from", sft, "--metadata", meta, "--out", tmp_path / "curve.png")
    assert "step 0 " in text and "step 1 " in text and "step 2 " in text
    assert Image.open(tmp_path / "curve.png").size[0] > 600
    scores = json.loads((tmp_path / "grpo" / "curve" / "scores.json").read_text())["scores"]
    assert sorted(scores) == ["0", "1", "2"] and all(0 <= s["overall"] <= 1 for s in scores.values())
    # a second run from the same start takes step 0 from the first instead of sampling it again
    shutil.copytree(tmp_path / "grpo", tmp_path / "grpo2", ignore=shutil.ignore_patterns("curve"))
    run("t2i-r1", "curve", tmp_path / "grpo", tmp_path / "grpo2", "--init-from", sft, "--metadata", meta, "--out", tmp_path / "curve2.png")
    assert not (tmp_path / "grpo2" / "curve" / "step-00000000").exists()
    scores2 = json.loads((tmp_path / "grpo2" / "curve" / "scores.json").read_text())["scores"]
    assert scores2 == scores
    res = runner.invoke(app, ["t2i-r1", "curve", str(tmp_path / "grpo"), "--init-from", str(sft), "--out", "x.png", "--label", "a", "--label", "b"])
    assert res.exit_code == 2 and "2 --label for 1 runs" in res.output
    grpo = ["train", "t2i-r1", "--data", str(tmp_path / "data"), "--output-dir", str(tmp_path / "g2"), "--stage", "grpo",
            "--init-from", str(sft), "--steps", "1"]  # fmt: skip
    for extra, says in ((["--rewards", "gdino"], "needs --expert-dir gdino=FOLDER"),
                        (["--rewards", "vqa", "--expert-dir", f"vqa={tmp_path / 'none'}"], "no VQA checkpoint"),
                        (["--expert-dir", "hps=x"], "NAME=FOLDER with NAME one of gdino, vqa, orm, clip")):  # fmt: skip
        res = runner.invoke(app, grpo + extra)
        assert res.exit_code == 2 and says in res.output, res.output

    out = tmp_path / "star.png"
    text = run("generate", "a photo of a star", "--method", "t2i-r1", "--model", tmp_path / "grpo" / "pipeline", "-o", out)
    assert "cot:" in text and Image.open(out).size == (64, 64)
    for flag in ("--cot", "--no-cot"):
        run("sample", "geneval", "--method", "t2i-r1", "--model", sft, "--metadata", meta, "--outdir", tmp_path / flag, "--n", 2, flag)
        assert Image.open(tmp_path / flag / "00000" / "samples" / "0001.png").size == (64, 64)


def test_bad_stage_and_missing_start(tmp_path):
    res = runner.invoke(app, ["train", "t2i-r1", "--data", str(tmp_path), "--output-dir", str(tmp_path / "x"), "--stage", "rl"])
    assert res.exit_code == 2 and "--stage" in res.output
