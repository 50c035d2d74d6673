"""shapes-wan pretraining (methods/wan): held-out compositions, the frame and clip data, legs on a time budget,
joint image and clip training, and the base sampled as text-to-video."""

import json

import numpy as np
import pytest
import torch

from reasongen.backbones.wan import FrameVAE, build_vae
from reasongen.methods.wan.data import ClipLatents, FrameLatents, build_clips, build_frames, training_clip
from reasongen.methods.wan.train import WanTrainConfig, clips_seen, samples_seen, train_wan
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
    build_clips(root / "clips", 6, FrameVAE(vae).eval(), num_frames=5, size=32, workers=1, progress=False)
    return root


def tiny_config(root, out, **kw):
    kw = {"warmup_steps": 2, "text_max_length": 32, "mixed_precision": "no", **kw}
    return WanTrainConfig(str(root / "data"), str(out), preset="tiny", vae=str(root / "vae"), batch_size=4, checkpoint_every=3, **kw)


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
    # the next leg runs on a machine with bf16 units: precision may change between legs, logged in wan_config.json.
    # (Legs are processes; in one process accelerate keeps its first precision, so the test resets it around this leg.)
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()
    try:
        train_wan(tiny_config(tiny_setup, legs, steps=7, weighting="object", mixed_precision="bf16"), progress=False)
    finally:
        AcceleratorState._reset_state()
    assert json.loads((legs / "wan_config.json").read_text())["mixed_precision"] == "bf16" and samples_seen(legs) == 28


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
    assert json.loads((again / "train_config.json").read_text())["ema_steps_before"] == 3  # the start's 12 images in batches of 4
    from reasongen.methods.cof.pipeline import CoFPipeline

    start = CoFPipeline.from_pretrained(first / "pipeline").transformer
    for a, b in zip(start.parameters(), pipe.transformer.parameters()):  # lr 0: the weights are the start's
        assert torch.equal(a, b)


def test_a_warm_restart_grows_deeper_with_identity_blocks(tiny_setup, tmp_path):
    from reasongen.methods.cof.pipeline import CoFPipeline

    first = tmp_path / "first"
    train_wan(tiny_config(tiny_setup, first, steps=3), progress=False)
    start = CoFPipeline.from_pretrained(first / "pipeline").transformer.eval()
    assert len(start.blocks) == 2
    grown = train_wan(tiny_config(tiny_setup, tmp_path / "grown", steps=1, num_layers=4, init_from=str(first / "pipeline"),
                                  ema_decay=None, lr=0.0, warmup_steps=0), progress=False).transformer.eval()  # fmt: skip
    assert len(grown.blocks) == 4 and json.loads((tmp_path / "grown" / "warm_restart.json").read_text())["grown_from_blocks"] == 2
    c = start.config
    x, t, text = torch.randn(2, c.in_channels, 1, 4, 4), torch.tensor([300.0, 800.0]), torch.randn(2, 7, c.text_dim)
    with torch.no_grad():  # the added blocks are identities: the deeper model draws what the start drew
        torch.testing.assert_close(grown(x, t, text).sample, start(x, t, text).sample)
    learned = train_wan(tiny_config(tiny_setup, tmp_path / "learns", steps=1, num_layers=4, init_from=str(first / "pipeline"),
                                    ema_decay=None, warmup_steps=0), progress=False).transformer  # fmt: skip
    assert learned.blocks[3].ffn.net[-1].weight.abs().sum() > 0  # and they train
    with pytest.raises(ValueError, match="does not match"):  # a shallower model never takes a deeper one's first blocks
        train_wan(tiny_config(tiny_setup, tmp_path / "shallow", steps=1, num_layers=1, init_from=str(first / "pipeline")), progress=False)


