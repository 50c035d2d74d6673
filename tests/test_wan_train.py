"""shapes-wan pretraining (methods/wan): held-out compositions, the frame data, legs on a time budget."""

import json

import numpy as np
import pytest
import torch

from reasongen.backbones.wan import FrameVAE, build_vae
from reasongen.methods.wan.data import FrameLatents, build_frames
from reasongen.methods.wan.train import WanTrainConfig, samples_seen, train_wan
from reasongen.world.dataset import draw_record
from reasongen.world.heldout import HELD_OUT_CLASS_PAIRS, HELD_OUT_COLOR_CLASS, record_split, scene_holds_held_out
from reasongen.world.vocab import ALL_TAGS, TAGS


def test_no_training_record_holds_a_held_out_composition():
    redrawn = 0
    for i in range(600):
        meta, scene = draw_record(0, i, ALL_TAGS, "in_distribution")
        assert not scene_holds_held_out(scene.objects)
        assert record_split(meta) == "seen"
        # a record that drew no held-out composition on its first try is the one it always was
        first = np.random.default_rng([0, i])
        redrawn += meta["tag"] != ALL_TAGS[int(first.integers(len(ALL_TAGS)))]
    assert redrawn < 200  # most records keep their first draw


def test_held_out_lists_and_benchmark_split():
    assert len(HELD_OUT_COLOR_CLASS) == 8 and len({c for c, _ in HELD_OUT_COLOR_CLASS}) == 8
    assert len(HELD_OUT_CLASS_PAIRS) == 3
    colour, cls = sorted(HELD_OUT_COLOR_CLASS)[0]
    a, b = sorted(sorted(HELD_OUT_CLASS_PAIRS, key=sorted)[0])
    assert record_split({"include": [{"class": cls, "count": 1, "color": colour}]}) == "unseen"
    assert record_split({"include": [{"class": cls, "count": 1}]}) == "seen"  # no colour named
    assert record_split({"include": [{"class": a, "count": 1}, {"class": b, "count": 1}]}) == "unseen"


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("wan")
    torch.manual_seed(0)
    vae = build_vae("tiny")
    vae.save_pretrained(root / "vae", safe_serialization=True)
    build_frames(root / "data", 40, FrameVAE(vae).eval(), size=32, workers=1, progress=False)
    return root


def tiny_config(root, out, **kw):
    kw = {"warmup_steps": 2, "text_max_length": 32, **kw}
    return WanTrainConfig(str(root / "data"), str(out), preset="tiny", vae=str(root / "vae"), batch_size=4,
                          mixed_precision="no", checkpoint_every=3, **kw)  # fmt: skip


def test_frames_resume_and_curriculum_filter(tiny_setup, tmp_path):
    data = FrameLatents(tiny_setup / "data")
    assert len(data) == 40 and set(data.tags) <= set(TAGS)
    x, prompts, objects = data.batch([0, 1])
    assert x.shape == (2, 4, 1, 4, 4) and objects.shape == (2, 4, 4) and len(prompts) == 2
    single = FrameLatents(tiny_setup / "data", tags=["single_object"])
    assert 0 < len(single) < 40 and all(data.tags[i] == "single_object" for i in single.index)
    with pytest.raises(ValueError, match="reason"):
        FrameLatents(tiny_setup / "data", tags=["reason"])
    with pytest.raises(ValueError, match="made with"):
        build_frames(tiny_setup / "data", 41, FrameVAE(build_vae("tiny")), size=32, workers=1, progress=False)


def test_time_budget_legs_resume_to_the_uninterrupted_weights(tiny_setup, tmp_path):
    whole = train_wan(tiny_config(tiny_setup, tmp_path / "whole", steps=6, weighting="object"), progress=False)
    legs = tmp_path / "legs"
    train_wan(tiny_config(tiny_setup, legs, steps=6, weighting="object", time_budget=0.0), progress=False)
    assert samples_seen(legs) == 4  # one step, then the budget stopped the leg with a checkpoint
    for _ in range(10):
        if samples_seen(legs) >= 24:
            break
        resumed = train_wan(tiny_config(tiny_setup, legs, steps=6, weighting="object", time_budget=0.0, budget_clock="cpu"),
                            progress=False)  # fmt: skip
    a = torch.cat([p.flatten() for p in whole.transformer.parameters()])
    b = torch.cat([p.flatten() for p in resumed.transformer.parameters()])
    assert torch.equal(a, b)
    assert (legs / "pipeline" / "model_index.json").is_file()
    with pytest.raises(ValueError, match="other settings"):
        train_wan(tiny_config(tiny_setup, legs, steps=6, lr=5e-3), progress=False)


def test_a_cool_down_branches_off_a_copy_of_a_run_and_leaves_the_run_as_it_was(tiny_setup, tmp_path):
    import shutil

    long = tmp_path / "long"
    train_wan(tiny_config(tiny_setup, long, steps=3, log_every=1), progress=False)
    shutil.copytree(long, tmp_path / "cool")
    with pytest.raises(ValueError, match="--cooldown-steps 9"):
        train_wan(tiny_config(tiny_setup, tmp_path / "cool", steps=6, cooldown_steps=9), progress=False)
    train_wan(tiny_config(tiny_setup, tmp_path / "cool", steps=6, cooldown_steps=3, log_every=1), progress=False)  # steps 4-6 cool down
    assert samples_seen(tmp_path / "cool") == 24 and samples_seen(long) == 12
    recorded = json.loads((tmp_path / "cool" / "wan_config.json").read_text())
    assert (recorded["steps"], recorded["cooldown_steps"]) == (6, 3)
    rows = [json.loads(r) for r in (tmp_path / "cool" / "log.jsonl").read_text().splitlines()]
    rates = {r["step"]: r["lr"] for r in rows}
    assert rates[3] == 1e-3 and rates[4] == 1e-3 and rates[5] < rates[4] and rates[6] < rates[5]


