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
