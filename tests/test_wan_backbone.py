import pytest
import torch

from reasongen.backbones.wan import PRESETS, FrameVAE, build_transformer, build_vae, valid_clip_length


@pytest.fixture(scope="module")
def fvae():
    torch.manual_seed(0)
    return FrameVAE(build_vae("tiny", latents_mean=[0.1, -0.2, 0.3, 0.0], latents_std=[2.0, 1.0, 0.5, 1.5])).eval()


def frames(k, seed=0, size=32):
    return torch.rand(1, k, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@torch.no_grad()
def test_frame_wise_encoding_is_independent(fvae):
    x = frames(3)
    z = fvae.encode_frames(x)
    assert z.shape == (1, 4, 3, 4, 4)  # one latent frame per frame
    for k in range(3):
        assert torch.allclose(z[:, :, k : k + 1], fvae.encode_frames(x[:, k : k + 1]), atol=1e-6)
    y = x.clone()
    y[:, 2] = frames(1, seed=5)[:, 0]
    z2 = fvae.encode_frames(y)
    assert torch.equal(z2[:, :, :2], z[:, :, :2]) and not torch.allclose(z2[:, :, 2], z[:, :, 2])


@torch.no_grad()
def test_decode_frames_and_normalisation(fvae):
    z = fvae.encode_frames(frames(3))
    raw = fvae.vae.encode(frames(3)[:, 0].unsqueeze(2)).latent_dist.mode()
    assert torch.allclose(fvae.denormalize(z[:, :, :1]), raw, atol=1e-6)  # (z - mean) / std, inverted
    out = fvae.decode_frames(z)
    assert out.shape == (1, 3, 3, 32, 32)
    assert torch.allclose(out[:, 2:], fvae.decode_frames(z[:, :, 2:]), atol=1e-6)  # last frame decoded alone


@torch.no_grad()
def test_continuous_baseline_pads_the_chain_and_refuses_bad_lengths(fvae):
    x = frames(3)
    clip = fvae.pad_chain(x)
    assert clip.shape[1] == 5 and torch.equal(clip[:, 3], x[:, 2]) and torch.equal(clip[:, 4], x[:, 2])
    z = fvae.encode_clip(clip)
    assert z.shape[2] == 2  # F1 alone, then F2 F3 F3 F3 in one latent frame
    assert fvae.decode_clip(z).shape[1] == 5
    with pytest.raises(ValueError, match="3 frames does not fit.*silently drop 2"):
        fvae.encode_clip(x)
    assert [valid_clip_length(n) for n in (1, 3, 5, 8, 9)] == [True, False, True, False, True]


@torch.no_grad()
def test_frame_packed_clips_hold_each_frame_as_encoded_alone(fvae):
    x = frames(9)
    z = fvae.encode_packed(x)
    C, t = fvae.z_dim, fvae.temporal
    assert z.shape == (1, t * C, 3, 4, 4)  # the video VAE's 1 + 8/4 latent frames, 4x the channels
    alone = fvae.encode_frames(x)
    for s in range(t):  # latent frame 0: frame 0 in every slot; latent frame 1, slot s: frame 1 + s
        assert torch.allclose(z[:, s * C : (s + 1) * C, 0], alone[:, :, 0])
        assert torch.allclose(z[:, s * C : (s + 1) * C, 1], alone[:, :, 1 + s])
        assert torch.allclose(z[:, s * C : (s + 1) * C, 2], alone[:, :, 5 + s])
    assert torch.allclose(fvae.decode_packed(z), fvae.decode_frames(alone), atol=1e-5)  # the frame-by-frame round trip
    assert torch.allclose(fvae.encode_packed(x[:, :1])[:, :, 0], z[:, :, 0], atol=1e-6)  # a still image packs as frame 0 does
    with pytest.raises(ValueError, match="3 frames does not fit"):
        fvae.encode_packed(x[:, :3])
    with pytest.raises(ValueError, match="channels; got 4"):
        fvae.decode_packed(z[:, :4])


def test_sizes_the_vae_cannot_take_are_refused(fvae):
    with pytest.raises(ValueError, match="divisible by 8"):
        fvae.encode_frames(frames(1, size=36))


def test_real_presets_have_the_published_sizes():
    with torch.device("meta"):
        n13 = sum(p.numel() for p in build_transformer("wan2.1-t2v-1.3b").parameters())
        n14 = sum(p.numel() for p in build_transformer("wan2.1-t2v-14b").parameters())
    assert abs(n13 / 1e9 - 1.419) < 0.01 and abs(n14 / 1e9 - 14.288) < 0.01
    assert PRESETS["shapes"].transformer["text_dim"] == 384  # MiniLM token states


def test_shapes_vae_geometry():
    vae = FrameVAE(build_vae("shapes"))
    assert (vae.spatial, vae.temporal, vae.z_dim) == (4, 4, 8)
    with torch.no_grad():
        assert vae.encode_frames(torch.zeros(1, 1, 3, 64, 64)).shape == (1, 8, 1, 16, 16)


def test_a_widened_dit_computes_what_it_did_whatever_the_new_channels_hold():
    from reasongen.backbones.wan import widen_input

    torch.manual_seed(0)
    dit = build_transformer("tiny", in_channels=4, out_channels=4).eval()
    wide = widen_input(dit, 9).eval()
    assert wide.config.in_channels == 9 and wide.config.out_channels == 4
    x, extra = torch.randn(2, 4, 3, 4, 4), torch.randn(2, 5, 3, 4, 4)
    t, ctx = torch.tensor([500.0, 20.0]), torch.randn(2, 7, dit.config.text_dim)
    with torch.no_grad():
        before = dit(x, t, ctx, return_dict=False)[0]
        after = wide(torch.cat([x, extra], dim=1), t, ctx, return_dict=False)[0]
    assert torch.allclose(before, after, atol=1e-6)
    # the new channels are read once trained: their weights are parameters like any other
    assert wide.patch_embedding.weight.requires_grad and wide.patch_embedding.weight[:, 4:].abs().sum() == 0
    with pytest.raises(ValueError, match="narrowed"):
        widen_input(dit, 3)
