import json

import numpy as np
import pytest
import torch

from reasongen.backbones.janus import build_janus
from reasongen.backbones.text import shapes_tokenizer
from reasongen.methods.t2i_r1.data import BiCoTRecords, build_records
from reasongen.methods.t2i_r1.format import SequenceFormat
from reasongen.methods.t2i_r1.pipeline import T2IR1Pipeline
from reasongen.methods.t2i_r1.train import BiCoTSFTTask
from reasongen.train.loop import TrainConfig, train
from reasongen.train.vq import build_vq


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bicot")
    torch.manual_seed(0)
    tok = shapes_tokenizer()
    model = build_janus("tiny", tok)
    vq = model.model.vqmodel.eval()
    build_records(tmp / "data", vq, 8)
    data = BiCoTRecords(tmp / "data")
    task = BiCoTSFTTask(tok, SequenceFormat(tok))
    train(model, task, data, TrainConfig(str(tmp / "run"), steps=3, batch_size=4, lr=1e-3, log_every=1), progress=False)
    return tmp, model, tok


def test_records_hold_cot_codes_and_metadata(trained):
    tmp, model, tok = trained
    data = BiCoTRecords(tmp / "data")
    batch = data.batch([0, 1, 2])
    assert batch["codes"].shape == (3, 64) and batch["codes"].max() < 64
    assert all(isinstance(c, str) and c for c in batch["cots"]) and batch["metadata"][0]["prompt"] == batch["prompts"][0]
    with pytest.raises(ValueError, match="n=8"):
        build_records(tmp / "data", build_vq("tiny"), 9)


def test_sft_learns_both_heads(trained):
    tmp, _, _ = trained
    logs = [json.loads(line) for line in (tmp / "run" / "log.jsonl").read_text().splitlines()]
    assert len(logs) == 3 and all(np.isfinite(r["image_ce"]) for r in logs) and any("cot_ce" in r for r in logs)
    with pytest.raises(ValueError, match="leave room"):
        BiCoTSFTTask(shapes_tokenizer(), SequenceFormat(shapes_tokenizer()), p_direct=0.6, p_uncond=0.5)


def test_pipeline_round_trip_and_modes(trained, tmp_path):
    _, model, tok = trained
    pipe = T2IR1Pipeline(model, tok, max_cot_tokens=6)
    with_cot = pipe("a photo of a star", seeds=[1, 2])
    assert len(with_cot) == 2 and with_cot[0].image.shape == (64, 64, 3) and isinstance(with_cot[0].cot, str)
    direct = pipe("a photo of a star", seeds=1, use_cot=False)[0]
    assert direct.cot is None
    pipe.save_pretrained(tmp_path / "p")
    again = T2IR1Pipeline.from_pretrained(tmp_path / "p")
    b = again("a photo of a star", seeds=[1, 2])
    assert [o.cot for o in b] == [o.cot for o in with_cot]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(b, with_cot))
    with pytest.raises(ValueError, match="one seed per prompt"):
        pipe(["a", "b"], seeds=[1, 2, 3])


def test_records_keep_renders_captions_and_object_tokens(trained):
    from reasongen.world.dataset import draw_record
    from reasongen.world.describe import describe
    from reasongen.world.render import object_mask
    from reasongen.world.vocab import ALL_TAGS

    tmp, _, _ = trained
    data = BiCoTRecords(tmp / "data")
    batch = data.batch([0, 3])
    assert batch["images"].shape == (2, 64, 64, 3) and batch["images"].dtype == torch.uint8
    # a token is marked exactly when its 8 x 8 pixels hold something other than the ground
    assert torch.equal(batch["objects"], torch.from_numpy(object_mask(batch["images"].numpy(), 8)).view(2, 64))
    assert 0 < batch["objects"].sum() < 2 * 64
    for i, caption in zip((0, 3), batch["captions"]):
        meta, scene = draw_record(0, i, ALL_TAGS, "in_distribution")
        assert caption == describe(scene) and np.array_equal(batch["images"][0 if i == 0 else 1].numpy(), scene.render(64))


def test_captions_read_the_image_through_the_understanding_encoder(trained):
    from reasongen.backbones.janus import JanusT2I

    tmp, model, tok = trained
    janus, fmt = JanusT2I(model, tok), SequenceFormat(tok)
    batch = BiCoTRecords(tmp / "data").batch([0, 1])
    prefix = fmt.caption_prefix(janus.understanding_tokens)
    caption = [fmt.cot_ids(batch["captions"][0])] * 2
    with torch.no_grad():
        logp, mask = janus.text_logprobs([prefix] * 2, caption, images=batch["images"])
        same, _ = janus.text_logprobs([prefix] * 2, caption, images=batch["images"][[0, 0]])
    assert torch.allclose(logp[0], same[0]) and not torch.allclose(logp[1], same[1])  # only the image differs
    with pytest.raises(ValueError, match="image placeholders"):
        janus.text_logprobs([prefix] * 2, caption, images=batch["images"][:1])
    with pytest.raises(ValueError, match="real Janus-Pro comes pretrained"):
        SequenceFormat(tok, "janus-pro").caption_prefix(4)


def test_pretraining_learns_to_draw_and_caption(trained, tmp_path):
    from reasongen.backbones.janus import JanusT2I
    from reasongen.methods.t2i_r1.train import JanusPretrainTask, T2IR1TrainConfig, train_t2i_r1

    tmp, _, tok = trained
    torch.manual_seed(1)
    start = T2IR1Pipeline(build_janus("tiny", tok), tok)
    start.save_pretrained(tmp_path / "start")
    data = BiCoTRecords(tmp / "data")
    batch, fmt = data.batch(range(8)), SequenceFormat(tok)

    def losses(model):
        janus = JanusT2I(model, tok)
        with torch.no_grad():
            image = -janus.image_logprobs([fmt.image_prefix(p, None) for p in batch["prompts"]], batch["codes"]).mean()
            logp, mask = janus.text_logprobs([fmt.caption_prefix(janus.understanding_tokens)] * 8,
                                             [fmt.cot_ids(c) for c in batch["captions"]], images=batch["images"])  # fmt: skip
        return image.item(), (-(logp * mask).sum() / mask.sum()).item()

    before = losses(start.model)
    cfg = T2IR1TrainConfig(str(tmp / "data"), str(tmp_path / "run"), stage="pretrain", init_from=str(tmp_path / "start"), steps=25,
                           batch_size=8, lr=3e-3, p_caption=0.5, object_weight=4.0, checkpoint_every=25)  # fmt: skip
    after_pipe = train_t2i_r1(cfg, progress=False)
    after = losses(after_pipe.model.float())
    assert after[0] < before[0] and after[1] < 0.7 * before[1], (before, after)
    logs = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert any("caption_ce" in r for r in logs) and any("image_ce" in r for r in logs)
    # pretraining trains the understanding encoder with the language model; the tokenizer stays as it was
    # (up to the fp16 rounding of the saved pipeline, which the model in memory goes through)
    for part, moved in (("vision_model", True), ("vqmodel", False)):
        same = all(torch.equal(a.half(), b.half()) for a, b in zip(getattr(start.model.model, part).parameters(),
                                                                  getattr(after_pipe.model.model, part).parameters()))  # fmt: skip
        assert same != moved, part
    with pytest.raises(ValueError, match="leave room"):
        JanusPretrainTask(tok, fmt, p_caption=0.95)
    with pytest.raises(ValueError, match="--p-caption"):
        T2IR1TrainConfig("d", "o", stage="pretrain", vq="v", p_caption=1.0).check()
