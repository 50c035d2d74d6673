"""GenEval's rules pinned on hand-built detections (reference: geneval evaluation/evaluate_images.py)."""

import json

import numpy as np
import pytest

from reasongen.eval.geneval import (
    Detection,
    compute_iou,
    confidence_threshold,
    evaluate,
    filter_detections,
    relative_position,
    summarize,
)


def det(cls, score, box=(0, 0, 10, 10), color="red"):
    d = Detection(cls, box, score)
    d.color = color  # read by the fake colour classifier below
    return d


def colors_of(found, cls):
    return [d.color for d in found]


def run(dets, meta):
    detected = filter_detections(dets, confidence_threshold(meta))
    return evaluate(detected, meta, colors_of)


# --- thresholds -------------------------------------------------------------------------------


def test_threshold_is_strict_at_0_3():
    meta = {"tag": "single_object", "include": [{"class": "circle", "count": 1}]}
    assert run([det("circle", 0.3)], meta)[0] is False
    assert run([det("circle", 0.3001)], meta)[0] is True


def test_counting_tag_uses_0_9_for_every_class():
    meta = {
        "tag": "counting",
        "include": [{"class": "star", "count": 2}],
        "exclude": [{"class": "star", "count": 3}],
    }
    two_sure = [det("star", 0.95, (0, 0, 5, 5)), det("star", 0.91, (20, 0, 25, 5))]
    assert run(two_sure, meta)[0] is True
    # 0.9 exactly does not count: only one star survives
    assert run([det("star", 0.95), det("star", 0.9)], meta)[0] is False
    # a third star at 0.85 is below the counting threshold, so it does not break the exclude clause
    assert run(two_sure + [det("star", 0.85)], meta)[0] is True
    # ...but at 0.92 it does
    correct, reason = run(two_sure + [det("star", 0.92)], meta)
    assert correct is False and "expected star<3, found 3" in reason


def test_threshold_by_tag():
    assert confidence_threshold({"tag": "counting"}) == 0.9
    assert confidence_threshold({"tag": "colors"}) == 0.3
    assert confidence_threshold({"tag": "reason", "exclude": [{"class": "star", "count": 3}]}) == 0.9
    assert confidence_threshold({"tag": "reason"}) == 0.3


def test_max_objects_keeps_the_16_best():
    dets = [det("circle", 0.31 + i * 0.01) for i in range(20)]
    kept = filter_detections(dets, 0.3)["circle"]
    assert len(kept) == 16
    assert [d.score for d in kept] == sorted((d.score for d in dets), reverse=True)[:16]


def test_classes_without_survivors_are_absent():
    assert filter_detections([det("circle", 0.2)], 0.3) == {}


def test_nms_off_by_default_and_iou_uses_inclusive_pixels():
    a, b = det("square", 0.9, (0, 0, 9, 9)), det("square", 0.8, (0, 0, 9, 9))
    assert len(filter_detections([a, b], 0.3)["square"]) == 2
    assert len(filter_detections([a, b], 0.3, max_overlap=0.5)["square"]) == 1
    # (0,0,9,9) covers 10x10 pixels; (5,0,14,9) overlaps 5x10 of them: IoU = 50 / 150
    assert compute_iou((0, 0, 9, 9), (5, 0, 14, 9)) == pytest.approx(50 / 150)


# --- include / colour / exclude ---------------------------------------------------------------


def test_only_top_count_instances_are_judged_for_colour():
    meta = {"tag": "colors", "include": [{"class": "heart", "count": 1, "color": "blue"}]}
    # the most confident heart is red; a blue one behind it does not help
    correct, reason = run([det("heart", 0.9, color="red"), det("heart", 0.8, color="blue")], meta)
    assert correct is False and "expected blue heart>=1, found 0 blue; and 1 red" in reason
    assert run([det("heart", 0.9, color="blue"), det("heart", 0.8, color="red")], meta)[0] is True


def test_missing_object_and_extra_objects():
    meta = {"tag": "two_object", "include": [{"class": "circle", "count": 1}, {"class": "star", "count": 1}]}
    correct, reason = run([det("circle", 0.9)], meta)
    assert correct is False and reason == "expected star>=1, found 0"
    # two_object does not penalise extra instances or wrong colours
    assert run([det("circle", 0.9), det("circle", 0.8), det("star", 0.5, color="blue")], meta)[0] is True


def test_counting_needs_count_and_exclude_is_ored():
    meta = {
        "tag": "counting",
        "include": [{"class": "cross", "count": 3}],
        "exclude": [{"class": "cross", "count": 4}],
    }
    assert run([det("cross", 0.95)] * 2, meta) == (False, "expected cross>=3, found 2")
    assert run([det("cross", 0.95)] * 3, meta)[0] is True
    assert run([det("cross", 0.95)] * 4, meta)[0] is False


def test_colour_counts_against_count():
    meta = {"tag": "reason", "include": [{"class": "star", "count": 2, "color": "green"}]}
    assert run([det("star", 0.9, color="green"), det("star", 0.8, color="green")], meta)[0] is True
    assert run([det("star", 0.9, color="green"), det("star", 0.8, color="red")], meta)[0] is False


# --- position ---------------------------------------------------------------------------------


