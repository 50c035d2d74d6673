"""The video metrics on exact ShapesWorld clips: the truth scores full marks, and each metric drops for
the defect it is meant to catch."""

import numpy as np
import pytest

from reasongen.eval.video import (anchor_correct, dynamic_degree, event_consistency, image_consistency, motion_smoothness,
                                  palette_fidelity, scene_change, text_consistency)  # fmt: skip
from reasongen.world.video import sample_clip


def clip(event, seed=0):
    c = sample_clip(np.random.default_rng(seed), 17, event)
    return c, c.render(64)


def test_text_consistency_is_full_for_the_truth_and_drops_for_the_wrong_story():
    c, frames = clip("recolour")
    assert text_consistency(frames, list(c.scenes)) == 1.0
    assert text_consistency(frames[::-1], list(c.scenes)) < 0.9  # the change told backwards
    with pytest.raises(ValueError, match="17 frames against 16"):
        text_consistency(frames, list(c.scenes[:16]))


@pytest.mark.parametrize("event", ["recolour", "appear", "disappear", "move", "grow", "shrink", "split", "merge"])
def test_event_consistency_is_full_for_the_truth_and_nothing_for_a_still_or_blank_clip(event):
    c, frames = clip(event)
    scenes, anchor = list(c.scenes), 5
    still = np.stack([frames[anchor]] * 17)
    assert event_consistency(frames, scenes, anchor) == 1.0
    assert event_consistency(still, scenes, anchor) == 0.0  # text consistency gives this 0.4-1.0
    assert event_consistency(np.full_like(frames, 128), scenes, anchor) == 0.0


def test_event_consistency_credits_a_size_change_by_how_far_it_went():
    c, frames = clip("grow")
    scenes = list(c.scenes)
    halfway = frames.copy()
    halfway[9:] = frames[4:12]  # the growth drawn late: each changed frame part of the way to its size
    score = event_consistency(halfway, scenes, 0)
    assert 0.3 < score < 0.9
    at_once = frames.copy()
    at_once[1:] = frames[16]  # the full size from frame 1: too big for the frames before the end
    assert 0.3 < event_consistency(at_once, scenes, 0) < 0.9


def test_event_consistency_has_no_score_when_nothing_changes():
    c, frames = clip("recolour")
    scenes = [c.scenes[0]] * 17
    assert not scene_change(scenes[0], scenes[16])
    assert event_consistency(frames, scenes, 0) is None
    with pytest.raises(ValueError, match="17 frames against 16"):
        event_consistency(frames, scenes[:16], 0)


def test_image_consistency_finds_the_image_where_it_belongs():
    c, frames = clip("recolour")
    assert image_consistency(frames, frames[0], 0) == {"at_anchor": 1.0, "best_frame": 1.0}
    moved = image_consistency(frames, frames[0], 16)  # the image placed after the colour changed
    assert moved["at_anchor"] < 1.0 and moved["best_frame"] == 1.0


def test_motion_smoothness_prefers_the_true_order():
    c, frames = clip("swap", seed=1)
    smooth = motion_smoothness(frames)
    shuffled = frames[np.random.default_rng(0).permutation(17)]
    assert smooth > 0.98 and motion_smoothness(shuffled) < smooth


def test_dynamic_degree_tells_motion_from_stillness():
    frames = np.full((17, 64, 64, 3), 128, np.uint8)
    still = frames.copy()
    still[:, 20:36, 20:36] = (255, 0, 0)
    moving = frames.copy()
    for t in range(17):
        moving[t, 20:36, 2 + 3 * t : 18 + 3 * t] = (255, 0, 0)  # 3 px a frame, over VBench's 1.5 px at 64 px
    assert dynamic_degree(moving) == 1 and dynamic_degree(still) == 0


def test_palette_fidelity_drops_with_noise():
    _, frames = clip("move")
    noisy = np.clip(frames + np.random.default_rng(0).normal(0, 25, frames.shape), 0, 255).astype(np.uint8)
    assert palette_fidelity(frames) > 0.9 > palette_fidelity(noisy)


def test_anchor_accuracy_accepts_every_right_anchor():
    assert anchor_correct(3, (2, 3, 4)) and not anchor_correct(5, (2, 3, 4))
