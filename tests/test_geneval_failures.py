"""Why images fail GenEval's rules (eval/failures.py, `reasongen eval failures`), on hand-built detections."""

import json

import pytest
from typer.testing import CliRunner

from reasongen.cli import app
from reasongen.eval.failures import failure_breakdown, read_rows
from reasongen.eval.geneval import Detection, evaluate, filter_detections, reason_kind


def det(cls, color="red", x=0):
    d = Detection(cls, (x, 0, x + 10, 10), 0.95)
    d.color = color
    return d


def row(meta, dets):
    """A per-image row as `eval geneval --per-image` writes it (eval/run.py's score_image)."""
    detected = filter_detections(dets, 0.3)
    correct, reason = evaluate(detected, meta, lambda found, cls: [d.color for d in found])
    details = {cls: [[*d.box, d.score] for d in found] for cls, found in detected.items()}
    return {"tag": meta["tag"], "correct": correct, "reason": reason, "metadata": json.dumps(meta), "details": json.dumps(details)}


SINGLE = lambda cls: {"tag": "single_object", "include": [{"class": cls, "count": 1}]}  # noqa: E731
COLOUR = {"tag": "colors", "include": [{"class": "traffic light", "count": 1, "color": "green"}]}
COUNT = {"tag": "counting", "include": [{"class": "star", "count": 2}], "exclude": [{"class": "star", "count": 3}]}
POSITION = {"tag": "position", "include": [{"class": "square", "count": 1}, {"class": "circle", "count": 1, "position": ["right of", 0]}]}


def test_every_reason_evaluate_gives_has_its_kind():
    kinds = lambda r: [reason_kind(line) for line in r["reason"].splitlines()]  # noqa: E731
    assert kinds(row(SINGLE("cross"), [])) == ["too few of an asked class"]
    assert kinds(row(COLOUR, [det("traffic light", "red")])) == ["wrong colour"]  # a class name with a space
    assert kinds(row(COUNT, [det("star")] * 3)) == ["too many (exclude clause)"]
    assert kinds(row(POSITION, [det("circle", x=0), det("square", x=200)])) == ["wrong position"]
    assert kinds(row(POSITION, [det("circle")])) == ["too few of an asked class", "wrong position"]  # no target
    with pytest.raises(ValueError, match="not a reason"):
        reason_kind("the image is too dark")


def test_breakdown_counts_clauses_missing_classes_and_extra_shapes():
    rows = [
        row(SINGLE("cross"), []),  # no cross at all
        row(SINGLE("cross"), [det("cross"), det("star", x=50)]),  # right, with an extra shape
        row(SINGLE("star"), [det("star")]),
        row(COLOUR, [det("traffic light", "red")]),
        row(COUNT, [det("star")]),  # one of two stars: too few, but not none
        row(POSITION, [det("circle")]),  # the square is missing, so the position has no target
    ]
    b = failure_breakdown(rows)
    assert (b["n_images"], b["n_failed"]) == (6, 4)
    assert b["failed_by_clause"] == {"too few of an asked class": 3, "wrong colour": 1, "wrong position": 1, "too many (exclude clause)": 0}
    assert b["none_of_an_asked_class"] == 2 and b["missing_class"] == {"cross": 1, "square": 1}
    assert b["single_object_by_class"] == {"cross": [1, 2], "star": [1, 1]}
    assert b["single_object_extra_shapes"] == [1, 3]


def test_cli_reads_rows_or_scores_a_folder(tmp_path):
    runner = CliRunner()
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in [row(SINGLE("cross"), []), row(SINGLE("star"), [det("star")])]))
    res = runner.invoke(app, ["eval", "failures", str(rows), "--out", str(tmp_path / "f.json")])
    assert res.exit_code == 0, res.output
    assert "1 of 2 images failed" in res.output and "cross 0.00, star 1.00" in res.output
    assert json.loads((tmp_path / "f.json").read_text())["missing_class"] == {"cross": 1}
    assert read_rows(rows)[1]["correct"] is True

    meta = tmp_path / "m.jsonl"
    meta.write_text(json.dumps({"tag": "single_object", "prompt": "a photo of a heart", "include": [{"class": "heart", "count": 1}]}) + "\n")
    assert runner.invoke(app, ["world", "render", str(meta), "--outdir", str(tmp_path / "gt"), "--n", "2"]).exit_code == 0
    res = runner.invoke(app, ["eval", "failures", str(tmp_path / "gt"), "--workers", "1"])
    assert res.exit_code == 0 and "0 of 2 images failed" in res.output and "heart 1.00" in res.output


def test_cli_refuses_what_is_not_per_image_rows(tmp_path):
    runner = CliRunner()
    (tmp_path / "half.jsonl").write_text(json.dumps({"tag": "colors", "correct": False}) + "\n")
    (tmp_path / "text.jsonl").write_text("scores: 0.4\n")
    for path, message in ((tmp_path / "none.jsonl", "no such file or folder"), (tmp_path / "half.jsonl", "needs reason, metadata, details"),
                          (tmp_path / "text.jsonl", "not a JSON line")):  # fmt: skip
        res = runner.invoke(app, ["eval", "failures", str(path)])
        assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
        assert len(res.output.strip().splitlines()) == 1
