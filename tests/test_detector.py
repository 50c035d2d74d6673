import numpy as np
import pytest
from scipy import ndimage

from reasongen.eval.geneval import filter_detections
from reasongen.eval.shapes_detector import ShapesDetector, nearest_color
from reasongen.world.render import render_objects
from reasongen.world.scene import Obj
from reasongen.world.vocab import CLASSES, COLOR_NAMES, COLORS


@pytest.fixture(scope="module")
def detector():
    return ShapesDetector()


def best(dets):
    return max(dets, key=lambda d: d.score)


@pytest.mark.parametrize("size", [64, 256])
def test_every_class_and_colour_at_the_smallest_size(detector, size):
    for i, cls in enumerate(CLASSES):
        for j, color in enumerate(COLOR_NAMES):
            box = (0.1 + 0.05 * (i % 5), 0.2 + 0.04 * (j % 7), 0.16)
            img = render_objects([Obj(cls, color, box)], size)
            dets = detector.detect(img)
            top = best(dets)
            assert top.cls == cls and top.score > 0.95, (cls, color, size, top)
            assert detector.classify_colors(img, [top], cls) == [color]
            # a clean render has no second hypothesis above GenEval's 0.3
            assert sorted(d.score for d in dets)[-2:][0] < 0.3 or len(dets) == 1


def test_boxes_and_masks_are_the_drawn_shape(detector):
    size = 128
    obj = Obj("triangle", "blue", (0.25, 0.25, 0.3))
    img = render_objects([obj], size)
    top = best(detector.detect(img))
    x1, y1, x2, y2 = (v * size for v in obj.bbox)
    assert top.box == pytest.approx((x1, y1, x2, y2), abs=1.0)
    assert top.mask.shape == (size, size) and top.mask.dtype == bool
    assert abs(int(top.mask.sum()) - 0.433 * (0.3 * size) ** 2) < 0.05 * 0.433 * (0.3 * size) ** 2


def test_confidence_is_graded(detector):
    img = render_objects([Obj("star", "red", (0.3, 0.3, 0.35))], 64)
    clean = best(detector.detect(img)).score
    scores = [clean]
    for sigma in (0.7, 1.0, 1.5):
        blurred = np.clip(ndimage.gaussian_filter(img.astype(float), (sigma, sigma, 0)), 0, 255).astype(np.uint8)
        scores.append(best(detector.detect(blurred)).score)
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 4
    assert scores[0] > 0.9 > scores[2] > 0.3  # a soft star passes 0.3 but not the counting threshold


def test_malformed_shape_scores_below_counting_threshold(detector):
    img = render_objects([Obj("square", "green", (0.3, 0.3, 0.3))], 64).copy()
    img[19:26, 19:26] = 128  # a bite out of one corner
    top = best(detector.detect(img))
    assert top.cls == "square" and 0.3 < top.score < 0.9


def test_noise_blobs_are_not_objects(detector):
    img = np.full((64, 64, 3), 128, np.uint8)
    img[10:12, 10:12] = COLORS["red"]
    assert detector.detect(img) == []


def test_touching_objects_of_different_colours_are_two_instances(detector):
    objs = [Obj("square", "red", (0.2, 0.3, 0.3)), Obj("square", "blue", (0.5, 0.3, 0.3))]  # edges touch
    dets = filter_detections(detector.detect(render_objects(objs, 128)), 0.9)
    assert len(dets["square"]) == 2


def test_counting_scene_is_counted_exactly(detector):
    objs = [Obj("heart", c, (0.05 + 0.24 * i, 0.4, 0.18)) for i, c in enumerate(["red", "red", "white", "black"])]
    dets = filter_detections(detector.detect(render_objects(objs, 64)), 0.9)
    assert len(dets["heart"]) == 4 and set(dets) == {"heart"}


def test_nearest_colour_on_noisy_pixels():
    rng = np.random.default_rng(0)
    for name, rgb in COLORS.items():
        noisy = np.clip(np.array(rgb) + rng.normal(0, 8, 3), 0, 255)
        assert nearest_color(noisy) == name


def test_size_check(detector):
    detector.check_size(64, 64, "x.png")
    with pytest.raises(ValueError, match="x.png.*square"):
        detector.check_size(64, 48, "x.png")
    with pytest.raises(ValueError, match="at least 32"):
        detector.check_size(16, 16, "x.png")


def test_named_object_recall_gives_colour_before_class():
    from reasongen.eval.shapes_detector import named_object_recall
    from reasongen.world.scene import Obj, Scene

    meta = {"tag": "color_attr", "prompt": "a photo of a red star and a blue heart",
            "include": [{"class": "star", "count": 1, "color": "red"}, {"class": "heart", "count": 1, "color": "blue"}]}  # fmt: skip
    det = ShapesDetector()
    right = Scene((Obj("star", "red", (0.1, 0.1, 0.35)), Obj("heart", "blue", (0.55, 0.55, 0.35)))).render(64)
    assert named_object_recall(right, meta, det) == {"class": 1.0, "colour": 1.0}
    blobs = Scene((Obj("circle", "red", (0.1, 0.1, 0.35)),)).render(64)  # the right colour, the wrong shape, one missing
    assert named_object_recall(blobs, meta, det) == {"class": 0.0, "colour": 0.5}
    empty = Scene(()).render(64)
    assert named_object_recall(empty, {**meta, "include": meta["include"][:1]}, det) == {"class": 0.0, "colour": 0.0}
    assert "colour" not in named_object_recall(right, {"tag": "single_object", "include": [{"class": "star", "count": 1}]}, det)
