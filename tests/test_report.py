"""`reasongen report` (eval/report.py), its figures, and the paired statistics it shares with `reasongen eval diff`."""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from reasongen.cli import app
from reasongen.eval.stats import mcnemar_p, paired_verdicts, sign_test

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from geneval_folders import write_oracle_and_blank  # noqa: E402

runner = CliRunner()
PROMPTS = ["a photo of a red circle", "a photo of two squares", "a photo of a star left of a heart"]


def test_mcnemar_and_the_paired_counts():
    assert mcnemar_p(0, 0) == 1.0 and mcnemar_p(5, 5) == 1.0
    assert mcnemar_p(0, 6) == pytest.approx(2 / 64)  # six discordant pairs, all one way
    before = {"00000/samples/0000.png": True, "00000/samples/0001.png": False, "00001/samples/0000.png": True}
    after = {"00000/samples/0000.png": True, "00000/samples/0001.png": True, "00001/samples/0000.png": False, "x": True}
    p = paired_verdicts(before, after)
    assert (p["images"], p["only_after"], p["fixed"], p["broken"], p["prompts_better"], p["prompts_worse"]) == (3, 1, 1, 1, 1, 1)
    assert sign_test([0.1, 0.5, 0.5], [0.2, 0.5, 0.4]) == {"pairs": 3, "higher": 1, "lower": 1, "sign_p": 1.0}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    write_oracle_and_blank(root, PROMPTS)
    for name in ("oracle", "blank"):
        res = runner.invoke(app, ["eval", "geneval", str(root / name), "--out", str(root / f"{name}.json"), "--workers", "1"])
        assert res.exit_code == 0, res.output
    clips = [{"index": i, "event": ev, "text_consistency": 0.5 + 0.1 * i, "event_consistency": None if i == 2 else 0.4,
              "image_at_anchor": 1.0, "image_best_frame": 1.0, "motion_smoothness": 0.9, "dynamic": 1,
              "palette_fidelity": 0.95, "anchor_correct": i % 2 == 0} for i, ev in enumerate(["move", "grow", "swap"])]  # fmt: skip
    for name, shift in (("video-a", 0.0), ("video-b", 0.2)):
        rows = [{**c, "text_consistency": c["text_consistency"] + shift} for c in clips]
        summary = {"benchmark": "shapes-video-unpaired", "model": name, "narrator": "world", "text_consistency": 0.6 + shift, "clips": 3}
        (root / f"{name}.json").write_text(json.dumps({"summary": summary, "clips": rows}))
    fox = {"model": "m", "records": 8, "reflection": {"flawed_images": 6, "mean_iou": 0.4, "iou_by_flaw": {"missing": 0.3}},
           "task_losses": {"plan": 1.2, "act": 0.3}, "plans": {"overall": 0.5, "tags": {"colors": 0.5}}}  # fmt: skip
    (root / "fox.json").write_text(json.dumps(fox))
    (root / "run").mkdir()
    (root / "run" / "log.jsonl").write_text("".join(json.dumps({"step": s, "lr": 1e-3, "loss": 1 / s, "reward": s / 10}) + "\n"
                                                    for s in range(10, 60, 10)))  # fmt: skip
    return root