def test_a_shipped_base_is_fp16_names_the_shared_vae_and_warm_restarts(tiny_setup, tmp_path):
    from reasongen.methods.cof.pipeline import CoFPipeline
    from reasongen.methods.wan.ship import ship_pipeline

    run = tmp_path / "run"
    train_wan(tiny_config(tiny_setup, run, steps=3), progress=False)
    shipped = ship_pipeline(run / "pipeline", tmp_path / "models" / "base", tiny_setup / "vae")
    index = json.loads((shipped / "model_index.json").read_text())
    assert not (shipped / "vae").exists() and (shipped / index["vae_folder"]).resolve() == (tiny_setup / "vae").resolve()
    assert json.loads((shipped / "training.json").read_text())["samples_seen"] == 12
    trained = CoFPipeline.from_pretrained(run / "pipeline").transformer.state_dict()
    loaded = CoFPipeline.from_pretrained(shipped).transformer.state_dict()
    assert all(torch.equal(loaded[k].float(), trained[k].half().float()) for k in trained)  # the weights, rounded to fp16
    again = tmp_path / "again"  # the run folder is gone: the shipped weights start the next leg
    train_wan(tiny_config(tiny_setup, again, steps=1, init_from=str(shipped)), progress=False)
    assert samples_seen(again) == 16
    assert json.loads((again / "train_config.json").read_text())["ema_steps_before"] == 3  # the start's 12 images in batches of 4
    with pytest.raises(ValueError, match="exists"):
        ship_pipeline(run / "pipeline", shipped, tiny_setup / "vae")
    other = tmp_path / "other-vae"
    torch.manual_seed(1)
    build_vae("tiny").save_pretrained(other, safe_serialization=True)
    with pytest.raises(ValueError, match="its VAE is not the one"):
        ship_pipeline(run / "pipeline", tmp_path / "models" / "x", other)
    assert not (tmp_path / "models" / "x").exists()


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
    kept = tmp_path / "kept.jsonl"  # a curve kept apart from its run folder draws the same
    kept.write_text((out / "curve.jsonl").read_text())
    plot_curve([out, kept], tmp_path / "both.png")
    assert (tmp_path / "both.png").stat().st_size > 1000


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


def test_clip_data_dense_captions_shapes_and_refusals(tiny_setup, tmp_path):
    from reasongen.backbones.text import load_text_encoder
    from reasongen.world.render import object_mask
    from reasongen.world.video import dense_caption, sample_clip

    data = ClipLatents(tiny_setup / "clips")
    assert len(data) == 6 and data.num_frames == 5
    x, prompts, objects = data.batch([4, 1])
    assert x.shape == (2, 4, 5, 4, 4) and x.dtype == torch.float32 and objects.shape == (2, 5, 4, 4)
    clip = training_clip(0, 4, 5)
    assert prompts[0] == dense_caption(clip.caption, clip.frame_captions[0], clip.frame_captions[-1])
    assert prompts[0].startswith(clip.caption + ", from ") and data.events[4] == clip.event
    assert torch.equal(objects[0], torch.from_numpy(object_mask(clip.render(32), 8)))  # a mask per frame
    assert objects[0].any(dim=(1, 2)).all()  # every frame shows an object
    # a clip draws the event anew when a frame would show a held-out composition
    redrawn = 0
    for i in range(300):
        clip = training_clip(0, i, 5)
        assert not any(scene_holds_held_out(s.objects) for s in clip.scenes)
        free = sample_clip(np.random.default_rng([0, i, 6]), 5, held_out=True)
        redrawn += any(scene_holds_held_out(s.objects) for s in free.scenes)
    assert redrawn > 0  # the same streams do draw held-out compositions when allowed
    # the longest dense caption of 17-frame clips stays within MiniLM's 64 positions (54 over 20,000 clips)
    text = load_text_encoder("minilm")
    longest = max(len(text.tokenizer(p).input_ids) for p in (dense_caption(c.caption, c.frame_captions[0], c.frame_captions[-1])
                                                             for c in (training_clip(0, i, 17) for i in range(1500))))  # fmt: skip
    assert 40 < longest <= 64
    vae = FrameVAE(build_vae("tiny")).eval()
    with pytest.raises(ValueError, match="made with"):
        build_clips(tiny_setup / "clips", 7, vae, num_frames=5, size=32, workers=1, progress=False)
    with pytest.raises(ValueError, match="holds clips"):
        build_frames(tiny_setup / "clips", 6, vae, size=32, workers=1, progress=False)
    with pytest.raises(ValueError, match="holds no clips.*--clips N"):
        ClipLatents(tiny_setup / "data")
    with pytest.raises(ValueError, match="does not fit 20 MiniLM tokens"):  # refused before encoding, never cropped
        build_clips(tmp_path / "short", 2, vae, num_frames=5, size=32, workers=1, text_max_length=20, progress=False)
    assert not list((tmp_path / "short").glob("clips-*"))
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        build_clips(tmp_path / "bad", 2, vae, num_frames=6, size=32, workers=1, progress=False)