def test_curriculum_trains_single_objects_first(tiny_setup, tmp_path):
    out = tmp_path / "cur"
    pipe = train_wan(tiny_config(tiny_setup, out, steps=4, curriculum_steps=2, weighting="min_snr"), progress=False)
    rows = [json.loads(r) for r in (out / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 4 and samples_seen(out) == 16
    image = pipe("a photo of a red circle", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]
    assert image.shape == (32, 32, 3)


def test_oneshot_pretraining_writes_small_fp16_weights(tmp_path):
    from typer.testing import CliRunner

    from reasongen.cli import app
    from reasongen.methods.cof.pipeline import CoFPipeline

    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["train", "wan-oneshot", "--output-dir", str(out), "--work-dir", str(tmp_path / "work"),
                                   "--minutes", "0.51", "--n", "64", "--batch-size", "4", "--peak-tflops", "0.4"])  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    assert report["samples_seen"] >= 4 and report["samples_per_second"] > 0 and 0 < report["mfu"] < 1
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) <= 8 and all(p.stat().st_size < 16 * 2**20 for p in files)
    from safetensors import safe_open

    with safe_open(out / "pipeline" / "transformer" / "diffusion_pytorch_model.safetensors", "pt") as f:
        assert all(f.get_slice(k).get_dtype() == "F16" for k in f.keys())
    assert CoFPipeline.from_pretrained(out / "pipeline").config["num_frames"] == 1
    assert (out / "log.jsonl").read_text().strip()


def test_warm_restart_from_saved_weights_when_the_run_folder_is_gone(tiny_setup, tmp_path):
    first = tmp_path / "first"
    train_wan(tiny_config(tiny_setup, first, steps=3), progress=False)
    assert json.loads((first / "pipeline" / "training.json").read_text())["samples_seen"] == 12
    again = tmp_path / "again"  # the run folder is lost; only the saved pipeline is left
    pipe = train_wan(tiny_config(tiny_setup, again, steps=1, init_from=str(first / "pipeline"), ema_decay=None, lr=0.0,
                                 warmup_steps=0), progress=False)  # fmt: skip
    assert json.loads((again / "warm_restart.json").read_text())["samples_before"] == 12
    assert samples_seen(again) == 16
    from reasongen.methods.cof.pipeline import CoFPipeline

    start = CoFPipeline.from_pretrained(first / "pipeline").transformer
    for a, b in zip(start.parameters(), pipe.transformer.parameters()):  # lr 0: the weights are the start's
        assert torch.equal(a, b)


def test_a_leg_adds_a_point_to_the_learning_curve(tiny_setup, tmp_path):
    from reasongen.methods.wan.curve import plot_curve, score_leg

    out = tmp_path / "run"
    train_wan(tiny_config(tiny_setup, out, steps=2), progress=False)
    meta = tmp_path / "meta.jsonl"
    meta.write_text(json.dumps({"tag": "single_object", "prompt": "a photo of a star", "include": [{"class": "star", "count": 1}]}) + "\n")
    row = score_leg(out, n=2, metadata=str(meta), progress=False)
    assert row["samples_seen"] == 8 and 0 <= row["overall"] <= 1 and set(row["tags"]) == {"single_object"}
    assert set(row["partial"]) == {"class"} and 0 <= row["partial"]["class"] <= 1  # the prompt names no colour
    assert score_leg(out, n=2, metadata=str(meta), progress=False) == row  # scored once per leg
    assert len((out / "curve.jsonl").read_text().splitlines()) == 1
    plot_curve([out], tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 1000


def test_word_encoder_trains_with_the_dit_saves_loads_and_resumes(tiny_setup, tmp_path):
    from reasongen.methods.cof.pipeline import CoFPipeline

    out = tmp_path / "words"
    start = train_wan(tiny_config(tiny_setup, tmp_path / "zero", steps=1, text_encoder="words", text_max_length=16, lr=0.0,
                                  warmup_steps=0, ema_decay=None), progress=False).text_encoder.model.state_dict()  # fmt: skip
    whole = train_wan(tiny_config(tiny_setup, out, steps=4, text_encoder="words", text_max_length=16), progress=False)
    trained = whole.text_encoder.model.state_dict()
    assert any(not torch.equal(start[k], trained[k]) for k in start)  # the text side learned
    assert not any(p.requires_grad for p in whole.text_encoder.model.parameters())
    loaded = CoFPipeline.from_pretrained(out / "pipeline")
    assert loaded.text_encoder.kind == "words" and loaded.text_encoder.max_length == 16
    for k, v in loaded.text_encoder.model.state_dict().items():
        assert torch.equal(v, trained[k])
    image = loaded("a photo of a red circle", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]
    assert image.shape == (32, 32, 3)
    with pytest.raises(ValueError, match="'dog'"):  # a word the encoder never saw is refused, not read as <unk>
        loaded("a photo of a red dog", num_inference_steps=2)
    legs = tmp_path / "legs"  # legs resume the text side exactly too
    for _ in range(10):
        resumed = train_wan(tiny_config(tiny_setup, legs, steps=4, text_encoder="words", text_max_length=16, time_budget=0.0),
                            progress=False)  # fmt: skip
        if samples_seen(legs) >= 16:
            break
    for k, v in resumed.text_encoder.model.state_dict().items():
        assert torch.equal(v, trained[k])
    for a, b in zip(whole.transformer.parameters(), resumed.transformer.parameters()):
        assert torch.equal(a, b)
