"""The held-out FoX measures: reflection IoU and the plan judge must score a perfect answer as
perfect and a wrong one as wrong."""

import numpy as np
import pytest
import torch

from reasongen.backbones.foxperts import build_foxperts
from reasongen.backbones.text import shapes_tokenizer
from reasongen.backbones.wan import build_vae
from reasongen.eval.geneval import evaluate
from reasongen.methods.fox.evaluate import heldout_records, mask_iou, plan_detections, reflection_report, task_losses
from reasongen.methods.fox.pipeline import FoXPipeline
from reasongen.methods.fox.plan import layout, parse_layout, plan_text
from reasongen.world.dataset import draw_record
from reasongen.world.mutate import inject_flaw
from reasongen.world.vocab import TAGS


@pytest.fixture(scope="module")
def records():
    return heldout_records(24)


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    tok = shapes_tokenizer()
    return FoXPipeline(build_foxperts("tiny", vocab_size=len(tok)), build_vae("tiny"), tok, num_inference_steps=2)


def test_mask_iou():
    a = np.zeros((4, 4), dtype=bool)
    b = a.copy()
    a[:2] = True
    b[1:3] = True
    assert mask_iou(a, b) == pytest.approx(4 / 12)
    assert mask_iou(a, a) == 1.0 and mask_iou(b & ~b, b & ~b) == 1.0


def test_a_perfect_reflector_scores_one_and_a_blind_one_zero(pipe, records, monkeypatch):
    kinds = {r["flaw"] for r in records}
    assert "none" in kinds and len(kinds) >= 3
    by_image = {r["flawed"].tobytes(): r["mask"] for r in records}
    monkeypatch.setattr(pipe, "reflect", lambda prompts, images: np.stack([by_image[im.tobytes()].astype(np.float32) for im in images]))
    perfect = reflection_report(pipe, records, batch_size=5)
    assert perfect["mean_iou"] == 1.0 and perfect["flawed_caught"] == 1.0 and perfect["clean_passed"] == 1.0
    assert perfect["flawed_images"] + perfect["clean_images"] == len(records)
    monkeypatch.setattr(pipe, "reflect", lambda prompts, images: np.zeros((len(images), 64, 64), dtype=np.float32))
    blind = reflection_report(pipe, records)
    assert blind["mean_iou"] == 0.0 and blind["flawed_caught"] == 0.0 and blind["clean_passed"] == 1.0
    assert perfect["mean_iou_standard_error"] == 0.0 == blind["mean_iou_standard_error"]


def test_the_mean_iou_comes_with_its_standard_error(pipe, records, monkeypatch):
    # right on every other flawed image, blind on the rest: IoUs 1, 0, 1, 0, ...
    flawed = [r for r in records if r["flaw"] != "none"]
    right = {r["flawed"].tobytes(): r["mask"] for r in flawed[::2]}
    blank = np.zeros((64, 64), dtype=np.float32)
    monkeypatch.setattr(pipe, "reflect", lambda prompts, images: np.stack([right.get(im.tobytes(), blank).astype(np.float32) for im in images]))
    half = reflection_report(pipe, records)
    ious = np.arange(len(flawed)) % 2 == 0
    assert half["mean_iou"] == pytest.approx(ious.mean())
    assert half["mean_iou_standard_error"] == pytest.approx(ious.std(ddof=1) / np.sqrt(len(flawed)))


def test_task_losses_of_an_untrained_model(pipe, records):
    losses = task_losses(pipe, records[:4])
    assert set(losses) == {"act_flow", "plan_lm", "reflect_bce", "correct_flow"}
    assert all(np.isfinite(v) and v > 0 for v in losses.values())
    assert task_losses(pipe, records[:4]) == losses  # fixed noise: the same figures again


@pytest.mark.parametrize("tag", TAGS)
def test_the_oracle_plan_passes_its_prompt_and_a_flawed_plan_fails(tag):
    for i in range(5):
        meta, scene = draw_record(7, i, (tag,), "in_distribution")
        parsed = parse_layout(plan_text(scene)[1])
        assert not parsed.problems and len(parsed.boxes) == len(scene.objects)
        detected, colors, unread = plan_detections(parsed.boxes, 64)
        assert not unread
        correct, why = evaluate(detected, meta, lambda found, cls: [colors[id(d)] for d in found])
        assert correct, (meta["prompt"], why)
        bad, _ = inject_flaw(scene, meta, np.random.default_rng(i))
        detected, colors, _ = plan_detections(layout(bad), 64)
        assert not evaluate(detected, meta, lambda found, cls: [colors[id(d)] for d in found])[0], meta["prompt"]


def test_phrases_the_world_does_not_know_are_left_out():
    detected, colors, unread = plan_detections({"a red circle": (0.1, 0.1, 0.3, 0.3), "a big dragon": (0.5, 0.5, 0.9, 0.9)}, 64)
    assert list(detected) == ["circle"] and unread == ["a big dragon"]
    assert colors[id(detected["circle"][0])] == "red" and detected["circle"][0].box == pytest.approx((6.4, 6.4, 19.2, 19.2))