def test_one_self_contained_page_with_tables_tests_curves_and_grids(results):
    out = results / "report.html"
    args = [str(results / f) for f in ("oracle.json", "blank.json", "video-a.json", "video-b.json", "fox.json", "run")]
    res = runner.invoke(app, ["report", *args, "-o", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    page = out.read_text()
    # nothing is fetched from elsewhere: every image is inline
    assert not re.search(r"""(src|href)=['"](?!data:)""", page)
    assert "<th>oracle</th><th>blank</th>" in page and "single_object" not in page  # only the tags the samples have
    for tag in ("colors", "counting", "position"):
        assert f"<td>{tag}</td>" in page
    # all six samples correct for the oracle, none for the blank: six broken pairs, McNemar p = 2 / 2^6
    assert re.search(r"<td>blank</td><td>all</td><td>6</td><td>6</td><td>0</td><td>0</td><td>6</td><td>0\.031</td>", page)
    assert page.count("class='pass'") == 6 and page.count("class='fail'") == 6  # the grid: 3 prompts x 2 samples each
    assert "Event consistency by event" in page and "<td>text_consistency</td><td>3</td><td>3</td><td>0</td>" in page
    assert "Task losses" in page and "Learning and reward curves" in page and page.count("data:image/png") == 13


def test_bad_results_are_refused_in_one_line(results, tmp_path):
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    res = runner.invoke(app, ["report", str(tmp_path / "other.json"), "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 2 and "not a result this report reads" in res.output
    res = runner.invoke(app, ["report", str(tmp_path / "missing.json"), "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 2 and "no such file" in res.output
    res = runner.invoke(app, ["report", str(results / "oracle.json"), "-o", str(tmp_path / "r.png")])
    assert res.exit_code == 2 and "written as .html" in res.output
    res = runner.invoke(app, ["report", str(results / "oracle.json"), "--labels", "a,b", "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 2 and "--labels names 2 results, 1 were given" in res.output


def _video_result(root, name, cases, shift=0.0):
    """An `eval video --out` result with its strips folder: the benchmark's own clips (shifted a little in colour)."""
    from reasongen.world.benchmarks import read_video_cases

    folder = root / name
    folder.mkdir()
    (folder / "info.json").write_text(json.dumps({"benchmark": "shapes-video-unpaired", "model": name, "narrator": "world"}))
    truth = read_video_cases("shapes-video-unpaired")
    for i in cases:
        strip = np.concatenate(list(truth[i].clip.render(32)), axis=1).astype(np.int16) + int(shift)
        Image.fromarray(strip.clip(0, 255).astype(np.uint8)).save(folder / f"{i:04d}.png")
    clips = [{"index": i, "event": truth[i].clip.event, "text_consistency": 0.5 + shift / 100, "event_consistency": 0.4} for i in cases]
    summary = {"benchmark": "shapes-video-unpaired", "model": name, "clips": len(cases), "folder": str(folder)}
    (root / f"{name}.json").write_text(json.dumps({"summary": summary, "clips": clips}))
    return root / f"{name}.json"


def test_figures_are_the_pages_sections_as_png(results, tmp_path):
    """`--figures DIR`: the sample grid (the prompts and samples asked for, framed by the verdict), the video
    strips under the benchmark's own clips, and the curves; GenEval folders are read as results directly."""
    a, b = _video_result(tmp_path, "va", [0, 3, 4]), _video_result(tmp_path, "vb", [0, 3, 4], shift=30)
    args = [str(results / "oracle"), str(results / "blank"), str(a), str(b), str(results / "run")]
    res = runner.invoke(app, ["report", *args, "-o", str(tmp_path / "r.html"), "--workers", "1", "--figures", str(tmp_path / "fig"),
                              "--show-prompts", "2,0", "--samples", "2", "--show-cases", "4,0", "--scale", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == ["clips.png", "curves.png", "samples.png"]
    page = (tmp_path / "r.html").read_text()
    # the folders were scored here: the same paired row as from their JSON; the grid shows prompts 2 then 0
    assert re.search(r"<td>blank</td><td>all</td><td>6</td><td>6</td><td>0</td><td>0</td><td>6</td><td>0\.031</td>", page)
    assert page.index("a photo of a star left of a heart") < page.index("a photo of a red circle") and "two squares</td>" not in page
    assert page.count("class='pass'") == 4 and page.count("class='fail'") == 4
    assert "<th>benchmark</th>" in page and page.count("alt='case 4") == 3 and "alt='case 3" not in page

    grid = np.asarray(Image.open(tmp_path / "fig" / "samples.png").convert("RGB"))
    colours = {tuple(c) for c in grid.reshape(-1, 3)}
    assert (46, 125, 50) in colours and (198, 40, 40) in colours  # the oracle's frames pass, the blank's fail
    tile = 64 + 6
    assert grid.shape[0] > 2 * tile and grid.shape[1] > 2 * (2 * tile + 2)  # 2 prompts; 2 results of 2 samples each
    # the first prompt row is prompt 2: its oracle tile is that prompt's first sample, inside its green frame
    ys, xs = np.nonzero(np.all(grid == (46, 125, 50), axis=-1))
    top, left = ys.min(), xs[ys == ys.min()].min()  # the first green frame's corner
    first = np.asarray(Image.open(results / "oracle" / "00002" / "samples" / "0000.png").convert("RGB"))
    assert np.array_equal(grid[top + 3 : top + 3 + 64, left + 3 : left + 3 + 64], first)

    clips = np.asarray(Image.open(tmp_path / "fig" / "clips.png").convert("RGB"))
    strip = np.asarray(Image.open(tmp_path / "va" / "0004.png").convert("RGB"))
    assert clips.shape[0] >= 2 * 3 * 32 and clips.shape[1] > strip.shape[1]  # 2 cases x (benchmark, va, vb)
    found = [(y, x) for y in range(clips.shape[0] - 31) for x in range(clips.shape[1] - strip.shape[1] + 1)
             if np.array_equal(clips[y, x : x + 32], strip[0, :32]) and np.array_equal(clips[y : y + 32, x : x + strip.shape[1]], strip)]  # fmt: skip
    assert len(found) == 2  # case 4 as the benchmark draws it, and va's strip (which is that clip)
    curves = Image.open(tmp_path / "fig" / "curves.png")
    assert curves.width > 2 * curves.height  # two panels: loss and reward


def test_figure_options_are_checked(results, tmp_path):
    base = ["report", str(results / "oracle.json"), "-o", str(tmp_path / "r.html"), "--workers", "1"]
    res = runner.invoke(app, [*base, "--show-prompts", "0,7"])
    assert res.exit_code == 2 and "prompt 7:" in res.output and "holds prompts 0 to 2" in res.output
    res = runner.invoke(app, [*base, "--show-prompts", "a,1"])
    assert res.exit_code == 2 and "--show-prompts 'a,1': give prompt indices" in res.output
    res = runner.invoke(app, [*base, "--scale", "0"])
    assert res.exit_code == 2 and "--scale 0" in res.output
    res = runner.invoke(app, [*base, "--samples", "0"])
    assert res.exit_code == 2 and "--samples 0" in res.output
    assert not (tmp_path / "r.html").exists()
