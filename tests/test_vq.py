import torch

from reasongen.train.data import ShapesImages
from reasongen.train.vq import VQTask, build_vq, finish_vq, load_vq, roundtrip, vq_forward


def test_gradients_reach_the_encoder_through_the_quantizer():
    torch.manual_seed(0)
    vq = build_vq("tiny")
    x = ShapesImages(4, 64, 0, 0.0).batch(range(4))
    rec, emb_loss, idx, h = vq_forward(vq, x)
    assert rec.shape == x.shape and idx.shape == (4, 64) and h.shape == (4 * 64, 8)
    ((rec - x) ** 2).mean().backward()
    assert vq.encoder.conv_in.weight.grad.abs().sum() > 0  # straight-through: the encoder learns


def test_dead_codes_move_onto_encoder_outputs():
    torch.manual_seed(0)
    vq = build_vq("tiny")
    task = VQTask(restart_every=1)
    x = ShapesImages(4, 64, 0, 0.0).batch(range(4))
    task.loss(vq, x, torch.Generator().manual_seed(0))  # counts which codes this batch uses
    before = vq.quantize.embedding.weight.detach().clone()
    loss, logs = task.loss(vq, x, torch.Generator().manual_seed(0))
    loss.backward()  # the restart happened before the forward, so the graph is intact
    after = vq.quantize.embedding.weight.detach()
    moved = (after != before).any(1)
    assert logs["restarted"] == int(moved.sum()) > 0
    h = vq_forward(vq, x)[3].detach()
    for row in after[moved]:  # each moved code now sits on one of the batch's encoder outputs
        assert torch.isclose(h, row).all(1).any()


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    vq = build_vq("tiny")
    held = ShapesImages(8, 64, 1, 0.0).batch(range(8))
    report = finish_vq(vq, held, tmp_path / "vq")
    assert report["heldout_images"] == 8 and 1 <= report["codes_used"] <= report["codebook"] == 64
    again = load_vq(tmp_path / "vq")
    a, codes_a = roundtrip(vq, held)
    b, codes_b = roundtrip(again, held)
    assert torch.equal(codes_a, codes_b) and torch.allclose(a, b)


def test_saved_tokenizer_decodes_what_training_decoded(tmp_path):
    # transformers decodes through l2-normalised codes; training must quantise the same way, or the
    # decoder meets vectors at inference that it never saw (the tokenizer then stalls at the mean image)
    torch.manual_seed(0)
    vq = build_vq("tiny")
    with torch.no_grad():
        vq.quantize.embedding.weight.mul_(3.0)  # codes far from unit norm
    x = ShapesImages(4, 64, 0, 0.0).batch(range(4))
    vq.eval()
    with torch.no_grad():
        rec, _, idx, _ = vq_forward(vq, x)
    finish_vq(vq, x, tmp_path / "vq")
    back, codes = roundtrip(load_vq(tmp_path / "vq"), x)
    assert torch.equal(codes, idx)
    assert torch.allclose(back, rec.clamp(-1, 1), atol=1e-5)


def test_the_16x16_preset_codes_an_image_as_256_tokens_of_4_pixels():
    torch.manual_seed(0)
    vq = build_vq("shapes16")
    x = ShapesImages(2, 64, 0, 0.0).batch(range(2))
    rec, _, idx, _ = vq_forward(vq, x)
    assert idx.shape == (2, 256) and rec.shape == x.shape  # 16 x 16 tokens, decoded back to 64 px


def test_the_4k_preset_keeps_64_tokens_from_a_larger_codebook():
    from reasongen.backbones.janus import build_janus
    from reasongen.backbones.text import shapes_tokenizer

    torch.manual_seed(0)
    vq = build_vq("shapes4k")
    x = ShapesImages(2, 64, 0, 0.0).batch(range(2))
    rec, _, idx, _ = vq_forward(vq, x)
    assert idx.shape == (2, 64) and rec.shape == x.shape and vq.quantize.embedding.weight.shape[0] == 4096
    janus = build_janus("shapes4k", shapes_tokenizer())  # the language model draws from all 4,096 codes
    assert janus.model.generation_head.vision_head.out_features == 4096


def test_time_budget_legs_resume_to_the_uninterrupted_tokenizer(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    import reasongen.train.vq
    from reasongen.methods.autoencoder_config import VQTrainConfig
    from reasongen.methods.autoencoders import train_vq

    full_report = reasongen.train.vq.finish_vq
    monkeypatch.setattr(reasongen.train.vq, "finish_vq", lambda vq, heldout, out: full_report(vq, heldout[:8], out))  # 512 held-out images take half a minute

    def config(out, **kw):
        return VQTrainConfig(str(out), preset="tiny", steps=2, batch_size=2, teacher_steps=1, restart_every=2, checkpoint_every=10, **kw)

    train_vq(config(tmp_path / "whole"), progress=False)
    legs = tmp_path / "legs"
    for leg in range(2):  # a budget of 0 minutes stops each leg after one step, with a checkpoint
        train_vq(config(legs, time_budget=0.0), progress=False)
        assert sorted(p.name for p in (legs / "checkpoints").iterdir())[-1] == f"step-{leg + 1:08d}"
    whole, resumed = (load_file(next((run / "vq").glob("*.safetensors"))) for run in (tmp_path / "whole", legs))
    assert whole.keys() == resumed.keys() and all(torch.equal(whole[k], resumed[k]) for k in whole)
