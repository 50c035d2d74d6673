import pytest
import torch

from reasongen.methods.reasondiff.alignformer import AlignFormer, aux_latent_loss


def inputs(B=2, F=5, L=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    anchor = torch.randn(B, 8, 4, 4, generator=g)
    narratives = torch.randn(B, F, L, 16, generator=g)
    mask = torch.ones(B, F, L, dtype=torch.bool)
    mask[:, :, 4:] = False
    return anchor, narratives, mask, torch.tensor([0, 3])


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return AlignFormer(latent_channels=8, text_dim=16, dim=32, heads=4).eval()


def test_per_frame_latents_keep_the_anchor(model):
    anchor, narratives, mask, idx = inputs()
    out = model(anchor, narratives, mask, idx)
    assert out.shape == (2, 8, 5, 4, 4)
    torch.testing.assert_close(out[0, :, 0], anchor[0])
    torch.testing.assert_close(out[1, :, 3], anchor[1])
    assert not torch.allclose(out[0, :, 1], anchor[0])


def test_narratives_and_anchor_position_steer_the_frames(model):
    anchor, narratives, mask, idx = inputs()
    with torch.no_grad():
        base = model(anchor, narratives, mask, idx)
        changed = narratives.clone()
        changed[:, 2] += 1.0
        moved = model(anchor, changed, mask, idx)
        assert (moved[:, :, 2] - base[:, :, 2]).abs().mean() > (moved[:, :, 4] - base[:, :, 4]).abs().mean()
        elsewhere = model(anchor, narratives, mask, torch.tensor([1, 3]))
        assert not torch.allclose(elsewhere[0, :, 2], base[0, :, 2])
        # padding tokens are ignored
        noisy = narratives.clone()
        noisy[:, :, 4:] = 100.0
        torch.testing.assert_close(model(anchor, noisy, mask, idx), base, atol=1e-5, rtol=1e-5)


def test_gradients_reach_every_part_and_bad_anchor_is_refused(model):
    anchor, narratives, mask, idx = inputs()
    model.train()
    target = torch.randn(2, 8, 5, 4, 4)
    aux_latent_loss(model(anchor, narratives, mask, idx), target).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    model.zero_grad()
    model.eval()
    with pytest.raises(ValueError, match="outside the 5 frames"):
        model(anchor, narratives, mask, torch.tensor([0, 5]))
    assert aux_latent_loss(torch.ones(3), torch.zeros(3)).item() == pytest.approx(0.2)
