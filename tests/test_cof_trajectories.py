import numpy as np
import pytest
from scipy import ndimage

from reasongen.eval.run import score_image
from reasongen.methods.cof.trajectories import anchor_tier, build_chain, repair_scene
from reasongen.world.mutate import inject_flaw
from reasongen.world.benchmarks import build
from reasongen.eval.shapes_detector import ShapesDetector
from reasongen.world.mutate import mutate
from reasongen.world.scene import scene_for


@pytest.fixture(scope="module")
def detector():
    return ShapesDetector()


@pytest.fixture(scope="module")
def records():
    recs = build("shapes-geneval") + build("shapes-reason")
    return recs[::7]


def blur(img, sigma=1.0):
    return np.clip(ndimage.gaussian_filter(img.astype(float), (sigma, sigma, 0)), 0, 255).round().astype(np.uint8)


def test_anchors_are_routed_by_quality(detector):
    meta = {"tag": "colors", "prompt": "a photo of a red star", "include": [{"class": "star", "count": 1, "color": "red"}]}
    rng = np.random.default_rng(0)
    scene = scene_for(meta, rng)
    assert anchor_tier(scene.render(64), meta, detector) == "good"
    assert anchor_tier(blur(scene.render(64)), meta, detector) == "rough"
    assert anchor_tier(mutate(scene, meta, "wrong_color", rng).render(64), meta, detector) == "wrong"


def test_repair_reaches_the_prompt_from_any_flaw(detector, records):
    rng = np.random.default_rng(1)
    for i, meta in enumerate(records):
        scene = scene_for(meta, rng)
        flawed, kind = inject_flaw(scene, meta, rng)
        assert not score_image(detector, flawed.render(64), meta)["correct"], (kind, meta["prompt"])
        repaired = repair_scene(flawed, meta, rng)
        assert score_image(detector, repaired.render(64), meta)["correct"], (kind, meta["prompt"])


def test_chains_go_from_flawed_draft_to_finished_target(detector, records):
    rng = np.random.default_rng(2)
    correct = np.zeros(3)
    tiers = set()
    for meta in records:
        scene = scene_for(meta, rng)
        for anchor in (scene.render(64), blur(scene.render(64)), inject_flaw(scene, meta, rng)[0].render(64)):
            chain = build_chain(anchor, meta, detector, rng)
            tiers.add(chain.strategy)
            assert len(chain.frames) == 3 and all(f.shape == (64, 64, 3) for f in chain.frames)
            correct += [score_image(detector, f, meta)["correct"] for f in chain.frames]
            if chain.tier == "good":
                assert chain.frames[2] is anchor  # reverse synthesis keeps the good image as F3
    n = 3 * len(records)
    f1, f2, f3 = correct / n
    assert tiers == {"repair", "polish", "reverse"}
    assert f1 < 0.1 < f2 < f3 and f3 > 0.97  # draft flawed, then corrected but blocky, then finished
