import json
import re

import numpy as np

from reasongen.world.benchmarks import GENEVAL_COUNTS, build, shipped_path
from reasongen.world.knowledge import (
    COLOR_PHRASINGS,
    CORNER_PHRASINGS,
    COUNT_PHRASINGS,
    HELD_OUT_PAIRS,
    POINT_PHRASINGS,
    reason_metadata,
)
from reasongen.world.prompts import geneval_metadata, metadata_for_prompt
from reasongen.world.vocab import COLOR_NAMES, TAGS


def test_shipped_benchmarks_are_what_the_command_generates():
    for name in ("shapes-geneval", "shapes-reason"):
        shipped = [json.loads(line) for line in shipped_path(name).read_text().splitlines()]
        assert shipped == build(name)


def test_shapes_geneval_has_genevals_tag_counts_in_order():
    records = build("shapes-geneval")
    assert len(records) == 553
    tags = [m["tag"] for m in records]
    assert {t: tags.count(t) for t in TAGS} == GENEVAL_COUNTS
    assert tags == sorted(tags, key=TAGS.index)


def test_geneval_wording_and_clauses():
    rng = np.random.default_rng(0)
    seen = {tag: geneval_metadata(tag, rng) for tag in TAGS for _ in range(20)}
    pos = geneval_metadata("position", rng)
    a, rel, b = re.fullmatch(r"a photo of an? (\w+) (left of|right of|above|below) an? (\w+)", pos["prompt"]).groups()
    assert pos["include"] == [{"class": b, "count": 1}, {"class": a, "count": 1, "position": [rel, 0]}]
    cnt = geneval_metadata("counting", rng)
    n = cnt["include"][0]["count"]
    assert cnt["exclude"] == [{"class": cnt["include"][0]["class"], "count": n + 1}]
    assert cnt["prompt"].split()[3] == ["two", "three", "four"][n - 2]
    assert geneval_metadata("colors", np.random.default_rng(3))["prompt"].startswith("a photo of a")
    assert all(set(m) >= {"tag", "prompt", "include"} for m in seen.values())
    orange = [m for m in build("shapes-geneval") if m["tag"] == "colors" and m["include"][0]["color"] == "orange"]
    assert orange and all(m["prompt"].startswith("a photo of an orange ") for m in orange)
    crosses = [m for m in build("shapes-geneval") if m["tag"] == "counting" and m["include"][0]["class"] == "cross"]
    assert crosses and all(m["prompt"].endswith(" crosses") for m in crosses)


def test_shapes_reason_parts():
    records = build("shapes-reason")
    assert len(records) >= 200
    splits = [m["split"] for m in records]
    assert splits.count("in_distribution") >= 100 and splits.count("held_out") >= 100
    assert all(m["tag"] == "reason" for m in records)
    held = [m for m in records if m["split"] == "held_out"]
    by = {k: sum(k in m["held_out_by"] for m in held) for k in ("phrasing", "combination")}
    assert by["phrasing"] > 20 and by["combination"] > 20


HELD_OUT_TEMPLATES = [t for t, held in COLOR_PHRASINGS + CORNER_PHRASINGS + POINT_PHRASINGS + COUNT_PHRASINGS if held]


def _template_regex(template):
    parts = re.split(r"\{\w+\}", template)
    return ".*".join(re.escape(p) for p in parts if p.strip())


def test_in_distribution_never_uses_held_out_phrasings_or_pairs():
    rng = np.random.default_rng(1)
    for _ in range(2000):
        m = reason_metadata(rng, "in_distribution")
        for t in HELD_OUT_TEMPLATES:
            assert not re.search(_template_regex(t), m["prompt"]), (t, m["prompt"])
        classes = {c["class"] for c in m["include"]}
        for pair in HELD_OUT_PAIRS:
            facts = {f for f in pair if not f.startswith("class:")}
            (cls,) = [f[6:] for f in pair if f.startswith("class:")]
            if cls in classes and facts <= set(m["facts"]):
                # the fact must then belong to the other object
                assert len(m["include"]) == 2, m


def test_reason_prompts_never_name_what_they_reason():
    rng = np.random.default_rng(2)
    for _ in range(500):
        m = reason_metadata(rng, "in_distribution")
        assert m["facts"], m
        words = m["prompt"].replace(",", " ").split()
        for clause in m["include"]:
            if any(f.startswith("thing:") for f in m["facts"]) and len(m["include"]) == 1 and "color" in clause:
                assert clause["color"] not in words, m["prompt"]
            if any(f in m["facts"] for f in (f"corners:{clause['class']}", "points:star")) and len(m["include"]) == 1:
                assert clause["class"] not in words, m["prompt"]
        if m["skill"] == "count":
            n = m["include"][0]["count"]
            assert f"a photo of {['two', 'three', 'four'][n - 2]} " not in m["prompt"]


def test_reason_colours_come_from_the_knowledge_table():
    rng = np.random.default_rng(3)
    table = {"sky": "blue", "grass": "green", "snow": "white", "coal": "black", "lemon": "yellow", "tomato": "red",
             "carrot": "orange", "chocolate": "brown", "flamingo": "pink", "grape": "purple"}  # fmt: skip
    for _ in range(300):
        m = reason_metadata(rng, "in_distribution")
        if m["skill"] == "attribute" and "color" in m["include"][0]:
            (thing,) = [f[6:] for f in m["facts"] if f.startswith("thing:")] or [None]
            if thing:
                assert m["include"][0]["color"] == table[thing]
            else:
                assert m["include"][0]["color"] in COLOR_NAMES


def test_a_free_prompt_finds_its_metadata_when_it_has_a_world_form():
    meta = metadata_for_prompt("  A photo of a RED circle. ")
    assert meta == {"tag": "colors", "include": [{"class": "circle", "count": 1, "color": "red"}], "prompt": "a photo of a red circle"}
    assert metadata_for_prompt("a star left of a heart")["tag"] == "position"  # "a photo of" may be left out
    reason = json.loads(shipped_path("shapes-reason").read_text().splitlines()[0])
    assert metadata_for_prompt(reason["prompt"]) == reason
    assert metadata_for_prompt("a photo of a dog") is None
