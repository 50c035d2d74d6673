"""T2I-CompBench: its readers, its layout, the official scoring arithmetic against hand-computed
numbers, the ShapesWorld analogue (the oracle scores at least 0.95 on every category) and the commands."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from reasongen.cli import app
from reasongen.eval import compbench as cb
from reasongen.methods.oracle import OracleGenerator
from reasongen.methods.sampling import FlatLayout, write_samples
from reasongen.world.benchmarks import build, shipped_path
from reasongen.world.compbench import CATEGORIES

runner = CliRunner()


# -- the official arithmetic, by hand ----------------------------------------------------------


def test_blip_score_is_the_product_of_rounded_answers_and_missing_questions_count_one():
    assert cb.blip_image_score([0.87654, 0.5, None]) == pytest.approx(0.8765 * 0.5)
    assert cb.blip_image_score([None] * 8) == 1.0


def test_position_rule_signs_axes_iou_penalty_and_near_distance():
    a, right_of_a = (0, 0, 100, 100), (300, 20, 400, 120)  # centres (50, 50) and (350, 70): dx 300, dy 20
    assert cb.position_score("on the left of", a, right_of_a) == 1.0
    assert cb.position_score("on the right of", a, right_of_a) == 0.0
    assert cb.position_score("on the top of", a, right_of_a) == 0.0  # dy > 0 but x dominates
    assert cb.position_score("near", a, right_of_a) == 1.0  # |dy| = 20 < 150
    assert cb.position_score("next to", a, (400, 400, 500, 500)) == pytest.approx(150 / 400)
    # IoU 4000 / 16000 = 0.25 >= 0.1: 0.1 / 0.25
    assert cb.position_score("on the left of", a, (60, 0, 160, 100)) == pytest.approx(0.4)
    assert cb.position_score("on the top of", a, (0, 300, 100, 400)) == 1.0
    assert cb.position_score("on the bottom of", (0, 300, 100, 400), a) == 1.0
    assert cb.position_score("on top of", a, (0, 300, 100, 400)) == 0.0  # listed, never scored (official quirk)


# depth[row, col] = 8 row + col on a 4 x 8 (wide) map, so a block's mean is 8 mean(rows) + mean(cols).
# The official rule slices rows by x and columns by y: box (x1, y1, x2, y2) reads depth[x1:x2, y1:y2].
DEPTH = np.arange(32, dtype=float).reshape(4, 8)


def test_box_depth_reads_the_map_with_the_official_swapped_axes():
    # box (0, 2, 3, 4): rows 0:3, cols 2:4 -> 8 * 1 + 2.5 = 10.5 (the natural rows 2:4, cols 0:3 would give 21)
    assert cb.box_depth(DEPTH, (0, 2, 3, 4)) == pytest.approx(10.5)
    assert cb.box_depth(DEPTH, (2.9, 0, 4.2, 4)) == pytest.approx(21.5)  # edges truncated: rows 2:4, cols 0:4
    assert cb.box_depth(DEPTH, (5, 0, 8, 2)) is None  # x past the map's 4 rows: an empty slice (official: NaN)


def test_depth_position_rule_order_iou_credit_and_the_axis_quirk():
    # IoU 6 / 8 = 0.75 > 0.5; depths rows 0:2 x cols 0:4 = 5.5 and rows 0:2 x cols 0:3 = 5.0: box a is nearer
    a, b = (0, 0, 2, 4), (0, 0, 2, 3)
    assert cb.depth_position_score("in front of", a, b, DEPTH) == 1.0
    assert cb.depth_position_score("behind", a, b, DEPTH) == 0.0
    assert cb.depth_position_score("behind", b, a, DEPTH) == 1.0
    assert cb.depth_position_score("hidden", b, a, DEPTH) == 1.0
    # c = (0, 2, 3, 4), d = (2, 0, 4, 4): intersection 1 x 2, union 6 + 8 - 2, IoU 1/6: partial credit (1/6) / 0.5.
    # Official slices: c 10.5, d rows 2:4 x cols 0:4 = 21.5, so c is behind d. Read the natural way (c: 21,
    # d: rows 0:4 x cols 2:4 = 14.5) c would be in front: the scores below exist only through the quirk.
    c, d = (0, 2, 3, 4), (2, 0, 4, 4)
    assert cb.depth_position_score("behind", c, d, DEPTH) == pytest.approx(1 / 3)
    assert cb.depth_position_score("in front of", c, d, DEPTH) == 0.0
    assert cb.depth_position_score("in front of", d, c, DEPTH) == pytest.approx(1 / 3)
    # no overlap: 0 though the order is right (depths 0 and 18)
    assert cb.depth_position_score("behind", (0, 0, 1, 1), (2, 2, 3, 3), DEPTH) == 0.0
    # IoU exactly 0.5 (2 / 4) fails both strict tests: 0 though a (4.5) is nearer than b (4.0)
    assert cb.depth_position_score("in front of", (0, 0, 2, 2), (0, 0, 2, 1), DEPTH) == 0.0
    # an empty slice (x past the map's height) and a relation outside the 3D words score 0
    assert cb.depth_position_score("behind", (5, 0, 8, 2), (5, 0, 8, 3), DEPTH) == 0.0
    assert cb.depth_position_score("on the left of", a, b, DEPTH) == 0.0
    assert cb.depth_position_score(None, a, b, DEPTH) == 0.0


def test_pick_pair_follows_the_official_substring_scan():
    assert cb.pick_pair(["car", "dog"], "car", "dog") == (0, 1)
    assert cb.pick_pair(["car", "car", "dog"], "car", "dog") == (1, 2)  # the second car, scanned before the dog, wins
    assert cb.pick_pair(["dog", "car", "car"], "car", "dog") == (1, 0)  # the scan stops at the first car
    assert cb.pick_pair(["carrot", "cat"], "car", "dog") == (0, None)  # substring match
    assert cb.pick_pair(["cat"], "car", "dog") == (None, None)
    assert cb.pick_pair(["dog", "dog"], "dog", "dog") == (0, 0)


def test_3d_spatial_image_score_has_no_half_cut():
    assert cb.spatial_image_score(0.9, 0.8, 1 / 3, cut=0.0) == pytest.approx(0.225 + 0.2 + 1 / 6)
    assert cb.spatial_image_score(0.9, None, 0.0, cut=0.0) == pytest.approx(0.225)  # 2D would cut it to 0
    assert cb.spatial_image_score(None, None, 0.0, cut=0.0) == 0.0


def test_spatial_image_score_weights_and_the_half_cut():
    assert cb.spatial_image_score(0.9, 0.8, 1.0) == pytest.approx(0.925)
    assert cb.spatial_image_score(0.9, 0.8, 0.4) == pytest.approx(0.625)
    assert cb.spatial_image_score(0.9, 0.8, 0.1) == 0.0  # 0.475 < 0.5
    assert cb.spatial_image_score(0.9, None, 0.0) == 0.0  # 0.225 < 0.5
    assert cb.spatial_image_score(None, None, 0.0) == 0.0


def test_numeracy_halves_merging_substrings_and_synonyms():
    assert cb.numeracy_image_score([("dog", 2), ("cat", 1)], ["dog", "dog", "cat", "cat"]) == pytest.approx(0.75)
    assert cb.numeracy_image_score([("dog", 1)], ["hot dog"]) == 1.0
    assert cb.numeracy_image_score([("man", 2)], ["person"]) == 0.5
    boxes = [(0, 0, 99, 99), (1, 1, 99, 99), (200, 0, 299, 99), (1, 1, 99, 99)]
    assert cb.merge_duplicates(["dog", "dog", "dog", "cat"], boxes) == ["dog", "dog", "cat"]


def test_three_in_one_averages_the_parts_the_prompt_has():
    assert cb.three_in_one(["attribute", "spatial"], 0.6, spatial=0.9) == pytest.approx(0.75)
    assert cb.three_in_one(["attribute", "action"], 0.6, action=0.3) == pytest.approx(0.45)
    assert cb.three_in_one(["attribute", "spatial", "action"], 0.6, 0.9, 0.3) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="spatial"):
        cb.three_in_one(["attribute", "spatial"], 0.6)


# -- readers and layout ------------------------------------------------------------------------


def test_official_prompt_files_read_with_their_categories_and_complex_parts():
    for category in cb.CATEGORIES:
        records = cb.read_prompts(category)
        assert len(records) == 300 and all(r["tag"] == category and r["prompt"] for r in records)
    parts = [tuple(r["parts"]) for r in cb.read_prompts("complex")]
    assert {p: parts.count(p) for p in set(parts)} == {("attribute", "spatial"): 58, ("attribute", "action"): 212,
                                                       ("attribute", "spatial", "action"): 30}  # fmt: skip
    with pytest.raises(ValueError, match="categories are"):
        cb.read_prompts("colour")


def test_shapes_analogue_is_seeded_distinct_and_shipped():
    records = build("shapes-compbench")
    assert shipped_path("shapes-compbench").read_text().splitlines() == [json.dumps(r) for r in records]
    for category in CATEGORIES:
        prompts = [r["prompt"] for r in cb.shapes_prompts(category)]
        assert len(prompts) == len(set(prompts)) == 100
    with pytest.raises(ValueError, match="no counterpart"):
        cb.shapes_prompts("texture")


def test_layout_names_images_as_the_official_scripts_and_resumes(tmp_path):
    records = cb.shapes_prompts("color")[:3]
    layout = FlatLayout("samples", cb.image_name)
    assert write_samples(records, OracleGenerator(), tmp_path, layout, n=2, progress=False) == 6
    found = cb.scan_folder(tmp_path)
    assert [q for _, _, q in found] == list(range(6)) and found[5][1] == records[2]["prompt"]
    assert found[0][0].name == f"{records[0]['prompt']}_000000.png"
    assert write_samples(records, OracleGenerator(), tmp_path, layout, n=2, progress=False) == 0
    with pytest.raises(ValueError, match="--n 2"):
        write_samples(records, OracleGenerator(), tmp_path, layout, n=3, progress=False)
    with pytest.raises(ValueError, match="other prompts"):
        write_samples(records[:2], OracleGenerator(), tmp_path, layout, n=2, progress=False)
    with pytest.raises(ValueError, match="'_'"):
        cb.image_name(0, {"prompt": "a_b"}, 0, 1)


# -- the ShapesWorld analogue ------------------------------------------------------------------


@pytest.mark.parametrize("category", CATEGORIES)
def test_oracle_scores_at_least_095_on_every_analogue_category(category):
    scorer, oracle = cb.ShapesCompBench(), OracleGenerator()
    records = cb.shapes_prompts(category)
    scores = [scorer(oracle(r, [i])[0], r) for i, r in enumerate(records)]
    assert np.mean(scores) >= 0.95, (category, np.mean(scores))


def test_analogue_scores_fall_when_the_image_breaks_the_prompt():
    scorer, oracle = cb.ShapesCompBench(), OracleGenerator()
    color = {"tag": "color", "prompt": "p", "include": [{"class": "circle", "count": 1, "color": "red"},
                                                         {"class": "star", "count": 1, "color": "blue"}]}  # fmt: skip
    swapped = {**color, "include": [{"class": "circle", "count": 1, "color": "blue"}, {"class": "star", "count": 1, "color": "red"}]}
    assert scorer(oracle(swapped, [0])[0], color) == 0.0
    spatial = {"tag": "spatial", "prompt": "p", "include": [{"class": "square", "count": 1},
                                                             {"class": "heart", "count": 1, "position": ["left of", 0]}]}  # fmt: skip
    mirrored = {**spatial, "include": [spatial["include"][0], {"class": "heart", "count": 1, "position": ["right of", 0]}]}
    assert scorer(oracle(mirrored, [0])[0], spatial) == 0.0
    numeracy = {"tag": "numeracy", "prompt": "p", "include": [{"class": "star", "count": 3}]}
    assert scorer(oracle({**numeracy, "include": [{"class": "star", "count": 2}]}, [0])[0], numeracy) == 0.5


# -- commands ----------------------------------------------------------------------------------


def test_sample_and_eval_compbench_commands_write_the_layout_and_the_score(tmp_path):
    out = tmp_path / "color"
    res = runner.invoke(app, ["sample", "compbench", "--category", "color", "--method", "oracle", "--outdir", str(out), "--limit", "12"])
    assert res.exit_code == 0, res.output
    assert len(list((out / "samples").glob("*.png"))) == 120  # 10 images per prompt, the official protocol
    res = runner.invoke(app, ["eval", "compbench", str(out), "--category", "color", "--out", str(tmp_path / "res.json"),
                              "--per-image", str(tmp_path / "rows.json")])  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "res.json").read_text())
    assert summary["score"] >= 0.95 and summary["n_images"] == 120 and set(summary["compositions"]) <= {"seen", "unseen"}
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert [r["question_id"] for r in rows] == list(range(120)) and {"answer", "prompt"} <= set(rows[0])
    res = runner.invoke(app, ["eval", "compbench", str(out), "--category", "spatial"])
    assert res.exit_code == 2 and "pass --category color" in res.output


@pytest.mark.parametrize("args, says", [
    (["sample", "compbench", "--category", "texture", "--method", "oracle", "--outdir", "X"], "no counterpart"),
    (["sample", "compbench", "--category", "color", "--method", "oracle", "--outdir", "X", "--benchmark", "t2i-compbench"], "oracle draws"),
    (["sample", "compbench", "--category", "color", "--method", "oracle", "--outdir", "X", "--benchmark", "dalle"], "--benchmark"),
    (["sample", "compbench", "--category", "color", "--method", "oracle", "--outdir", "X", "--no-cot"], "does not apply to method oracle"),
    (["sample", "compbench", "--category", "color", "--method", "oracle", "--outdir", "X", "--limit", "0"], "--limit 0: give at least 1"),
    (["eval", "compbench", "NOPE", "--category", "color"], "no samples/ folder"),
    (["eval", "compbench", "NOPE", "--category", "color", "--evaluator", "gpt"], "--evaluator"),
])  # fmt: skip
def test_bad_input_is_one_error_line_and_status_2(tmp_path, args, says):
    args = [str(tmp_path / a) if a in ("X", "NOPE") else a for a in args]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and says in res.output, res.output
    assert len([line for line in res.output.splitlines() if line.startswith("error:")]) == 1
    assert not (tmp_path / "X").exists()
