"""`reasongen eval diff` and `reasongen eval log` (eval/compare.py): two results pair by pair, runs' logs at marks."""

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reasongen.cli import app
from reasongen.methods.sampling import write_geneval_samples
from reasongen.world.prompts import metadata_for_prompt

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from geneval_folders import BlankGenerator, write_oracle_and_blank  # noqa: E402

runner = CliRunner()
PROMPTS = ["a photo of a red circle", "a photo of two squares", "a photo of a star left of a heart"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    write_oracle_and_blank(root, PROMPTS)
    write_geneval_samples([metadata_for_prompt(p) for p in PROMPTS], BlankGenerator(), root / "blank1", n=1, progress=False)
    return root


def test_diff_counts_fixed_and_broken_images_with_mcnemar(folders, tmp_path):
    res = runner.invoke(app, ["eval", "diff", str(folders / "oracle"), str(folders / "blank"), "--workers", "1",
                              "--out", str(tmp_path / "d.json")])  # fmt: skip
    assert res.exit_code == 0, res.output
    counts = json.loads(res.output.strip().splitlines()[-1])
    # all six oracle samples correct, none of the blank ones: six broken pairs, p = 2 / 2^6; three prompts worse
    assert {k: counts[k] for k in ("images", "correct_before", "correct_after", "changed", "fixed", "broken", "mcnemar_p",
                                   "prompts", "prompts_better", "prompts_worse")} == {
        "images": 6, "correct_before": 6, "correct_after": 0, "changed": 6, "fixed": 0, "broken": 6, "mcnemar_p": 0.0312,
        "prompts": 3, "prompts_better": 0, "prompts_worse": 3}  # fmt: skip
    assert counts["pixel_max_abs_diff_max"] > 0 and json.loads((tmp_path / "d.json").read_text()) == counts
    same = runner.invoke(app, ["eval", "diff", str(folders / "oracle"), str(folders / "oracle"), "--workers", "1"])
    counts = json.loads(same.output.strip().splitlines()[-1])
    assert (counts["changed"], counts["fixed"], counts["broken"], counts["mcnemar_p"], counts["pixel_max_abs_diff_max"]) == (0, 0, 0, 1.0, 0.0)


def test_diff_of_folders_holding_different_samples_needs_common(folders):
    res = runner.invoke(app, ["eval", "diff", str(folders / "oracle"), str(folders / "blank1"), "--workers", "1"])
    assert res.exit_code == 2 and "different samples (6 against 3 images)" in res.output and "--common" in res.output
    res = runner.invoke(app, ["eval", "diff", str(folders / "oracle"), str(folders / "blank1"), "--workers", "1", "--common"])
    assert res.exit_code == 0, res.output
    counts = json.loads(res.output.strip().splitlines()[-1])
    assert (counts["images"], counts["only_before"], counts["only_after"], counts["broken"]) == (3, 3, 0, 3)


def _video(path, scores):
    clips = [{"index": i, "event": "move", "text_consistency": t, "event_consistency": e, "image_at_anchor": 1.0,
              "image_best_frame": 1.0} for i, (t, e) in enumerate(scores)]  # fmt: skip
    path.write_text(json.dumps({"summary": {"benchmark": "shapes-video-unpaired", "clips": len(clips)}, "clips": clips}))
    return str(path)


def test_diff_of_video_results_gives_the_paired_mean_and_its_standard_error(tmp_path):
    a = _video(tmp_path / "a.json", [(0.6, 0.5), (0.8, None), (0.7, 0.3)])
    b = _video(tmp_path / "b.json", [(0.5, 0.5), (0.5, 0.2), (0.5, 0.1)])
    res = runner.invoke(app, ["eval", "diff", a, b])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0] == "a - b, 3 cases"
    # differences 0.1, 0.3, 0.2: mean 0.2, standard error 0.1 / sqrt(3)
    assert lines[1] == "  text_consistency: +0.200 ± 0.058 (0.700 ± 0.058 against 0.500 ± 0.000)"
    assert lines[2].startswith("  event_consistency: +0.100 ± 0.100 (") and lines[2].endswith(", 2 clips scored)")
    c = _video(tmp_path / "c.json", [(0.5, 0.5)])
    res = runner.invoke(app, ["eval", "diff", a, c])
    assert res.exit_code == 2 and "score different cases (3 and 1)" in res.output


def test_diff_refuses_mixed_or_missing_inputs(folders, tmp_path):
    a = _video(tmp_path / "a.json", [(0.6, 0.5)])
    res = runner.invoke(app, ["eval", "diff", str(folders / "oracle"), a])
    assert res.exit_code == 2 and "give two GenEval output folders or two results of `eval video --out`" in res.output
    res = runner.invoke(app, ["eval", "diff", str(tmp_path / "nope"), a])
    assert res.exit_code == 2 and "nope: no such file or folder" in res.output
    (tmp_path / "other.json").write_text("{}")
    res = runner.invoke(app, ["eval", "diff", a, str(tmp_path / "other.json")])
    assert res.exit_code == 2 and "not a result of `reasongen eval video --out`" in res.output


def test_log_table_means_the_last_window_up_to_each_mark(tmp_path):
    for name, scale in (("short", 1.0), ("long", 2.0)):
        (tmp_path / name).mkdir()
        steps = range(10, 110 if name == "short" else 210, 10)
        (tmp_path / name / "log.jsonl").write_text("".join(json.dumps({"step": s, "flow": scale * s / 100, "aux": 0.5}) + "\n" for s in steps))
    res = runner.invoke(app, ["eval", "log", str(tmp_path / "short"), str(tmp_path / "long"), "--keys", "flow,aux,missing",
                              "--marks", "50,200", "--window", "30"])  # fmt: skip
    assert res.exit_code == 0, res.output
    lines = [line for line in res.output.splitlines() if line.startswith("|")]
    assert lines[:2] == ["| run | step | flow | aux | missing |", "| --- | --- | --- | --- | --- |"]
    # steps 30, 40, 50 -> flow 0.4; the long run doubles it; step 200 is past the short run's end
    assert lines[2:] == ["| short | 50 | 0.400 | 0.500 |  |", "| long | 50 | 0.800 | 0.500 |  |", "| long | 200 | 3.800 | 0.500 |  |"]
    assert "step 200 is past the run's last record (100); row left out" in res.output
    res = runner.invoke(app, ["eval", "log", str(tmp_path / "short"), "--keys", "flow", "--marks", "5"])
    assert res.exit_code == 2 and "no records between steps -25 and 5" in res.output
    res = runner.invoke(app, ["eval", "log", str(tmp_path / "short"), "--keys", "flow", "--marks", "x"])
    assert res.exit_code == 2 and "--marks 'x': give steps" in res.output
    res = runner.invoke(app, ["eval", "log", str(tmp_path), "--keys", "flow", "--marks", "50"])
    assert res.exit_code == 2 and "no log.jsonl" in res.output
