"""Imagine-Bench: the shipped prompts, the judge's answer parsing (clipped, -1 when missing), the
per-image score and the weighted overall against hand-computed numbers, and the judged run."""

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from reasongen.cli import app
from reasongen.eval import imagine


def test_shipped_prompts_and_their_types():
    records = imagine.read_prompts()
    types = [r["type"] for r in records]
    assert len(records) == 270 and records[0]["prompt"] == records[0]["instruction"]
    assert {t: types.count(t) for t in set(types)} == {"COLOR": 30, "SHAPE": 30, "SIZE": 30, "MATERIAL": 30, "COMBINATION": 30,
                                                       "TIME": 30, "ENVIRONMENT": 30, "Multi-Object": 60}  # fmt: skip


def test_parsing_and_the_image_score_by_hand():
    scores = imagine.parse("Fantasy Fulfillment: 12\nIdentity Preservation: 7\n**Aesthetic Quality**: 5")
    # "**Aesthetic Quality**: 5" has the asterisks between name and colon: the official pattern misses it (-1)
    assert scores == {"Fantasy Fulfillment": 10.0, "Identity Preservation": 7.0, "Aesthetic Quality": -1.0}
    assert imagine.image_score(imagine.parse("Fantasy Fulfillment: 12\nIdentity Preservation: 7\nAesthetic Quality: 5")) == 6.6
    assert imagine.image_score(imagine.parse("Fantasy Fulfillment: 8")) == pytest.approx(-1.0)  # 0.8 * -1 + 0.2 * -1
    assert imagine.image_score(None) == 0.0


def test_overall_weights_groups_and_leaves_multi_object_out():
    records = [{"id": 1, "type": "COLOR"}, {"id": 2, "type": "SIZE"}, {"id": 3, "type": "MATERIAL"}, {"id": 4, "type": "TIME"},
               {"id": 5, "type": "Multi-Object"}]  # fmt: skip

    def s(ff, ip, aq):
        return {"Fantasy Fulfillment": ff, "Identity Preservation": ip, "Aesthetic Quality": aq}

    rows = [{"id": 1, "scores": s(10, 10, 10)}, {"id": 2, "scores": s(5, 10, 0)}, {"id": 3, "scores": s(5, 5, 5)},
            {"id": 4, "scores": None}, {"id": 5, "scores": s(10, 10, 10)}]  # fmt: skip
    summary = imagine.summarize(rows, records)
    # Attribute shift (10 + 4) / 2 = 7, Hybridization 5, Spatiotemporal 0, Multi-Object 10 (not weighted)
    assert summary["groups"] == {"Attribute shift": 7.0, "Hybridization": 5.0, "Spatiotemporal": 0.0, "Multi-Object": 10.0}
    assert summary["score"] == pytest.approx((3 * 7 + 2 * 5 + 2 * 0) / 7)


def test_judged_run_over_a_folder(tmp_path):
    for i in (1, 31, 241):
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / f"{i}.{'png' if i != 31 else 'jpg'}")
    asked = []

    def chat(messages, image):
        asked.append(messages)
        return "Fantasy Fulfillment: 6\nIdentity Preservation: 8\nAesthetic Quality: 9"

    rows, summary = imagine.evaluate_folder(tmp_path, chat, progress=False)
    assert len(rows) == 3 and summary["n_missing_images"] == 267 and "deep ocean blue fur" in asked[0][0]["content"]
    assert summary["score"] == pytest.approx(0.8 * 6 + 0.2 * 9)
    imagine.evaluate_folder(tmp_path, chat, progress=False)
    assert len(asked) == 3  # resumed from the scores file


def test_commands_refuse_bad_input_in_one_line(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["eval", "imagine", str(tmp_path)])
    assert res.exit_code == 2 and "name one judge" in res.output
    res = runner.invoke(app, ["eval", "imagine", str(tmp_path / "none"), "--judge-url", "http://127.0.0.1:9/v1", "--judge-model", "m"])
    assert res.exit_code == 2 and "not a folder" in res.output
    res = runner.invoke(app, ["sample", "imagine", "--method", "oracle", "--outdir", str(tmp_path / "o")])
    assert res.exit_code == 2 and "oracle draws ShapesWorld scenes only" in res.output
