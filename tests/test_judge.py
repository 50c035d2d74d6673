import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from reasongen.cli import app
from reasongen.eval.run import score_image
from reasongen.rewards.judge import JudgeModel, JudgePairs, JudgeReward
from reasongen.world.dataset import draw_record
from reasongen.eval.shapes_detector import ShapesDetector
from reasongen.world.vocab import ALL_TAGS


def test_pairs_are_labelled_by_whether_the_image_passes_its_prompt():
    pairs, detector = JudgePairs(seed=3), ShapesDetector()
    for i in range(40):
        image, prompt, label = pairs.pair(i)
        meta, _ = draw_record(3, i, ALL_TAGS, "in_distribution")
        assert prompt == meta["prompt"] and label == float(i % 2 == 0)
        assert score_image(detector, image, meta)["correct"] == bool(label), (i, prompt)


class FakeText:
    dim = 384

    def __call__(self, prompts):
        g = torch.Generator().manual_seed(0)
        return torch.randn(len(prompts), 4, 384, generator=g)


def test_judge_scores_are_probabilities_and_survive_save_load(tmp_path):
    torch.manual_seed(0)
    model = JudgeModel(width=16)
    images = [JudgePairs().pair(i)[0] for i in range(3)]
    reward = JudgeReward(model, FakeText())
    scores = reward(images, ["a", "b", "c"])
    assert len(scores) == 3 and all(0 <= s <= 1 for s in scores)
    model.save_pretrained(tmp_path)
    again = JudgeReward(JudgeModel.from_pretrained(tmp_path, local_files_only=True, use_safetensors=True), FakeText())
    np.testing.assert_allclose(again(images, ["a", "b", "c"]), scores, rtol=1e-5)


@pytest.mark.slow
def test_train_judge_command_reports_heldout_accuracy(tmp_path):
    res = CliRunner().invoke(app, ["train", "judge", "--output-dir", str(tmp_path), "--steps", "2", "--batch-size", "8"])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "judge_report.json").read_text())
    assert report["heldout_pairs"] == 2000 and 0 <= report["heldout_accuracy"] <= 1
    assert (tmp_path / "judge" / "config.json").is_file()
