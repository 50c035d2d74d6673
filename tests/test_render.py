import numpy as np
import pytest

from reasongen.world.render import area_and_centroid, extent, object_alpha, object_mask, outline, render_objects
from reasongen.world.scene import Obj
from reasongen.world.vocab import CLASSES, COLORS, GROUND


@pytest.mark.parametrize("cls", CLASSES)
def test_area_of_rendered_shape_matches_its_polygon(cls):
    size, side = 256, 0.3
    alpha = object_alpha(cls, (0.2, 0.3, side), size)
    frac, _, _ = area_and_centroid(cls)
    assert alpha.sum() / (side * size) ** 2 == pytest.approx(frac, rel=0.01)


def test_shape_geometry_as_specified():
    s3 = np.sqrt(3) / 2
    assert area_and_centroid("circle")[0] == pytest.approx(np.pi / 4, rel=1e-3)
    assert area_and_centroid("square")[0] == 1.0
    assert area_and_centroid("diamond")[0] == 0.5
    assert area_and_centroid("cross")[0] == pytest.approx(5 / 9)  # arm width a third of the side
    assert extent("triangle") == pytest.approx((0, 1 - s3, 1, 1))  # equilateral, base on the bottom edge
    assert extent("hexagon") == pytest.approx((0, 0.5 - s3 / 2, 1, 0.5 + s3 / 2))  # flat top and bottom
    assert extent("heart") == pytest.approx((0, 0, 1, 1))  # fills the box
    # star: one point up, outer radius half the side, inner/outer 0.45
    pts = outline("star")
    r = np.linalg.norm(pts - 0.5, axis=1)
    assert r[0::2] == pytest.approx([0.5] * 5) and r[1::2] == pytest.approx([0.225] * 5)
    assert pts[0] == pytest.approx([0.5, 0.0])
    # heart point down: the lowest point is on the vertical axis
    heart = outline("heart")
    assert heart[np.argmax(heart[:, 1])][0] == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize("size", [64, 128, 256])
def test_exact_colours_inside_and_anti_aliased_edges(size):
    objs = [Obj("square", "pink", (0.1, 0.1, 0.3)), Obj("circle", "brown", (0.55, 0.55, 0.3))]
    img = render_objects(objs, size)
    assert img.shape == (size, size, 3) and img.dtype == np.uint8
    c = int(0.25 * size)
    assert tuple(img[c, c]) == COLORS["pink"]
    c = int(0.7 * size)
    assert tuple(img[c, c]) == COLORS["brown"]
    assert tuple(img[1, size - 2]) == GROUND
    # the circle's rim has pixels strictly between the ground and its colour
    row = img[int(0.7 * size)].astype(int)
    mixed = [(px != GROUND).any() and (px != COLORS["brown"]).any() for px in row]
    assert any(mixed)


def test_same_scene_same_pixels():
    objs = [Obj("star", "yellow", (0.2, 0.2, 0.3))]
    assert (render_objects(objs, 64) == render_objects(objs, 64)).all()


def test_unknown_class_is_refused():
    with pytest.raises(ValueError, match="unknown ShapesWorld class 'pentagon'"):
        outline("pentagon")


def test_object_mask_marks_cells_with_objects():
    img = np.full((1, 16, 16, 3), 128, np.uint8)
    img[0, 9, 2] = (220, 40, 40)
    mask = object_mask(img, 8)
    assert mask.tolist() == [[[0, 0], [1, 0]]]
