import numpy as np
import pytest

from reasongen.world.benchmarks import build
from reasongen.world.scene import Placement, boxes_apart, relation_holds, sample_scene, scene_for
from reasongen.world.vocab import CLASSES, MAX_SIDE, MIN_GAP, MIN_SIDE


@pytest.fixture(scope="module")
def records():
    return build("shapes-geneval") + build("shapes-reason")


def test_every_benchmark_scene_obeys_the_world_rules(records):
    for i, meta in enumerate(records):
        scene = scene_for(meta, np.random.default_rng(i))
        objs = scene.objects
        assert 1 <= len(objs) <= 6
        assert max(sum(o.cls == c for o in objs) for c in CLASSES) <= 4
        for o in objs:
            x, y, s = o.box
            assert MIN_SIDE <= s <= MAX_SIDE and x >= 0 and y >= 0 and x + s <= 1 and y + s <= 1
        for a in range(len(objs)):
            for b in range(a + 1, len(objs)):
                assert boxes_apart(objs[a].box, objs[b].box, MIN_GAP)
        # the scene holds exactly what is asked, with the asked colours
        for clause in meta["include"]:
            of_class = [o for o in objs if o.cls == clause["class"]]
            assert len(of_class) >= clause["count"]
            if "color" in clause:
                assert sum(o.color == clause["color"] for o in of_class) >= clause["count"]
        for clause in meta.get("exclude", []):
            assert sum(o.cls == clause["class"] for o in objs) < clause["count"]


def test_position_scenes_hold_with_room_to_spare(records):
    for i, meta in enumerate(records):
        clause = next((c for c in meta["include"] if "position" in c), None)
        if clause is None:
            continue
        scene = scene_for(meta, np.random.default_rng(i))
        target_cls = meta["include"][clause["position"][1]]["class"]
        a = next(o for o in scene.objects if o.cls == clause["class"])
        b = next(o for o in scene.objects if o.cls == target_cls)
        assert relation_holds(a, b, clause["position"][0])


def test_same_seed_same_scene():
    meta = {"tag": "two_object", "include": [{"class": "star", "count": 1}, {"class": "heart", "count": 1}]}
    assert scene_for(meta, np.random.default_rng(5)) == scene_for(meta, np.random.default_rng(5))
    assert scene_for(meta, np.random.default_rng(5)) != scene_for(meta, np.random.default_rng(6))


def test_crowded_scenes_fit():
    placements = [Placement(c) for c in ["circle"] * 4 + ["star", "heart"]]
    for seed in range(20):
        assert len(sample_scene(placements, np.random.default_rng(seed)).objects) == 6


def test_impossible_scenes_are_refused():
    with pytest.raises(ValueError, match="at most 4 of a class"):
        sample_scene([Placement("circle")] * 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="excludes"):
        scene_for({"tag": "counting", "include": [{"class": "star", "count": 3}], "exclude": [{"class": "star", "count": 3}]}, np.random.default_rng(0))
