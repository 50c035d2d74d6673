import itertools

import numpy as np
import pytest

from reasongen.eval.shapes_detector import instances
from reasongen.eval.shapes_detector import ShapesDetector
from reasongen.world.scene import boxes_apart
from reasongen.world.video import EVENTS, check_clip_length, sample_clip

SIZE = 128  # the smallest split halves are about 10 px at 64 px; 128 px keeps the detector sure


def clips(event, n=8):
    rng = np.random.default_rng(7)
    return [sample_clip(rng, 9, event) for _ in range(n)]


@pytest.mark.parametrize("event", EVENTS)
def test_every_frame_keeps_the_world_rules(event):
    for clip in clips(event):
        assert clip.event == event and len(clip) == len(clip.frame_captions) == 9 and clip.caption
        for scene in clip.scenes:
            for o in scene.objects:
                x, y, s = o.box
                assert -1e-9 <= x and x + s <= 1 + 1e-9 and -1e-9 <= y and y + s <= 1 + 1e-9, (event, o)
            if event not in ("split", "merge"):
                for a, b in itertools.combinations(scene.objects, 2):
                    assert boxes_apart(a.box, b.box, gap=0.03 - 1e-9), (event, a, b)


def found(image):
    return instances(image, ShapesDetector())


@pytest.mark.parametrize("event", EVENTS)
def test_the_event_happens_as_captioned(event):
    for clip in clips(event, 4):
        frames = clip.render(SIZE)
        first, last = found(frames[0]), found(frames[-1])
        if event == "move":
            mover = clip.scenes[0].objects[0]
            a = next(d for d in first if d.cls == mover.cls)
            b = next(d for d in last if d.cls == mover.cls and abs(d.box[0] - a.box[0]) + abs(d.box[1] - a.box[1]) > 0)
            dx, dy = b.box[0] - a.box[0], b.box[1] - a.box[1]
            direction = clip.caption.split()[-1]
            assert {"right": dx > 20, "left": dx < -20, "down": dy > 20, "up": dy < -20}[direction], (clip.caption, dx, dy)
        elif event in ("appear", "split"):
            assert len(last) == len(first) + 1, clip.caption
        elif event in ("disappear", "merge"):
            assert len(last) == len(first) - 1, clip.caption
        elif event == "recolour":
            assert clip.scenes[0].objects[0].color != clip.scenes[-1].objects[0].color
            assert clip.caption.endswith(clip.scenes[-1].objects[0].color)
        elif event in ("grow", "shrink"):
            area = [(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]) for d in (first[0], last[0])]
            assert (area[1] > 1.5 * area[0]) if event == "grow" else (area[0] > 1.5 * area[1]), clip.caption
        else:  # swap: the left-right order of the two classes flips
            def order(dets):
                return [d.cls for d in sorted(dets, key=lambda d: d.box[0])]

            assert order(first) == order(last)[::-1] and len(first) == 2, clip.caption


def test_clip_lengths_and_events_are_checked():
    rng = np.random.default_rng(0)
    for bad in (3, 8, 10):
        with pytest.raises(ValueError, match="1 \\+ 4k"):
            check_clip_length(bad)
    with pytest.raises(ValueError, match="unknown event"):
        sample_clip(rng, 9, "explode")
    a = sample_clip(np.random.default_rng(5), 13)
    b = sample_clip(np.random.default_rng(5), 13)
    assert a == b and len(a) == 13 and a.render(64).shape == (13, 64, 64, 3)


def test_cases_record_every_right_anchor():
    from reasongen.world.video import VideoCase, make_case, without_colours

    assert without_colours("an orange heart turns blue") == "a heart turns blue"
    assert without_colours("two brown circles merge into one") == "two circles merge into one"
    rng = np.random.default_rng(11)
    for _ in range(30):
        case = make_case(rng, 9)
        assert case.anchor in case.anchors and not case.paired
        assert not any(c in case.text.split()[:3] for c in ("red", "orange", "yellow", "green", "purple", "pink", "brown", "black", "white"))
        for i in range(9):  # a frame is a right answer exactly when it looks like the image
            assert (i in case.anchors) == np.array_equal(case.clip.scenes[i].render(64), case.image(64))
        assert VideoCase.from_json(case.to_json()) == case
    paired = make_case(rng, 9, paired=True)
    assert paired.anchor == 0 and paired.text == paired.clip.caption


def test_shipped_video_benchmarks_are_what_the_builder_makes():
    import json

    from reasongen.world.benchmarks import VIDEO_BENCHMARKS, build_video, shipped_path

    for name in VIDEO_BENCHMARKS:
        lines = shipped_path(name).read_text().splitlines()
        assert len(lines) == 200 and [json.loads(x) for x in lines] == build_video(name)
    unpaired = build_video("shapes-video-unpaired")
    assert sum(c["anchor"] != 0 for c in unpaired) > 150  # the image is rarely the first frame


def test_training_clips_never_show_a_held_out_composition():
    from reasongen.world.heldout import scene_holds_held_out
    from reasongen.world.video import sample_clip

    kept = 0
    for i in range(200):
        clip = sample_clip(np.random.default_rng([5, i]), 9, held_out=False)
        assert not any(scene_holds_held_out(s.objects) for s in clip.scenes)
        free = sample_clip(np.random.default_rng([5, i]), 9)  # benchmarks may show them
        kept += free == clip
    assert 100 < kept < 200  # a clip with no held-out composition is drawn as before; the others are redrawn