def box_at(cx, cy, w=40, h=40):
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def test_position_rule_reference_numbers():
    # A 30 px left of B, widths 40/40: revised dx = (30 - 8) / 30 = 0.73 -> left of
    assert relative_position(box_at(100, 100), box_at(130, 100)) == {"left of"}
    # at 12 px: (12 - 8) / 12 = 0.33 -> no relation
    assert relative_position(box_at(100, 100), box_at(112, 100)) == set()
    # y grows downward: A with a larger y is below B
    assert relative_position(box_at(100, 160), box_at(100, 100)) == {"below"}
    assert relative_position(box_at(100, 40), box_at(100, 100)) == {"above"}
    assert relative_position(box_at(160, 100), box_at(100, 100)) == {"right of"}


def test_position_threshold_is_strict_at_0_5():
    # offset 16, margin 0.1 * (40 + 40) = 8: revised 8, normalised 8 / 16 = 0.5 exactly: no relation
    assert relative_position(box_at(100, 100), box_at(116, 100)) == set()
    assert relative_position(box_at(100, 100), box_at(116.01, 100)) == {"left of"}


def test_position_diagonal_gives_two_relations_and_overlap_none():
    assert relative_position(box_at(0, 0), box_at(100, 100)) == {"left of", "above"}
    # inside the margin on both axes: both revised components are 0 -> the empty set
    assert relative_position(box_at(100, 100), box_at(104, 103)) == set()
    assert relative_position(box_at(100, 100), box_at(100, 100)) == set()


def test_position_margin_uses_summed_sizes_on_each_axis():
    # wide boxes raise the x margin only: offset 30 with widths 100 + 100 -> margin 20, 10 / 30 < 0.5
    assert relative_position(box_at(100, 100, w=100), box_at(130, 100, w=100)) == set()
    assert relative_position(box_at(100, 100, h=100), box_at(130, 100, h=100)) == {"left of"}


def position_meta(rel="left of"):
    return {
        "tag": "position",
        "include": [{"class": "square", "count": 1}, {"class": "circle", "count": 1, "position": [rel, 0]}],
    }


def test_position_clause_against_its_target_group():
    circle, square = det("circle", 0.9, box_at(50, 100)), det("square", 0.9, box_at(150, 100))
    assert run([circle, square], position_meta("left of"))[0] is True
    correct, reason = run([circle, square], position_meta("right of"))
    assert correct is False and reason == "expected circle right of target, found left of target"


def test_position_without_a_matched_target():
    correct, reason = run([det("circle", 0.9, box_at(50, 100))], position_meta())
    assert correct is False
    assert reason.splitlines() == ["expected square>=1, found 0", "no target for circle to be left of"]


def test_position_uses_top1_instances_only():
    # a second, less confident circle on the wrong side is ignored (count 1 -> only the top one)
    dets = [det("circle", 0.9, box_at(50, 100)), det("circle", 0.5, box_at(250, 100)), det("square", 0.9, box_at(150, 100))]
    assert run(dets, position_meta())[0] is True
    dets[1].score = 0.95
    assert run(dets, position_meta())[0] is False


def test_position_checks_every_pair_when_counts_exceed_one():
    meta = {
        "tag": "reason",
        "include": [{"class": "square", "count": 2}, {"class": "circle", "count": 1, "position": ["left of", 0]}],
    }
    squares = [det("square", 0.9, box_at(150, 100)), det("square", 0.8, box_at(60, 300))]
    circle = det("circle", 0.9, box_at(50, 100))
    assert run([circle] + squares, meta)[0] is False  # not left of the second square
    squares[1].box = box_at(250, 150)
    assert run([circle] + squares, meta)[0] is True


# --- summary ----------------------------------------------------------------------------------


def test_summary_overall_is_mean_of_tags_not_of_images():
    rows = [{"tag": "single_object", "correct": True, "metadata": json.dumps({"p": 1})}]
    rows += [{"tag": "counting", "correct": c, "metadata": json.dumps({"p": 2})} for c in (True, False, False, False)]
    s = summarize(rows)
    assert s["tags"] == {"single_object": 1.0, "counting": 0.25}
    assert s["overall"] == pytest.approx(0.625)
    assert s["correct_images"] == pytest.approx(0.4)
    # prompts are grouped by metadata string; a prompt counts if any of its images is correct
    assert s["correct_prompts"] == 1.0 and s["n_prompts"] == 2


def test_summary_splits_for_reason_prompts():
    rows = [
        {"tag": "reason", "correct": True, "metadata": json.dumps({"split": "held_out", "i": 0})},
        {"tag": "reason", "correct": False, "metadata": json.dumps({"split": "held_out", "i": 1})},
        {"tag": "reason", "correct": True, "metadata": json.dumps({"split": "in_distribution"})},
    ]
    s = summarize(rows)
    assert s["splits"] == {"reason/held_out": 0.5, "reason/in_distribution": 1.0}
    assert s["overall"] == pytest.approx(2 / 3)


def test_summary_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        summarize([])


def test_relative_position_accepts_numpy_boxes():
    assert relative_position(np.array(box_at(0, 0)), np.array(box_at(100, 0))) == {"left of"}
