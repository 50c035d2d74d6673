"""The demo's runs without a browser (demo/runs.py): input limits, the page's word on methods without
a model, the oracle's run and the evaluator's verdict. tests/test_demo_browser.py drives the page."""

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from reasongen.cli import app
from reasongen.demo.runs import MAX_IMAGE_SIDE, Models, check_request, judge_image, read_condition_image
from reasongen.world.prompts import metadata_for_prompt
from reasongen.world.scene import scene_for


@pytest.mark.parametrize("prompt, seed, steps, guidance, says", [
    ("", 0, 2, 5.0, "the prompt is empty"),
    ("x" * 201, 0, 2, 5.0, "201 characters; keep it to 200"),
    ("a photo of a star", -1, 2, 5.0, "seed -1"),
    ("a photo of a star", 0, 0, 5.0, "steps 0: use a whole number from 1 to 100"),
    ("a photo of a star", 0, 2.5, 5.0, "steps 2.5"),
    ("a photo of a star", 0, 2, 21.0, "guidance 21.0: use a value from 0 to 20"),
])  # fmt: skip
def test_input_limits_are_one_line_each(prompt, seed, steps, guidance, says):
    with pytest.raises(ValueError, match=says):
        check_request("cof", prompt, seed, steps, guidance)


def test_methods_without_a_model_say_what_to_pass(tmp_path):
    models = Models()
    assert models.missing("oracle") is None and models.missing("wan") is None  # the oracle needs none; the base ships
    for method in ("cof", "fox"):
        assert f"--model {method}=DIR" in models.missing(method) and "reasongen train" in models.missing(method)
        with pytest.raises(ValueError, match="no shipped model"):
            models.run(method, "a photo of a star")
    assert "Model: none" in models.describe("cof")
    assert Models({"fox": str(tmp_path)}).missing("fox") is None  # the user's folder: its own errors come at loading
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        Models({"nope": str(tmp_path)})


def test_the_oracle_runs_and_passes_its_own_rule():
    result = Models().run("oracle", "a photo of a blue square and a yellow star", seed=3)
    assert result.image.shape == (64, 64, 3)
    assert result.verdict.correct is True and sorted(o[:2] for o in result.verdict.objects) == [("blue", "square"), ("yellow", "star")]
    assert "**pass**" in result.verdict.markdown()
    with pytest.raises(ValueError, match="the oracle draws only prompts of the world's forms"):
        Models().run("oracle", "a photo of a dog")


def test_the_verdict_says_why_it_fails_or_why_there_is_no_rule():
    image = scene_for(metadata_for_prompt("a photo of a red circle"), np.random.default_rng(0)).render(64)
    wrong = judge_image(image, "a photo of a green circle")
    assert wrong.correct is False and "expected green circle" in wrong.reason
    free = judge_image(image, "a happy red ball")
    assert free.correct is None and free.objects[0][:2] == ("red", "circle") and "no GenEval rule" in free.reason


def test_condition_images_outside_the_limits_are_refused(tmp_path):
    Image.new("RGB", (MAX_IMAGE_SIDE + 1, 4)).save(tmp_path / "wide.png")
    with pytest.raises(ValueError, match=f"{MAX_IMAGE_SIDE + 1}x4 px"):
        read_condition_image(tmp_path / "wide.png")
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(ValueError, match="notes.png is not an image"):
        read_condition_image(tmp_path / "notes.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "small.tiff")
    with pytest.raises(ValueError, match="a TIFF image; upload a PNG"):
        read_condition_image(tmp_path / "small.tiff")
    with pytest.raises(ValueError, match="reasondiff needs an image"):
        read_condition_image(None)


def test_the_command_refuses_bad_options_in_one_line():
    runner = CliRunner()
    res = runner.invoke(app, ["demo", "--model", "fox"])
    assert res.exit_code == 2 and "write METHOD=DIR" in res.output
    res = runner.invoke(app, ["demo", "--model", "mcot=/tmp"])
    assert res.exit_code == 2 and "now called 'fox'" in res.output
    res = runner.invoke(app, ["demo", "--port", "0"])
    assert res.exit_code == 2 and "--port 0" in res.output


def test_a_clip_passes_when_it_shows_the_planned_change_not_when_it_only_keeps_the_image():
    from reasongen.demo.runs import judge_clip
    from reasongen.methods.reasondiff.world_narrator import ShapesNarrator
    from reasongen.world.scene import Obj, Scene

    image = Scene((Obj("heart", "yellow", (0.1, 0.1, 0.3)),)).render(64)
    told = ShapesNarrator()("a heart moves down", image, 17)
    assert told.scenes and len(told.scenes) == 17
    planned = np.stack([s.render(64) for s in told.scenes])
    shown = judge_clip(planned, planned[told.anchor], told.anchor, told.scenes)
    assert shown.correct is True and "event consistency 1.00" in shown.reason
    still = np.stack([image] * 17)  # the image at the anchor and nowhere a move: the old verdict passed it
    held = judge_clip(still, image, told.anchor, told.scenes)
    assert held.correct is False and "image kept at the anchor frame 1.00" in held.reason
    assert judge_clip(still, image, 0, None).correct is None
