import numpy as np
import pytest

from reasongen.rewards import RewardEnsemble
from reasongen.rewards.shapes import AttributeReward, DetectorReward
from reasongen.world.mutate import mutate
from reasongen.world.prompts import geneval_metadata
from reasongen.world.scene import scene_for

TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")


def renders(tag, n=6, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        meta = geneval_metadata(tag, rng)
        out.append((meta, scene_for(meta, rng), rng))
    return out


@pytest.mark.parametrize("tag", TAGS)
def test_ground_truth_gets_full_credit(tag):
    det, attr = DetectorReward(), AttributeReward()
    for meta, scene, _ in renders(tag):
        image = scene.render(64)
        assert det.score(image, meta) == pytest.approx(0.9 if tag == "position" else 1.0), meta["prompt"]
        a = attr.score(image, meta)
        assert a == 0.0 if tag in ("position", "counting") else a > 0.9, meta["prompt"]


def test_flaws_get_partial_credit():
    det, attr = DetectorReward(), AttributeReward()
    for meta, scene, rng in renders("position"):
        assert det.score(mutate(scene, meta, "mirror_position", rng).render(64), meta) == pytest.approx(0.4)
    for meta, scene, rng in renders("counting"):
        assert det.score(mutate(scene, meta, "extra_object", rng).render(64), meta) == pytest.approx(0.2)
    for meta, scene, rng in renders("two_object"):
        assert det.score(mutate(scene, meta, "wrong_class", rng).render(64), meta) == pytest.approx(0.5)
    for meta, scene, rng in renders("color_attr"):
        assert attr.score(mutate(scene, meta, "wrong_color", rng).render(64), meta) == pytest.approx(0.5, abs=0.02)


def test_ensemble_weighs_and_survives_a_failing_expert(caplog):
    def constant(images, prompts, metadata):
        return [1.0] * len(images)

    def fragile(images, prompts, metadata):
        if any("bad" in p for p in prompts):
            raise RuntimeError("cannot read this one")
        return [0.5] * len(images)

    ens = RewardEnsemble({"constant": constant, "fragile": fragile}, weights={"fragile": 2.0})
    total, logs = ens([None, None, None], ["good", "bad", "good"])
    np.testing.assert_allclose(total, [2.0, 1.0, 2.0])  # the failing sample scores 0 from that expert alone
    assert logs["reward_fragile_failures"] == 1 and logs["reward_constant"] == 1.0
    assert "cannot read this one" in caplog.text
    with pytest.raises(ValueError, match="unknown reward experts"):
        RewardEnsemble({"constant": constant}, weights={"other": 1.0})


def test_shapes_rewards_need_metadata():
    with pytest.raises(ValueError, match="metadata"):
        DetectorReward()([np.zeros((64, 64, 3), np.uint8)], ["a photo of a star"], None)


# -- T2I-R1's own position rule (official reward_gdino.py), not GenEval's ------------------------


def test_position_rule_against_hand_computed_numbers():
    from reasongen.rewards.shapes import position_score

    a = (0, 0, 10, 10)
    # B's centre (25, 7) lies 20 right and 2 down of A's (5, 5): x dominates, no overlap
    scores = [position_score(r, a, (20, 2, 30, 12)) for r in ("left of", "right of", "above", "below")]
    assert scores == [1.0, 0.0, 0.0, 0.0]
    # offset (12, 15): GenEval's rule says A is both left of and above B ((12 - 2) / 19.2 = 0.52 > 0.5);
    # T2I-R1's needs the dominant axis, so only "above" holds
    from reasongen.eval.geneval import relative_position

    assert relative_position(a, (12, 15, 22, 25)) == {"left of", "above"}
    assert position_score("left of", a, (12, 15, 22, 25)) == 0.0 and position_score("above", a, (12, 15, 22, 25)) == 1.0
    # overlap: B = (4, 0, 14, 10): intersection 60, union 140, IoU 3/7 > 0.1 -> 0.1 / (3/7) = 7/30
    assert position_score("left of", a, (4, 0, 14, 10)) == pytest.approx(7 / 30)
    # a little overlap: intersection 8, union 192, IoU 1/24 < 0.1 -> full
    assert position_score("left of", a, (9.2, 0, 19.2, 10)) == 1.0
    assert position_score("below", (0, 20, 10, 30), a) == 1.0 and position_score("above", (0, 20, 10, 30), a) == 0.0
    assert position_score("left of", a, a) == 0.0  # the same place: no direction
    with pytest.raises(ValueError, match="next to"):  # ShapesWorld has no "next to" or "near"
        position_score("next to", a, (20, 0, 30, 10))


def det(cls, box, score=0.9):
    from reasongen.eval.geneval import Detection

    return Detection(cls, box, score, np.zeros((1, 1), bool))


def test_detector_reward_position_and_counting_credit_by_t2i_r1s_rules():
    reward = DetectorReward()
    meta = {"tag": "position", "include": [{"class": "star", "count": 1},
                                           {"class": "circle", "count": 1, "position": ["left of", 0]}]}  # fmt: skip
    circle, star = det("circle", (0, 0, 10, 10)), det("star", (4, 0, 14, 10))
    assert reward.score_found([circle, det("star", (20, 2, 30, 12))], meta) == pytest.approx(0.9)
    assert reward.score_found([circle, star], meta) == pytest.approx(0.4 + 7 / 60)  # overlapping: half of 7/30
    less_sure = det("circle", (40, 0, 50, 10), 0.5)  # right of the star, but the most confident circle counts
    assert reward.score_found([circle, less_sure, det("star", (20, 2, 30, 12))], meta) == pytest.approx(0.9)
    assert reward.score_found([circle], meta) == pytest.approx(0.2)
    # counting: NMS at IoU 0.5 per class first (T2I-R1's), so two boxes of one object count once
    count = {"tag": "counting", "include": [{"class": "circle", "count": 2}],
             "exclude": [{"class": "circle", "count": 3}]}  # fmt: skip
    assert reward.score_found([circle, det("circle", (1, 0, 11, 10), 0.8)], count) == pytest.approx(0.2)  # IoU 9/11
    assert reward.score_found([circle, det("circle", (20, 0, 30, 10), 0.8)], count) == 1.0
