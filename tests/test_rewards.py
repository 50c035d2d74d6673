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