def test_wan_data_command_builds_clips(tiny_setup, tmp_path):
    from typer.testing import CliRunner

    from reasongen.cli import app

    res = CliRunner().invoke(app, ["wan", "data", "--out", str(tmp_path / "c"), "--clips", "2", "--frames", "5",
                                   "--vae", str(tiny_setup / "vae"), "--workers", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "2 clips of 5 frames" in res.output and ClipLatents(tmp_path / "c").latents.shape[:3] == (2, 4, 5)
    for args, said in ((["--clips", "2", "--frames", "6"], "--frames 6"), (["--frames", "5"], "with --clips N"),
                       (["--clips", "2", "--n", "4"], "--n 4 --clips 2")):  # fmt: skip
        res = CliRunner().invoke(app, ["wan", "data", "--out", str(tmp_path / "x"), *args])
        assert res.exit_code == 2 and said in res.output, res.output
    assert not (tmp_path / "x").exists()


def clip_config(root, out, **kw):
    return tiny_config(root, out, clips=str(root / "clips"), clips_per_step=2, **{"text_max_length": 64, **kw})


def test_joint_training_adds_the_clip_loss_and_legs_resume_exactly(tiny_setup, tmp_path):
    whole = train_wan(clip_config(tiny_setup, tmp_path / "whole", steps=4, weighting="object", log_every=1), progress=False)
    rows = [json.loads(r) for r in (tmp_path / "whole" / "log.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(r["clip_loss"] > 0 and r["image_loss"] > 0 for r in rows)
    assert all(abs(r["loss"] - r["image_loss"] - r["clip_loss"]) < 1e-5 for r in rows)  # the sum of the two means
    assert samples_seen(tmp_path / "whole") == 16 and clips_seen(tmp_path / "whole") == 8  # images and clips apart
    record = json.loads((tmp_path / "whole" / "pipeline" / "training.json").read_text())
    assert (record["samples_seen"], record["clips_seen"], record["recipe"]["clips_per_step"]) == (16, 8, 2)
    images = train_wan(tiny_config(tiny_setup, tmp_path / "images", steps=4, weighting="object", text_max_length=64), progress=False)
    assert not torch.equal(next(whole.transformer.parameters()), next(images.transformer.parameters()))
    legs = tmp_path / "legs"
    for _ in range(10):
        resumed = train_wan(clip_config(tiny_setup, legs, steps=4, weighting="object", time_budget=0.0), progress=False)
        if samples_seen(legs) >= 16:
            break
    assert clips_seen(legs) == 8
    for a, b in zip(whole.transformer.parameters(), resumed.transformer.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="--clips-per-step 2: give both"):
        WanTrainConfig("d", "o", clips_per_step=2).check()
    with pytest.raises(ValueError, match="--clips c --clips-per-step 0"):
        WanTrainConfig("d", "o", clips="c").check()
    with pytest.raises(ValueError, match="holds no clips"):
        train_wan(tiny_config(tiny_setup, tmp_path / "bad", clips=str(tiny_setup / "data"), clips_per_step=1), progress=False)
    with pytest.raises(ValueError, match="--clips .*longer than the text encoder's 16"):  # every caption checked before the run starts
        train_wan(clip_config(tiny_setup, tmp_path / "bad", text_max_length=16), progress=False)
    assert not (tmp_path / "bad").exists()


def test_clips_join_an_image_run_in_a_later_leg(tiny_setup, tmp_path, capsys):
    run = tmp_path / "run"
    train_wan(tiny_config(tiny_setup, run, steps=2, log_every=1, text_max_length=64), progress=False)
    assert "clip_loss" not in (run / "log.jsonl").read_text() and clips_seen(run) == 0
    capsys.readouterr()
    train_wan(clip_config(tiny_setup, run, steps=4, log_every=1), progress=False)
    said = capsys.readouterr().out
    assert "settings change from this leg on, at step 2" in said and "clips_per_step: 0 -> 2" in said
    recorded = json.loads((run / "wan_config.json").read_text())
    assert (recorded["clips"], recorded["clips_per_step"], recorded["steps"]) == (str(tiny_setup / "clips"), 2, 4)
    rows = [json.loads(r) for r in (run / "log.jsonl").read_text().splitlines()]
    assert ["clip_loss" in r for r in rows] == [False, False, True, True]
    assert samples_seen(run) == 16 and clips_seen(run) == 4  # images count as before; clips from step 3 on
    with pytest.raises(ValueError, match="other settings.*lr"):
        train_wan(clip_config(tiny_setup, run, steps=4, lr=5e-3), progress=False)


def test_the_base_samples_text_to_video_and_eval_video_scores_it(tiny_setup, tmp_path):
    import shutil

    from typer.testing import CliRunner

    from reasongen.cli import app
    from reasongen.methods.reasondiff.bench import read_strip
    from reasongen.methods.reasondiff.world_narrator import ShapesNarrator
    from reasongen.world.video import dense_caption, make_case

    train_wan(clip_config(tiny_setup, tmp_path / "run", steps=1), progress=False)
    pipeline = tmp_path / "run" / "pipeline"
    cases = [make_case(np.random.default_rng(i), 5, paired=i == 0) for i in range(2)]
    bench = tmp_path / "cases.jsonl"
    bench.write_text("".join(json.dumps(c.to_json()) + "\n" for c in cases))

    def sample(out, *more):
        return CliRunner().invoke(app, ["sample", "video", "--outdir", str(tmp_path / out), "--model", str(pipeline),
                                        "--benchmark", str(bench), "--steps", "2", *more])  # fmt: skip

    res = sample("oracle")
    assert res.exit_code == 0, res.output + repr(res.exception)
    info = json.loads((tmp_path / "oracle" / "info.json").read_text())
    assert info["conditioning"] == "text" and info["narrator"] == "oracle"
    records = [json.loads(r) for r in (tmp_path / "oracle" / "records.jsonl").read_text().splitlines()]
    for case, r in zip(cases, records):  # one dense prompt, the clip's true first and last frames
        assert r["narratives"] == [dense_caption(case.text, case.clip.frame_captions[0], case.clip.frame_captions[-1])] * 5
        frames = read_strip(tmp_path / "oracle" / f"{r['index']:04d}.png", 5)
        assert frames.shape == (5, 32, 32, 3) and len({f.tobytes() for f in frames}) > 1  # five frames drawn, not one repeated
    res = sample("rewrite", "--narrator", "rewrite")
    assert res.exit_code == 0, res.output + repr(res.exception)
    told = [json.loads(r)["narratives"] for r in (tmp_path / "rewrite" / "records.jsonl").read_text().splitlines()]
    for case, narratives in zip(cases, told):  # the rewrite is already one dense prompt: not doubled
        full = ShapesNarrator()(case.text, case.image(), 5)
        assert narratives == [dense_caption(case.text, full.narratives[0], full.narratives[-1])] * 5
    res = CliRunner().invoke(app, ["eval", "video", str(tmp_path / "oracle"), "--out", str(tmp_path / "oracle.json")])
    assert res.exit_code == 0, res.output + repr(res.exception)
    summary = json.loads((tmp_path / "oracle.json").read_text())["summary"]
    assert summary["conditioning"] == "text" and summary["clips"] == 2 and 0 <= summary["text_consistency"] <= 1
    res = sample("x", "--enhanced")
    assert res.exit_code != 0 and "no AlignFormer" in res.output
    chain = tmp_path / "chain"  # a CoF chain model is not the plain base
    shutil.copytree(pipeline, chain)
    index = json.loads((chain / "model_index.json").read_text())
    (chain / "model_index.json").write_text(json.dumps({**index, "num_frames": 3}))
    res = CliRunner().invoke(app, ["sample", "video", "--outdir", str(tmp_path / "y"), "--model", str(chain), "--benchmark", str(bench)])
    assert res.exit_code != 0 and "it is a CoF model, not the plain wan base" in res.output
