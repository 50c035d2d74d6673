import json

import numpy as np
import pytest
import torch

from reasongen.backbones.foxperts import build_foxperts
from reasongen.backbones.text import shapes_tokenizer
from reasongen.backbones.wan import FrameVAE, build_vae
from reasongen.methods.fox.data import MCoTRecords, blank, build_records, encode_records, record
from reasongen.methods.fox.plan import parse_layout
from reasongen.methods.fox.train import IGNORE, MCoTTask, encode_texts
from reasongen.train.loop import TrainConfig, train


@pytest.fixture(scope="module")
def records():
    return [record(0, i, 64) for i in range(60)]


def test_every_flaw_kind_occurs_with_a_mask_that_covers_it(records):
    kinds = {r["flaw"] for r in records}
    assert {"none", "malformed", "wrong_class"} <= kinds and len(kinds) >= 5
    for r in records:
        differs = (r["target"] != r["flawed"]).any(-1)
        if r["flaw"] == "none":
            assert not r["mask"].any() and not differs.any()
        else:
            assert differs.any(), r["flaw"]
            assert not (differs & ~r["mask"]).any(), f"{r['flaw']}: pixels that differ lie outside the mask"
            assert r["mask"].mean() < 0.5  # a region, not the whole image
            # blanking the mask leaves only what the target also shows
            outside = ~r["mask"]
            assert (blank(r["flawed"], r["mask"])[outside] == r["target"][outside]).all()


def test_plans_parse_back_to_one_box_per_object(records):
    for r in records:
        parsed = parse_layout(r["layout"])
        assert not parsed.problems
        assert len(parsed.boxes) == r["caption"].count(" and ") + r["caption"].count(", ") + 1


def test_encode_texts_learns_the_plan_not_the_prompt():
    tok = shapes_tokenizer()
    ids, valid, labels = encode_texts(tok, [["a photo of a star", "a large red star at the top", "{}"], [""]], learn_from=1)
    n_prompt = len(tok("a photo of a star").input_ids)
    assert (labels[0, :n_prompt] == IGNORE).all() and (labels[0, n_prompt:][valid[0, n_prompt:]] != IGNORE).all()
    assert ids[0, n_prompt - 1] == tok.eos_token_id  # parts are ended by </s>
    assert valid[1].sum() == 1 and (labels[1] == IGNORE).all()  # the empty prompt is one </s>, nothing learnt


def test_build_encode_and_train_each_task(tmp_path):
    build_records(tmp_path, 6, size=64, seed=0, workers=1)
    with pytest.raises(ValueError, match="n=6"):
        build_records(tmp_path, 7, size=64, seed=0, workers=1)
    torch.manual_seed(0)
    fvae = FrameVAE(build_vae("tiny")).eval()
    encode_records(tmp_path, fvae)
    data = MCoTRecords(tmp_path)
    batch = data.batch([0, 1, 2])
    assert batch["target"].shape == (3, 4, 8, 8) and batch["mask"].shape == (3, 64, 64)
    from reasongen.world.render import object_mask

    targets = np.stack([record(0, i, 64)["target"] for i in range(3)])
    assert torch.equal(batch["objects"], torch.from_numpy(object_mask(targets, 8)).float())  # per 8 x 8 latent cell
    assert 0 < batch["objects"].mean() < 1
    assert json.loads((tmp_path / "records.json").read_text())["n"] == 6

    tok = shapes_tokenizer()
    model = build_foxperts("tiny", vocab_size=len(tok))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    task = MCoTTask(tok, pixels_per_latent=8)
    cfg = TrainConfig(str(tmp_path / "run"), steps=3, batch_size=3, lr=1e-3, checkpoint_every=3, log_every=1)
    model = train(model, task, data, cfg, progress=False)
    logs = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [sorted(k for k in rec if k not in ("step", "loss", "lr", "sec_per_step")) for rec in logs] == [
        ["act_flow", "plan_lm"], ["reflect_bce"], ["correct_flow"]
    ]
    assert all(np.isfinite(rec["loss"]) for rec in logs)
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    for expert in range(3):  # each task reached its expert
        assert any(f"experts.{expert}." in n for n in moved), expert
    assert "heatmap_head.weight" in moved and "velocity_head.weight" in moved
    assert (tmp_path / "run" / "checkpoints").is_dir()


def test_unknown_task_is_refused():
    with pytest.raises(ValueError, match="unknown FoX tasks"):
        MCoTTask(shapes_tokenizer(), tasks=("plan_act", "dream"))


def test_pretraining_stages_train_drawing_then_understanding(tmp_path):
    """Stage I draws from the prompt alone; Stage II adds captioning and visual questions, which
    reach the semantic-visual expert (clean images) and lower their own losses."""
    from reasongen.backbones.foxperts import ImageSegment, TextSegment
    from reasongen.methods.fox.config import STAGE_TASKS, FoXTrainConfig

    build_records(tmp_path, 6, size=64, seed=0, workers=1)
    torch.manual_seed(0)
    fvae = FrameVAE(build_vae("tiny")).eval()
    encode_records(tmp_path, fvae)
    data = MCoTRecords(tmp_path)
    batch = data.batch(range(6))
    assert all(q.endswith("?") and a for q, a in zip(batch["question"], batch["answer"]))
    tok = shapes_tokenizer()
    model = build_foxperts("tiny", vocab_size=len(tok))

    def vqa_loss():
        ids, valid, labels = encode_texts(tok, [[q, a] for q, a in zip(batch["question"], batch["answer"])], learn_from=1)
        with torch.no_grad():
            logits = model([ImageSegment(batch["target"]), TextSegment(ids, valid)])[1]
        return MCoTTask._lm_loss(logits, labels).item()

    stage1 = train(model, MCoTTask(tok, tasks=STAGE_TASKS[1], pixels_per_latent=8), data,
                   TrainConfig(str(tmp_path / "s1"), steps=2, batch_size=3, lr=1e-3, log_every=1), progress=False)  # fmt: skip
    logs = [json.loads(line) for line in (tmp_path / "s1" / "log.jsonl").read_text().splitlines()]
    assert all("t2i_flow" in r and "plan_lm" not in r for r in logs)
    before_params = {n: p.detach().clone() for n, p in stage1.named_parameters()}
    before = vqa_loss()
    stage2 = train(stage1, MCoTTask(tok, tasks=STAGE_TASKS[2], pixels_per_latent=8), data,
                   TrainConfig(str(tmp_path / "s2"), steps=30, batch_size=6, lr=3e-3, log_every=1), progress=False)  # fmt: skip
    logs = [json.loads(line) for line in (tmp_path / "s2" / "log.jsonl").read_text().splitlines()]
    assert {k for r in logs for k in r} >= {"t2i_flow", "caption_lm", "vqa_lm"}
    assert vqa_loss() < 0.7 * before
    moved = {n for n, p in stage2.named_parameters() if not torch.equal(p, before_params[n])}
    assert any("experts.1." in n for n in moved)  # the semantic-visual expert learns from clean images
    # the object-weighted flow loss weighs the object cells more: not the plain loss, same noise
    plain, weighted = (MCoTTask(tok, tasks=("t2i",), pixels_per_latent=8, object_weight=w).loss(model, batch, torch.Generator().manual_seed(0))[0]
                       for w in (1.0, 8.0))  # fmt: skip
    assert torch.isfinite(weighted) and not torch.isclose(plain, weighted)
    with pytest.raises(ValueError, match="--stage 4"):
        FoXTrainConfig("d", "v", "o", stage=4).check()
