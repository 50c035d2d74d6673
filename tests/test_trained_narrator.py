"""ReasonDiff's trained narrator: the anchor loss, the training cases, and narratives laid out so
that the learned anchor shows the image's state."""

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from reasongen.backbones.image_text_cnn import ImageTextCNN
from reasongen.cli import app
from reasongen.methods.reasondiff.trained_narrator import AnchorCases, TrainedNarrator, anchor_loss, hits, shift_narratives
from reasongen.methods.reasondiff.world_narrator import ShapesNarrator
from reasongen.world.vocab import COLOR_NAMES


class FakeText:
    def __call__(self, prompts):
        g = torch.Generator().manual_seed(len(prompts))
        return torch.randn(len(prompts), 4, 384, generator=g)


def test_anchor_loss_sums_the_probability_of_every_right_frame():
    right = torch.zeros(2, 17)
    right[0, [3, 4]] = 1
    right[1, 0] = 1
    uniform = torch.zeros(2, 17)
    assert anchor_loss(uniform, right).item() == pytest.approx((math.log(17 / 2) + math.log(17)) / 2, rel=1e-5)
    sure = torch.full((2, 17), -50.0)
    sure[0, 4] = sure[1, 0] = 50.0
    assert anchor_loss(sure, right).item() < 1e-6
    assert hits(sure, right).tolist() == [1.0, 1.0] and hits(-sure, right).tolist() == [0.0, 0.0]


def test_cases_mark_every_right_anchor_and_mix_paired_ones():
    data = AnchorCases(num_frames=9, seed=3, paired_share=0.0)
    images, texts, right = data.batch(range(8))
    assert images.shape == (8, 3, 64, 64) and images.min() >= -1 and images.max() <= 1
    for i, row in enumerate(right):
        case = data.case(i)
        assert set(torch.nonzero(row)[:, 0].tolist()) == set(case.anchors) and row[case.anchor] == 1
        assert not any(c in texts[i].split() for c in COLOR_NAMES)  # unpaired: colours left out
    paired = AnchorCases(num_frames=9, seed=3, paired_share=1.0)
    _, texts, right = paired.batch(range(4))
    assert (right[:, 0] == 1).all() and all(any(c in t.split() for c in COLOR_NAMES) for t in texts)


def test_shift_narratives():
    assert shift_narratives(["a", "b", "c", "d"], 1) == ["a", "a", "b", "c"]
    assert shift_narratives(["a", "b", "c", "d"], -2) == ["c", "d", "d", "d"]
    assert shift_narratives(["a", "b"], 0) == ["a", "b"]


def test_the_learned_anchor_frame_tells_the_images_state():
    torch.manual_seed(0)
    narrator = TrainedNarrator(ImageTextCNN(width=16, outputs=17), FakeText())
    world = ShapesNarrator()
    data = AnchorCases(num_frames=17, seed=5, paired_share=0.0)
    for i in range(6):
        case = data.case(i)
        image = case.image()
        told, rule = narrator(case.text, image, 17), world(case.text, image, 17)
        assert len(told.narratives) == 17 and 0 <= told.anchor < 17
        assert told.narratives[told.anchor] == rule.narratives[rule.anchor]
    with pytest.raises(ValueError, match="17-frame clips, not 9"):
        narrator(case.text, image, 9)
    with pytest.raises(ValueError, match="64 x 64 px images, not 32 x 32"):
        narrator(case.text, image[::2, ::2], 17)


@pytest.mark.slow
def test_train_narrator_then_sample_the_benchmark_with_it(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["train", "narrator", "--output-dir", str(tmp_path / "run"), "--steps", "2", "--batch-size", "8", "--heldout", "20"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    report = json.loads((tmp_path / "run" / "narrator_report.json").read_text())
    assert report["heldout_unpaired_cases"] == 20 and 0 <= report["anchor_accuracy"] <= 1
    assert 0 < report["world_reasoner_anchor_accuracy"] <= 1
    res = runner.invoke(app, ["sample", "video", "--outdir", str(tmp_path / "clips"), "--model", "oracle", "--narrator", "trained",
                              "--trained-narrator", str(tmp_path / "run" / "narrator"), "--limit", "3"])  # fmt: skip
    assert res.exit_code == 0, res.output + repr(res.exception)
    rows = [json.loads(line) for line in (tmp_path / "clips" / "records.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(len(r["narratives"]) == 17 for r in rows)
    res = runner.invoke(app, ["sample", "video", "--outdir", str(tmp_path / "x"), "--model", "oracle", "--narrator", "trained",
                              "--trained-narrator", str(tmp_path), "--limit", "1"])  # fmt: skip
    assert res.exit_code != 0 and "no trained narrator at" in res.output
    res = runner.invoke(app, ["train", "narrator", "--output-dir", str(tmp_path / "bad"), "--frames", "10"])
    assert res.exit_code != 0 and "1 + 4k" in res.output
