"""The learned ShapesWorld detector (rewards/learned_detector.py): targets from a scene's own ground
truth, decoding them back, training steps, save and load, the rewards over it, its commands, and the
reward experts' agreement with the evaluator (`reasongen eval rewards`)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from reasongen.cli import app
from reasongen.eval.run import score_image
from reasongen.rewards.agreement import roc_auc
from reasongen.rewards.learned_detector import (STRIDE, CenterNetDetector, DetectorScenes, DetectorTask, LearnedDetector,
                                                decode, load_detector, match_scene, scene_targets, warp)  # fmt: skip
from reasongen.rewards.shapes import AttributeReward, DetectorReward
from reasongen.world.vocab import CLASSES, COLOR_NAMES

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from geneval_folders import write_oracle_and_blank  # noqa: E402

runner = CliRunner()


def centre_cell(obj, size=64):
    x1, y1, x2, y2 = (v * size / STRIDE for v in obj.bbox)
    return int((y1 + y2) / 2), int((x1 + x2) / 2)


def test_the_warp_bends_outlines_but_keeps_each_object_where_its_label_says():
    from reasongen.world.vocab import COLORS

    data = DetectorScenes(seed=5, degrade_share=0.0)
    for i in range(10):
        image, scene = data.sample(i)
        bent = warp(image.astype(np.float32), np.random.default_rng(i))
        assert np.abs(bent - image).max() > 50  # outlines moved
        for obj in scene.objects:  # the pixels of the object's colour stay centred within the warp's reach
            if sum(o.color == obj.color for o in scene.objects) > 1:
                continue
            colour = np.array(COLORS[obj.color], np.float32)
            before = np.argwhere(np.abs(image - colour).max(-1) < 1).mean(0)
            after = np.argwhere(np.abs(bent - colour).max(-1) < 30).mean(0)
            assert np.abs(after - before).max() < 4


def test_targets_put_a_peak_of_one_at_each_objects_centre_cell_in_its_class_channel():
    data = DetectorScenes(seed=3)
    for i in range(20):
        _, scene = data.sample(i)
        t = scene_targets(scene)
        for obj in scene.objects:
            row, col = centre_cell(obj)
            assert t["heatmap"][CLASSES.index(obj.cls), row, col] == 1.0
            assert t["color"][row, col] == COLOR_NAMES.index(obj.color) and t["centre"][row, col]
        assert (t["heatmap"] == 1.0).sum() == t["centre"].sum() == len(scene.objects)
        assert t["heatmap"].max() <= 1.0 and (t["color"] >= 0).sum() == len(scene.objects)


def exact_outputs(scene):
    """The model outputs that decode to the targets themselves: heatmap probabilities, one-hot colours."""
    t = scene_targets(scene)
    colours = np.zeros((len(COLOR_NAMES),) + t["color"].shape, np.float32)
    rows, cols = np.nonzero(t["centre"])
    colours[t["color"][rows, cols], rows, cols] = 1.0
    return [torch.from_numpy(a)[None] for a in (t["heatmap"], t["offset"], t["size"], colours)]


def test_decoding_the_exact_targets_gives_the_scenes_objects():
    data = DetectorScenes(seed=4)
    for i in range(30):
        _, scene = data.sample(i)
        found = decode(*exact_outputs(scene), CLASSES, COLOR_NAMES, 64, min_score=0.3)[0]
        assert len(found) == len(scene.objects)
        for obj in scene.objects:
            truth = [v * 64 for v in obj.bbox]
            (d,) = [d for d in found if d.cls == obj.cls and np.abs(np.subtract(d.box, truth)).max() < 1.0]
            assert d.color == obj.color and d.score == 1.0
        assert match_scene(found, scene, 64, min_iou=0.9)["found"] == len(scene.objects)


def test_a_few_training_steps_lower_the_loss_and_save_load_keeps_the_outputs(tmp_path):
    torch.manual_seed(0)
    model, task = CenterNetDetector(width=8), DetectorTask()
    batch = DetectorScenes(seed=0).batch(list(range(8)))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        loss, logs = task.loss(model, batch, None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert set(logs) == {"heatmap", "offset", "size", "color"}
    assert losses[-1] < 0.7 * losses[0], losses
    model.save_pretrained(tmp_path / "detector", safe_serialization=True)
    images = [DetectorScenes(seed=9).sample(i)[0] for i in range(3)]
    loaded = load_detector(tmp_path / "detector")
    before, after = LearnedDetector(model).detect_batch(images), loaded.detect_batch(images)

    def described(found):
        return [[(d.cls, d.box, d.color) for d in ds] for ds in found]

    assert described(before) == described(after)
    np.testing.assert_allclose([d.score for ds in after for d in ds], [d.score for ds in before for d in ds], rtol=1e-5)
    star = {"tag": "single_object", "prompt": "a photo of a star", "include": [{"class": "star", "count": 1}]}
    assert score_image(loaded, images[0], star)["tag"] == "single_object"  # GenEval's rules run on it
    with pytest.raises(ValueError, match="64 px"):
        LearnedDetector(model).detect(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="reasongen train detector"):
        load_detector(tmp_path / "none")


class ExactDetector(LearnedDetector):
    """The learned detector's decoding over outputs that are a scene's exact targets; `swap` renames a colour."""

    def __init__(self, scenes, swap=None):
        self.scenes, self.swap = scenes, swap or {}
        self.classes, self.colors, self.size, self.min_score = CLASSES, COLOR_NAMES, 64, 0.01

    def detect_batch(self, images):
        found = [decode(*exact_outputs(self.scenes[im.tobytes()]), CLASSES, COLOR_NAMES, 64)[0] for im in images]
        for d in (d for ds in found for d in ds):
            d.color = self.swap.get(d.color, d.color)
        return found


def test_the_rewards_take_the_learned_detectors_instances_and_colours():
    from reasongen.world.prompts import geneval_metadata
    from reasongen.world.scene import scene_for

    rng = np.random.default_rng(0)
    records = []
    for tag in ("two_object", "counting", "position", "colors", "color_attr"):
        meta = geneval_metadata(tag, rng)
        records.append((meta, scene_for(meta, rng)))
    images = [scene.render(64) for _, scene in records]
    metadata = [meta for meta, _ in records]
    exact = ExactDetector({image.tobytes(): scene for image, (_, scene) in zip(images, records)})
    assert DetectorReward(exact)(images, [""] * 5, metadata) == pytest.approx([1.0, 1.0, 0.9, 1.0, 1.0])
    assert AttributeReward(exact)(images, [""] * 5, metadata) == pytest.approx([1.0, 0.0, 0.0, 1.0, 1.0])
    # the colour is the detector's own, not read from the pixels: renamed colours fail the colour questions
    asked = metadata[3]["include"][0]["color"]
    wrong = ExactDetector(exact.scenes, swap={asked: next(c for c in COLOR_NAMES if c != asked)})
    assert AttributeReward(wrong).score(images[3], metadata[3]) == 0.0


def test_train_detector_command_writes_the_model_and_its_report(tmp_path):
    res = runner.invoke(app, ["train", "detector", "--output-dir", str(tmp_path), "--steps", "2", "--batch-size", "4",
                              "--heldout", "4"])  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "detector_report.json").read_text())
    assert report["heldout_images"] == 4 and 0 <= report["clean"]["recall"] <= 1 and "degraded" in report
    saved = sorted(p.name for p in (tmp_path / "detector").iterdir())
    assert saved == ["config.json", "diffusion_pytorch_model.safetensors"]
    assert (tmp_path / "checkpoints" / "step-00000002").is_dir()


@pytest.mark.parametrize("command", [
    ["train", "t2i-r1", "--data", "d", "--output-dir", "never", "--stage", "grpo", "--init-from", "p",
     "--rewards", "detector,learned-detector"],
    ["eval", "rewards", "--images", "never", "--rewards", "learned-attribute", "--out", "never.json"],
])  # fmt: skip
def test_a_learned_reward_without_detector_model_is_refused_in_one_line(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, command)
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert "needs --detector-model DIR" in lines[0] and "reasongen train detector" in lines[0]
    assert not (tmp_path / "never").exists()


def test_roc_auc_counts_ties_half():
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75  # 0.35 beats 0.1 only; 0.8 beats both
    assert roc_auc([0.5, 0.5, 0.2, 0.9], [1, 0, 0, 1]) == 0.875  # (0.5 tie + 1 + 1 + 1) / 4
    assert roc_auc([1.0, 1.0], [1, 0]) == 0.5 and roc_auc([0.2, 0.3], [1, 1]) is None


def test_eval_rewards_on_oracle_and_blank_images(tmp_path):
    prompts = ["a photo of a red circle", "a photo of two squares", "a photo of a star left of a heart",
               "a photo of a blue star and a green heart"]  # fmt: skip
    write_oracle_and_blank(tmp_path, prompts, n=1)
    torch.manual_seed(0)
    CenterNetDetector(width=8).save_pretrained(tmp_path / "detector", safe_serialization=True)  # untrained: any AUC
    folders = ["--images", str(tmp_path / "oracle"), "--images", str(tmp_path / "blank")]
    experts = ["--rewards", "detector,attribute,learned-detector", "--detector-model", str(tmp_path / "detector")]
    res = runner.invoke(app, ["eval", "rewards", *folders, *experts, "--out", str(tmp_path / "res.json")])
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "res.json").read_text())
    assert result["n_images"] == 8 and result["n_correct"] == 4
    assert sorted(result["experts"]) == ["attribute", "detector", "learned-detector"]
    detector = result["experts"]["detector"]
    assert detector["auc"] == 1.0 and detector["mean_on_incorrect"] == 0.0
    assert detector["mean_on_correct"] == pytest.approx(0.975)  # colour, count, pair 1.0; position 0.9
    assert detector["by_tag"]["position"]["mean_on_correct"] == pytest.approx(0.9)
    assert 0 <= result["experts"]["learned-detector"]["auc"] <= 1 and "AUC" in res.output
