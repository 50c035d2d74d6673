import pytest
import torch

from reasongen.backbones.text import load_text_encoder, tiny_text_encoder
from reasongen.flow import add_noise, make_scheduler, sample, sample_sigmas, shift_sigmas, velocity_target


def test_padded_positions_are_exact_zeros():
    te = tiny_text_encoder(max_length=16)
    out = te(["a photo of a red circle", "a photo of three hearts left of a blue star"])
    n0 = len(te.tokenizer("a photo of a red circle").input_ids)
    assert out.shape == (2, 16, 32)
    assert out[0, n0:].abs().sum() == 0 and out[0, :n0].abs().sum(-1).min() > 0


def test_too_long_prompt_is_refused_not_cut():
    te = tiny_text_encoder(max_length=8)
    with pytest.raises(ValueError, match="longer than the text encoder's 8;"):
        te(["a photo of a red circle left of a blue star"])


def test_minilm_is_the_packaged_model():
    te = load_text_encoder("minilm")
    assert te.dim == 384 and te.max_length == 64
    a, b = te(["a photo of a red circle", "a photo of a blue star"])
    assert not torch.allclose(a, b)


def test_umt5_without_weights_says_what_to_pass():
    with pytest.raises(ValueError, match="local diffusers folder"):
        load_text_encoder("umt5")


def test_flow_definitions():
    x0, e = torch.randn(4, 3), torch.randn(4, 3)
    s = torch.tensor([0.0, 0.25, 0.5, 1.0])
    xt = add_noise(x0, e, s)
    assert torch.allclose(xt[0], x0[0]) and torch.allclose(xt[3], e[3])
    assert torch.allclose(xt[1], 0.75 * x0[1] + 0.25 * e[1])
    assert torch.equal(velocity_target(x0, e), e - x0)
    assert torch.allclose(shift_sigmas(torch.tensor([0.5]), 3.0), torch.tensor([0.75]))
    sig = sample_sigmas(1000, torch.Generator().manual_seed(0), shift=3.0)
    assert 0 < sig.min() and sig.max() < 1 and sig.mean() > 0.6  # the shift favours high noise


@pytest.mark.parametrize("name", ["euler", "unipc"])
def test_samplers_follow_the_exact_velocity_to_the_data(name):
    """For a single data point x0, v(x_t, s) = (x_t - x0) / s exactly; called with timestep 1000 s."""
    x0 = torch.tensor([[0.3, -1.2, 2.0]])

    def model(x, t, ctx):
        s = (t / 1000).view(-1, 1)
        return (x - x0) / s

    out = sample(model, torch.randn(1, 3, generator=torch.Generator().manual_seed(0)), make_scheduler(name, 3.0), 10)
    # UniPC hands the model integer timesteps (999, 978, ...), so 1000 s is off by < 1e-3 and the
    # exact field is followed a little less exactly
    assert torch.allclose(out, x0, atol=1e-3 if name == "euler" else 1e-2)


def test_guidance_combines_conditional_and_unconditional():
    calls = []

    def model(x, t, ctx):
        calls.append(ctx)
        return torch.full_like(x, 1.0 if ctx == "c" else 0.0)

    sch = make_scheduler("euler", 1.0)
    out = sample(model, torch.zeros(1, 2), sch, 4, guidance_scale=3.0, cond="c", uncond="u")
    assert calls == ["c", "u"] * 4
    assert torch.allclose(out, torch.full((1, 2), -3.0))  # v = 0 + 3 (1 - 0), integrated from s=1 to 0


def test_batched_guidance_is_one_call_a_step_with_the_same_result():
    calls = []

    def model(x, t, ctx):  # a velocity that depends on x, t and the context, row by row
        calls.append(x.shape[0])
        return x * ctx[:, :1] + t[:, None] / 1000

    cond, uncond = torch.tensor([[2.0], [3.0]]), torch.tensor([[0.5], [0.5]])
    x = torch.randn(2, 4, generator=torch.Generator().manual_seed(0))
    apart = sample(model, x, make_scheduler("euler", 1.0), 4, guidance_scale=3.0, cond=cond, uncond=uncond)
    assert calls == [2] * 8
    calls.clear()
    together = sample(model, x, make_scheduler("euler", 1.0), 4, guidance_scale=3.0, cond=cond, uncond=uncond, batch_guidance=True)
    assert calls == [4] * 4
    assert torch.allclose(together, apart, atol=1e-6)
