"""The understanding measure: exact captions and answers score 1, wrong ones less, and both model
kinds read images through the commands a user runs."""

import json

import pytest
import torch
from typer.testing import CliRunner

from reasongen.cli import app
from reasongen.eval.understanding import caption_f1, understanding_cases, understanding_report


def test_the_truth_scores_one_and_a_wrong_object_less():
    cases = understanding_cases(12)
    perfect = understanding_report(cases, lambda images: [c["caption"] for c in cases[: len(images)]],
                                   lambda images, qs: [c["answer"] for c in cases[: len(images)]], batch_size=12)  # fmt: skip
    assert perfect["caption_exact"] == 1 and perfect["caption_object_f1"] == 1 and perfect["vqa_accuracy"] == 1
    assert set(perfect["vqa_by_kind"]) <= {"count", "colour", "exists", "where"}
    true = "a small red circle at the top left and a large blue star at the centre"
    assert caption_f1("a small red circle at the top left", true) == pytest.approx(2 / 3)  # precision 1, recall 1/2
    assert caption_f1("a small red circle at the top left, a large blue star at the centre", true) == 1.0
    assert caption_f1("nothing", true) == 0.0
    wrong = understanding_report(cases, lambda images: ["nothing"] * len(images), None, batch_size=5)
    assert wrong["caption_object_f1"] == 0 and "vqa_accuracy" not in wrong


@pytest.mark.slow
def test_janus_and_fox_pipelines_are_read(tmp_path):
    from reasongen.backbones.foxperts import build_foxperts
    from reasongen.backbones.janus import build_janus
    from reasongen.backbones.text import shapes_tokenizer
    from reasongen.backbones.wan import build_vae
    from reasongen.methods.fox.pipeline import FoXPipeline
    from reasongen.methods.t2i_r1.pipeline import T2IR1Pipeline

    torch.manual_seed(0)
    tok = shapes_tokenizer()
    T2IR1Pipeline(build_janus("tiny", tok), tok).save_pretrained(tmp_path / "janus")
    FoXPipeline(build_foxperts("tiny", vocab_size=len(tok)), build_vae("tiny"), tok, max_caption_tokens=6).save_pretrained(tmp_path / "fox")
    runner = CliRunner()
    for name, has_vqa in (("janus", False), ("fox", True)):
        res = runner.invoke(app, ["eval", "understanding", str(tmp_path / name), "--n", "4", "--out", str(tmp_path / f"{name}.json")])
        assert res.exit_code == 0, res.output
        report = json.loads((tmp_path / f"{name}.json").read_text())
        assert report["scenes"] == 4 and 0 <= report["caption_object_f1"] <= 1 and ("vqa_accuracy" in report) == has_vqa
    res = runner.invoke(app, ["eval", "understanding", str(tmp_path)])
    assert res.exit_code == 2 and "no model_index.json" in res.output
