import json

from PIL import Image
from typer.testing import CliRunner

from reasongen.cli import app

runner = CliRunner()


def test_render_then_eval_writes_genevals_layout_and_json(tmp_path):
    meta = tmp_path / "m.jsonl"
    meta.write_text(
        json.dumps({"tag": "colors", "prompt": "a photo of a red star", "include": [{"class": "star", "count": 1, "color": "red"}]})
        + "\n"
        + json.dumps({"tag": "counting", "prompt": "a photo of three circles", "include": [{"class": "circle", "count": 3}],
                      "exclude": [{"class": "circle", "count": 4}]})  # fmt: skip
        + "\n"
    )
    res = runner.invoke(app, ["world", "render", str(meta), "--outdir", str(tmp_path / "gt"), "--n", "3", "--size", "128"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "gt" / "00001" / "metadata.jsonl").read_text())["prompt"] == "a photo of three circles"
    assert Image.open(tmp_path / "gt" / "00000" / "samples" / "0002.png").size == (128, 128)
    res = runner.invoke(app, ["eval", "geneval", str(tmp_path / "gt"), "--out", str(tmp_path / "r.json"),
                              "--per-image", str(tmp_path / "rows.jsonl"), "--workers", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "colors" in res.output and "counting" in res.output and "overall" in res.output
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["overall"] == 1.0 and set(summary["tags"]) == {"colors", "counting"}
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and {"filename", "tag", "prompt", "correct", "reason", "metadata", "details"} <= set(rows[0])


def test_world_sample_writes_an_image_folder_and_resumes(tmp_path):
    out = tmp_path / "ds"
    res = runner.invoke(app, ["world", "sample", "--outdir", str(out), "--n", "12", "--seed", "3"])
    assert res.exit_code == 0, res.output
    lines = (out / "metadata.jsonl").read_text().splitlines()
    assert len(lines) == 12
    rec = json.loads(lines[5])
    assert (out / rec["file_name"]).is_file() and rec["scene"] and "tag" in rec and "include" in rec
    # kill mid-run: drop the last lines (one half-written) and resume
    (out / "metadata.jsonl").write_text("\n".join(lines[:7]) + "\n" + lines[7][:20])
    res = runner.invoke(app, ["world", "sample", "--outdir", str(out), "--n", "12", "--seed", "3"])
    assert res.exit_code == 0 and "(5 new)" in res.output
    assert (out / "metadata.jsonl").read_text().splitlines() == lines
    res = runner.invoke(app, ["world", "sample", "--outdir", str(out), "--n", "12", "--seed", "4"])
    assert res.exit_code == 2 and "choose another folder" in res.output


def test_world_sample_reason_split_and_bad_tag(tmp_path):
    res = runner.invoke(app, ["world", "sample", "--outdir", str(tmp_path / "r"), "--n", "20", "--tags", "reason", "--split", "held_out"])
    assert res.exit_code == 0, res.output
    recs = [json.loads(line) for line in (tmp_path / "r" / "metadata.jsonl").read_text().splitlines()]
    assert all(r["tag"] == "reason" and r["split"] == "held_out" for r in recs)
    res = runner.invoke(app, ["world", "sample", "--outdir", str(tmp_path / "x"), "--n", "2", "--tags", "colours"])
    assert res.exit_code == 2 and "unknown tags ['colours']" in res.output


def test_sample_errors_are_clear(tmp_path):
    res = runner.invoke(app, ["sample", "geneval", "--method", "dalle", "--metadata", "shapes-geneval", "--outdir", str(tmp_path)])
    assert res.exit_code == 2 and "unknown method 'dalle'" in res.output
    res = runner.invoke(app, ["sample", "geneval", "--method", "oracle", "--metadata", str(tmp_path / "no.jsonl"), "--outdir", str(tmp_path)])
    assert res.exit_code == 2 and "not found" in res.output
    res = runner.invoke(app, ["eval", "geneval", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "not a folder" in res.output


def test_world_benchmarks_regenerates_identical_files(tmp_path):
    from reasongen.world.benchmarks import shipped_path

    res = runner.invoke(app, ["world", "benchmarks", "--outdir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    for name in ("shapes-geneval", "shapes-reason", "shapes-video-unpaired", "shapes-video-paired"):
        assert (tmp_path / f"{name}.jsonl").read_text() == shipped_path(name).read_text()
