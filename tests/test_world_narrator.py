"""The world's reasoner as ReasonDiff's narrator: from a text and an image alone it finds where the
image falls in the event and what each frame shows."""

import numpy as np
import pytest

from reasongen.methods.reasondiff.bench import make_narrator
from reasongen.world.benchmarks import read_video_cases
from reasongen.methods.reasondiff.world_narrator import ShapesNarrator, Thing, parse_event, read_image
from reasongen.world.describe import describe, describe_object
from reasongen.world.scene import Obj
from reasongen.world.video import dense_caption, sample_clip, without_colours


@pytest.fixture(scope="module")
def cases():
    return read_video_cases("shapes-video-unpaired")[:54]  # six of each event


def test_reads_every_event_caption_with_or_without_colours():
    rng = np.random.default_rng(0)
    for event in ("move", "appear", "disappear", "recolour", "grow", "shrink", "split", "merge", "swap"):
        caption = sample_clip(rng, 9, event).caption
        assert parse_event(caption)[0] == event, caption
        assert parse_event(without_colours(caption))[0] == event, without_colours(caption)
    assert parse_event("a dragon flies away") is None
    assert parse_event("a dragon moves left") is None  # not a ShapesWorld class


def test_reads_the_image_as_the_world_drew_it():
    clip = sample_clip(np.random.default_rng(3), 9, "recolour")
    scene = clip.scenes[0]
    things = read_image(scene.render(64))
    assert sorted((t.cls, t.color) for t in things) == sorted((o.cls, o.color) for o in scene.objects)
    for t in things:
        o = next(o for o in scene.objects if o.cls == t.cls)
        assert np.allclose(t.box, o.box, atol=0.03)


def test_before_and_after_events_are_placed_right(cases):
    narrator = ShapesNarrator()
    for case in cases:
        if case.clip.event in ("appear", "disappear", "recolour"):
            told = narrator(case.text, case.image(), len(case.clip))
            assert told.anchor in case.anchors, (case.text, told.anchor, case.anchors)
            assert not told.problems and len(told.narratives) == 17


def test_the_anchor_narrative_describes_the_image(cases):
    narrator = ShapesNarrator()
    said = [narrator(c.text, c.image(), 17) for c in cases]
    same = [told.narratives[told.anchor] == describe(c.clip.scenes[c.anchor]) for told, c in zip(said, cases)]
    assert np.mean(same) > 0.9


def test_text_it_cannot_read_holds_the_image_still_and_says_why():
    clip = sample_clip(np.random.default_rng(1), 9, "move")
    told = ShapesNarrator()("the circle dances", clip.scenes[0].render(64), 9)
    assert told.anchor == 0 and len(set(told.narratives)) == 1 and "names no ShapesWorld event" in told.problems[0]
    told = ShapesNarrator()("a heart grows", np.full((64, 64, 3), 128, np.uint8), 9)
    assert "shows no heart" in told.problems[0]


def test_an_object_is_placed_as_the_captions_place_it():
    # a triangle's drawn shape sits low in its square box: here the box's centre is in the top third
    # (y 0.330) while the drawn shape's is not (y 0.337), and the captions go by the drawn shape
    box = (0.4, 0.28, 0.1)
    said = Thing("triangle", "red", box).phrase()
    assert said == describe_object(Obj("triangle", "red", box)) and said.endswith("at the centre"), said


def test_the_rewrite_baseline_gives_one_prompt_with_the_image_at_frame_0(cases):
    rewrite, world = make_narrator("rewrite"), ShapesNarrator()
    for case in cases[::9]:
        told, full = rewrite(case), world(case.text, case.image(), len(case.clip))
        assert told.anchor == 0 and len(told.narratives) == len(case.clip) and len(set(told.narratives)) == 1
        assert told.narratives[0] == dense_caption(case.text, full.narratives[0], full.narratives[-1])
        assert told.narratives[0] == f"{case.text}, from {full.narratives[0]} to {full.narratives[-1]}"
    said = dense_caption("a pink diamond moves left", "a small pink diamond at the bottom right", "a small pink diamond at the bottom left")
    assert said == "a pink diamond moves left, from a small pink diamond at the bottom right to a small pink diamond at the bottom left"
