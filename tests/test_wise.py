"""WISE: the reader of a user's copy (here made-up records in WISE's format, none of its data), the
judge's answer parsing, WiScore and the weighted overall against hand-computed numbers, the resumable
judged run, and a tiny random vision-language judge."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from reasongen.cli import app
from reasongen.eval import wise

IDS = (1, 401, 568, 701, 801, 901)  # one prompt per legacy category


def fake_copy(folder: Path, suffix: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(wise.FILES):
        records = [{"Prompt": f"made-up prompt {i}", "Explanation": f"made-up note {i}", "Category": name, "Subcategory": "x",
                    "prompt_id": i} for i in IDS[2 * k: 2 * k + 2]]  # fmt: skip
        (folder / f"{name}{suffix}.json").write_text(json.dumps(records))
    return folder


def test_reader_reads_a_users_copy_and_says_where_to_get_one(tmp_path):
    records = wise.read_prompts(fake_copy(tmp_path / "v", "_verified"), "verified")
    assert [r["prompt_id"] for r in records] == sorted(IDS) and records[0]["explanation"] == "made-up note 1"
    assert wise.read_prompts(fake_copy(tmp_path / "l", ""), "legacy")[0]["prompt"] == "made-up prompt 1"
    with pytest.raises(ValueError, match="PKU-YuanGroup/WISE"):
        wise.read_prompts(tmp_path / "none")
    with pytest.raises(ValueError, match="cultural_common_sense_rewrite.json: missing"):
        wise.read_prompts(tmp_path / "l", "legacy", rewrite=True)


def test_parsing_the_judges_answers():
    assert wise.parse("**Consistency**: 2\nRealism: 1\nAesthetic Quality: 0", "legacy") == \
        {"consistency": 2.0, "realism": 1.0, "aesthetic_quality": 0.0}  # fmt: skip
    assert wise.parse("2\n1\n0\n", "legacy") == {"consistency": 2.0, "realism": 1.0, "aesthetic_quality": 0.0}
    assert wise.parse("Consistency: 2\nRealism: 1", "legacy") is None
    assert wise.parse("<think>Score: 0 maybe</think>\nScore: 1", "verified") == {"score": 1.0}
    assert wise.parse("0", "verified") == {"score": 0.0}
    assert wise.parse("I cannot tell", "verified") is None


def test_wiscore_and_the_weighted_overall_by_hand():
    assert wise.wiscore({"consistency": 2, "realism": 1, "aesthetic_quality": 0}, "legacy") == pytest.approx((1.4 + 0.2) / 2)
    full = {"consistency": 2, "realism": 2, "aesthetic_quality": 2}
    half = {"consistency": 1, "realism": 1, "aesthetic_quality": 1}
    zero = {"consistency": 0, "realism": 0, "aesthetic_quality": 0}
    rows = [{"id": i, "scores": s} for i, s in zip(IDS, (full, half, zero, zero, zero, zero))] + [{"id": 2, "scores": None}]
    summary = wise.summarize(rows, "legacy")
    assert summary["score"] == pytest.approx(0.4 * 1.0 + 0.167 * 0.5) and summary["n_unparsed"] == 1
    verified = [{"id": i, "scores": {"score": float(i in (1, 401))}} for i in (1, 401, 521, 641, 761, 881)]
    assert wise.summarize(verified, "verified")["score"] == pytest.approx(0.52)
    assert wise.summarize(verified[:5], "verified")["score"] is None  # chemistry has no image: no overall


def test_judged_run_resumes_without_asking_again(tmp_path):
    prompts = fake_copy(tmp_path / "v", "_verified")
    images = tmp_path / "images"
    images.mkdir()
    for i in IDS[:4]:
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(images / f"{i}.png")
    asked = []

    def chat(messages, image):
        asked.append(messages[0]["content"])
        return "Score: 1" if "made-up prompt 1\n" in messages[0]["content"] else "Score: 0"

    rows, summary = wise.evaluate_folder(images, prompts, chat, "verified", progress=False)
    assert len(asked) == 4 and summary["n_missing_images"] == 2
    assert summary["categories"] == {"culture": 1.0, "time": 0.0, "space": 0.0, "biology": 0.0}
    assert "made-up note 401" in asked[1]  # the explanation goes to the judge
    rows_again, _ = wise.evaluate_folder(images, prompts, chat, "verified", progress=False)
    assert len(asked) == 4 and rows_again == rows


def test_a_tiny_local_judge_runs_and_unparsed_answers_are_counted(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent / "helpers"))
    from tiny_llava import save_tiny_llava

    from reasongen.backbones.local import transformers_chat

    save_tiny_llava(tmp_path / "judge", ["Score", ":", "0", "1", "yes"])
    prompts, images = fake_copy(tmp_path / "v", "_verified"), tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(images / "1.png")
    rows, summary = wise.evaluate_folder(images, prompts, transformers_chat(tmp_path / "judge", max_new_tokens=4), progress=False)
    assert len(rows) == 1 and summary["n_images"] == 1 and isinstance(rows[0]["answer"], str)


def test_commands_refuse_bad_input_in_one_line(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["eval", "wise", str(tmp_path), "--prompts", str(tmp_path / "none"), "--judge-url", "http://127.0.0.1:9/v1",
                              "--judge-model", "m"])  # fmt: skip
    assert res.exit_code == 2 and "PKU-YuanGroup/WISE" in res.output
    prompts = fake_copy(tmp_path / "v", "_verified")
    res = runner.invoke(app, ["eval", "wise", str(tmp_path), "--prompts", str(prompts)])
    assert res.exit_code == 2 and "name one judge" in res.output
    res = runner.invoke(app, ["sample", "wise", "--prompts", str(prompts), "--method", "oracle", "--outdir", str(tmp_path / "o")])
    assert res.exit_code == 2 and "oracle draws ShapesWorld scenes only" in res.output and not (tmp_path / "o").exists()
