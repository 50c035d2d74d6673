import pytest
import torch

from reasongen.backbones.foxperts import FoXpertsModel, ImageSegment, TextSegment, build_foxperts
from reasongen.backbones.text import shapes_tokenizer

VOCAB = len(shapes_tokenizer())


def tiny(experts="functional", **kw):
    torch.manual_seed(0)
    model = build_foxperts("tiny", vocab_size=VOCAB, experts=experts, **kw).eval()
    with torch.no_grad():  # the velocity head starts at zero; give it weights so outputs can differ
        model.velocity_head.weight.normal_(std=0.1)
    return model


def segments(batch=2, seed=0, text_len=5):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, VOCAB, (batch, text_len), generator=g)
    clean = torch.randn(batch, 4, 8, 8, generator=g)
    noisy = torch.randn(batch, 4, 8, 8, generator=g)
    return [TextSegment(ids), ImageSegment(clean), ImageSegment(noisy, timestep=torch.full((batch,), 500.0))]


def test_outputs_have_each_heads_shape():
    text, heat, vel = tiny()(segments())
    assert text.shape == (2, 5, VOCAB)
    assert heat.shape == (2, 1, 64, 64)  # image resolution: 8 latent px x 8
    assert vel.shape == (2, 4, 8, 8)


def test_text_path_is_exactly_qwen2(tmp_path):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      intermediate_size=64, rope_theta=1e4, rms_norm_eps=1e-6, tie_word_embeddings=True)  # fmt: skip
    torch.manual_seed(1)
    qwen = Qwen2ForCausalLM(cfg).eval()
    with torch.no_grad():  # non-zero biases and norms, so a wrong mapping cannot pass
        for p in qwen.parameters():
            p.add_(0.05 * torch.randn_like(p))
    qwen.save_pretrained(tmp_path, safe_serialization=True)
    model = tiny()
    model.load_qwen2(tmp_path)
    ids = torch.randint(4, VOCAB, (2, 9))
    with torch.no_grad():
        ours = model([TextSegment(ids)])[0]
        theirs = qwen(input_ids=ids).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    # every expert starts from the same Qwen2 layer, as the paper initialises them
    layer = model.layers[0]
    assert torch.equal(layer.experts[0].q_proj.weight, layer.experts[2].q_proj.weight)


def test_qwen2_of_another_size_is_refused(tmp_path):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(vocab_size=VOCAB, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      intermediate_size=64)  # fmt: skip
    Qwen2ForCausalLM(cfg).save_pretrained(tmp_path, safe_serialization=True)
    with pytest.raises(ValueError, match="does not fit"):
        tiny().load_qwen2(tmp_path)


def test_attention_is_causal_between_segments_and_bidirectional_inside_images():
    model = tiny()
    base = segments()
    with torch.no_grad():
        text, heat, vel = model(base)
        # a later segment never reaches an earlier one
        changed = segments()
        changed[2] = ImageSegment(torch.randn(2, 4, 8, 8), timestep=torch.full((2,), 500.0))
        text2, heat2, vel2 = model(changed)
        torch.testing.assert_close(text, text2)
        torch.testing.assert_close(heat, heat2)
        assert not torch.allclose(vel, vel2)
        # inside an image every token sees every other: changing the last latent pixel moves the first patch's heatmap
        clean = base[1].latents.clone()
        clean[:, :, -1, -1] += 3.0
        heat3 = model([base[0], ImageSegment(clean), base[2]])[1]
        assert not torch.allclose(heat[:, :, :8, :8], heat3[:, :, :8, :8])
        # text is causal: a later token does not change the logits of an earlier one
        ids = base[0].ids.clone()
        ids[:, -1] = (ids[:, -1] + 1 - 4) % (VOCAB - 4) + 4
        text4 = model([TextSegment(ids)] + base[1:])[0]
        torch.testing.assert_close(text[:, :-1], text4[:, :-1])


def test_tokens_go_to_their_functional_expert():
    model = tiny()
    seq = segments()
    with torch.no_grad():
        text, heat, vel = model(seq)
        for layer in model.layers:  # perturb the generative-visual expert only
            for p in layer.experts[2].parameters():
                p.add_(0.5)
        text2, heat2, vel2 = model(seq)
    torch.testing.assert_close(text, text2)  # text and the clean image come before the noised one
    torch.testing.assert_close(heat, heat2)
    assert not torch.allclose(vel, vel2)


@pytest.mark.parametrize("experts,count", [("functional", 3), ("modality", 2), ("dense", 1)])
def test_expert_layouts_of_the_ablation(experts, count):
    model = tiny(experts)
    assert len(model.layers[0].experts) == count
    text, heat, vel = model(segments())
    assert torch.isfinite(vel).all() and torch.isfinite(heat).all()


def test_padding_changes_nothing():
    model = tiny()
    seq = segments(batch=1, text_len=4)
    padded_ids = torch.cat([seq[0].ids, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    valid = torch.tensor([[1, 1, 1, 1, 0, 0, 0]], dtype=torch.bool)
    with torch.no_grad():
        text, heat, vel = model(seq)
        text_p, heat_p, vel_p = model([TextSegment(padded_ids, valid)] + seq[1:])
    torch.testing.assert_close(text, text_p[:, :4], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(heat, heat_p, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(vel, vel_p, atol=1e-5, rtol=1e-5)


def test_masked_share_marks_clean_tokens():
    model = tiny()
    with torch.no_grad():
        model.mask_embed.normal_()
        seq = segments()
        mask = torch.zeros(2, 8, 8)
        mask[:, :4, :4] = 1.0
        heat = model(seq)[1]
        heat_m = model([seq[0], ImageSegment(seq[1].latents, masked=mask), seq[2]])[1]
    assert not torch.allclose(heat, heat_m)


def test_wrong_latent_shape_is_refused():
    with pytest.raises(ValueError, match=r"\(4, 8, 8\)"):
        tiny()([ImageSegment(torch.randn(1, 4, 16, 16))])


def test_save_and_load_round_trip(tmp_path):
    model = tiny()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    again = FoXpertsModel.from_pretrained(tmp_path, local_files_only=True, use_safetensors=True).eval()
    seq = segments()
    with torch.no_grad():
        for a, b in zip(model(seq), again(seq)):
            torch.testing.assert_close(a, b)


def test_unknown_layout_and_preset_are_refused():
    with pytest.raises(ValueError, match="expert layout"):
        build_foxperts("tiny", vocab_size=VOCAB, experts="sparse")
    with pytest.raises(ValueError, match="preset"):
        build_foxperts("huge", vocab_size=VOCAB)


@pytest.mark.parametrize("experts", ["functional", "dense"])
def test_cached_text_decoding_equals_the_full_forward(experts):
    torch.manual_seed(0)
    model = build_foxperts("tiny", vocab_size=50, experts=experts).eval()
    ids = torch.randint(0, 50, (3, 9))
    with torch.no_grad():
        full = model([TextSegment(ids)])[0]
        logits, cache = model.decode_text(ids[:, :5])  # a prompt, then one token at a time
        pieces = [logits]
        for t in range(5, 9):
            logits, cache = model.decode_text(ids[:, t : t + 1], cache)
            pieces.append(logits)
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-4, atol=1e-5)
    assert cache[0][0].shape[2] == 9
