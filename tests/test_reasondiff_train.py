"""ReasonDiff's training side on tiny configs: the pairs, the latent-frame bookkeeping, the injection
into the DiT and the two stages' losses."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from reasongen.backbones.text import tiny_text_encoder
from reasongen.backbones.wan import FrameVAE, build_transformer, build_vae
from reasongen.backbones.text import PromptCache
from reasongen.methods.reasondiff.alignformer import AlignFormer
from reasongen.methods.reasondiff.data import (PairLatents, build_pairs, encode_narratives, encode_pairs, group_by_latent_frame, latent_index,
                                               training_pair)  # fmt: skip
from reasongen.methods.reasondiff.model import ReasonDiffModel, narrative_context
from reasongen.methods.reasondiff.pipeline import ReasonDiffPipeline
from reasongen.methods.reasondiff.train import ReasonDiffTask

C = 4  # the tiny VAE's latent channels


def test_training_pairs_widen_the_intervals():
    rng = np.random.default_rng(0)
    pairs = [training_pair(rng, 9, max_stride=3) for _ in range(60)]
    assert {p.stride for p in pairs} == {1, 2, 3}
    for p in pairs:
        assert len(p.clip) == len(p.clip.frame_captions) == 9 and 0 <= p.anchor < 9
        if p.stride == 1:  # adjacent frames: the image is the anchor frame itself
            assert p.condition == p.clip.scenes[p.anchor]
    # with wider strides the image is often a state between two kept frames, none of them exactly
    assert any(p.condition not in p.clip.scenes for p in pairs if p.stride > 1)
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        training_pair(rng, 8)


def test_pixel_frames_map_to_latent_frames():
    assert latent_index(torch.tensor([0, 1, 4, 5, 8, 16])).tolist() == [0, 1, 1, 2, 2, 4]
    states = torch.arange(5.0).view(5, 1, 1).expand(5, 2, 3)  # frame t's states all equal t
    grouped = group_by_latent_frame(states)
    assert grouped.shape == (2, 2, 3) and grouped[0].eq(0).all() and grouped[1].eq(2.5).all()  # mean of 1..4
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        group_by_latent_frame(torch.zeros(6, 2, 3))


def tiny_model(seed=0, anchor_mask="frame"):
    torch.manual_seed(seed)
    dit = build_transformer("tiny", in_channels=2 * C + 4, out_channels=C)
    return ReasonDiffModel(dit, AlignFormer(C, text_dim=32, dim=32, heads=4), anchor_mask=anchor_mask)


def wan_first_frame_mask(num_frames: int, temporal: int = 4) -> torch.Tensor:
    """diffusers' WanImageToVideoPipeline mask for a latent clip of `num_frames`, spatial dims dropped:
    ones at pixel frame 0, that frame repeated `temporal` times, folded into (temporal, num_frames)."""
    pixel = torch.zeros(1 + temporal * (num_frames - 1))
    pixel[0] = 1
    pixel = torch.cat([pixel[:1].repeat(temporal), pixel[1:]])
    return pixel.view(num_frames, temporal).T


def test_injection_puts_the_image_at_the_anchor_and_marks_its_frame():
    model = tiny_model().eval()
    anchor = torch.randn(2, C, 4, 4)
    narratives = torch.randn(2, 3, 6, 32)
    _, mask = narrative_context(narratives)
    frames = torch.tensor([0, 6])  # pixel frames of a 9-frame clip: latent frames 0 and 2 (frames 5..8)
    y, c_star = model.condition(anchor, narratives, mask, frames, num_frames=3)
    assert y.shape == (2, 4 + C, 3, 4, 4)
    assert torch.equal(y[0, :4, :, 0, 0], wan_first_frame_mask(3))  # frame 0: Wan's image-to-video mask
    want = torch.zeros(4, 3)
    want[1, 2] = 1  # frame 6 is the second of latent frame 2
    assert torch.equal(y[1, :4, :, 0, 0], want) and (y[1, :4] == y[1, :4, :, :1, :1]).all()
    torch.testing.assert_close(y[1, 4:, 2], anchor[1])
    assert not torch.allclose(c_star[1, :, 0], torch.zeros(C, 4, 4))  # AlignFormer fills the other frames
    y_plain, _ = model.condition(anchor, narratives, mask, frames, num_frames=3, enhanced=False)
    assert y_plain[0, 4:, 1:].eq(0).all() and torch.equal(y_plain[0, 4:, 0], anchor[0])
    model.anchor_mask = "latent-frame"  # models trained before the per-frame mask: the whole latent frame
    y_old, _ = model.condition(anchor, narratives, mask, frames, num_frames=3)
    assert y_old[1, :4, 2].eq(1).all() and y_old[1, :4, :2].eq(0).all() and torch.equal(y_old[:, 4:], y[:, 4:])
    with pytest.raises(ValueError, match="anchor frame \\[0, 9\\] lies outside the clip's 9 frames"):
        model.condition(anchor, narratives, mask, torch.tensor([0, 9]), num_frames=3)
    with pytest.raises(ValueError, match="anchor mask 'slot'"):
        tiny_model(anchor_mask="slot")
    with pytest.raises(ValueError, match="ReasonDiff needs 12"):
        ReasonDiffModel(build_transformer("tiny", in_channels=C, out_channels=C), AlignFormer(C, text_dim=32, dim=32, heads=4))


def test_frame_text_attention_gives_each_latent_frame_its_own_narrative():
    torch.manual_seed(0)
    dit = build_transformer("tiny", in_channels=2 * C + 4, out_channels=C, num_layers=1)  # one block: no self-attention after the text
    model = ReasonDiffModel(dit, AlignFormer(C, text_dim=32, dim=32, heads=4), text_attention="frame").eval()
    x, y, t = torch.randn(1, C, 3, 4, 4), torch.randn(1, 4 + C, 3, 4, 4), torch.tensor([500.0])
    context = torch.randn(1, 3 * 6, 32)
    other = context.clone()
    other[:, 6:12] = torch.randn(1, 6, 32)  # latent frame 1's narrative changed

    def change_per_frame():
        with torch.no_grad():
            return (model.velocity(x, t, other, y) - model.velocity(x, t, context, y)).abs().amax(dim=(0, 1, 3, 4))

    frame = change_per_frame()
    assert frame[1] > 1e-3 and frame[0] == 0 and frame[2] == 0
    model.text_attention = "all"  # the released code's: every frame reads every narrative
    assert (change_per_frame() > 1e-3).all()
    with pytest.raises(ValueError, match="text attention 'token'"):
        ReasonDiffModel(dit, AlignFormer(C, text_dim=32, dim=32, heads=4), text_attention="token")
    with pytest.raises(ValueError, match="text attention 'token'"):
        model.text_attention = "token"
    model.text_attention = "frame"
    with pytest.raises(ValueError, match="19 tokens does not split into 3 frames"):
        model.velocity(x, t, torch.randn(1, 19, 32), y)


def test_an_image_to_video_dit_reads_the_image_features_and_every_frames_narrative():
    torch.manual_seed(0)
    dit = build_transformer("tiny", in_channels=2 * C + 4, out_channels=C, num_layers=1, image_dim=16, added_kv_proj_dim=24)
    x, y, t = torch.randn(1, C, 3, 4, 4), torch.randn(1, 4 + C, 3, 4, 4), torch.tensor([500.0])
    image = torch.randn(1, 5, 16)  # 5 CLIP tokens of the condition image

    def wan(context):  # diffusers' own processor, right when the text is exactly 512 tokens
        with torch.no_grad():
            return dit(torch.cat([x, y], 1), t, context, encoder_hidden_states_image=image, return_dict=False)[0]

    text = torch.randn(1, 512, 32)
    reference = wan(text)
    model = ReasonDiffModel(dit, AlignFormer(C, text_dim=32, dim=32, heads=4)).eval()
    with torch.no_grad():
        torch.testing.assert_close(model.velocity(x, t, text, y, image), reference, atol=1e-5, rtol=1e-4)
        # a context of 3 frames' narratives: the image tokens are still the first 5, whatever the text's length
        three = torch.randn(1, 3 * 6, 32)
        moved = model.velocity(x, t, three, y, image) - model.velocity(x, t, three, y, torch.randn(1, 5, 16))
        assert moved.abs().max() > 1e-3
        model.text_attention = "frame"
        other = three.clone()
        other[:, 6:12] = torch.randn(1, 6, 32)
        change = (model.velocity(x, t, other, y, image) - model.velocity(x, t, three, y, image)).abs().amax(dim=(0, 1, 3, 4))
        assert change[1] > 1e-3 and change[0] == 0 and change[2] == 0
    with pytest.raises(ValueError, match="pass image_states"):
        model.velocity(x, t, three, y)


def test_frame_slot_puts_the_image_in_the_channels_where_packing_puts_its_frame():
    torch.manual_seed(0)
    fvae = FrameVAE(build_vae("tiny")).eval()
    packed = 4 * fvae.z_dim
    dit = build_transformer("tiny", in_channels=2 * packed + 4, out_channels=packed)
    model = ReasonDiffModel(dit, AlignFormer(packed, text_dim=32, dim=32, heads=4), anchor_mask="frame-slot").eval()
    clip = torch.rand(1, 9, 3, 32, 32) * 2 - 1
    narratives = torch.randn(1, 3, 6, 32)
    with torch.no_grad():
        clip_latents = fvae.encode_packed(clip)
        for frame in (6, 0):
            image = fvae.encode_packed(clip[:, frame : frame + 1])[:, :, 0]  # the image as a one-frame clip
            y, c_star = model.condition(image, narratives, narrative_context(narratives)[1], torch.tensor([frame]), num_frames=3)
            at = model.image_at(model.mask(torch.tensor([frame]), 3), latent_index(torch.tensor([frame])))[0]  # (channels, F)
            torch.testing.assert_close(c_star[0][at], clip_latents[0][at], atol=1e-5, rtol=1e-5)  # the frame's own channels
            f = latent_index(frame)
            if frame:  # one slot of four; AlignFormer fills the other three of the anchor's latent frame
                assert at.sum() == fvae.z_dim and at[fvae.z_dim : 2 * fvae.z_dim, f].all()  # frame 6 is slot 1 of frames 5..8
                assert not torch.allclose(c_star[0, ~at[:, f], f], image[0, ~at[:, f]])
            else:  # frame 0 fills latent frame 0, as packing repeats it
                assert at[:, 0].all() and at.sum() == packed
            assert torch.equal(y[0, 4:], c_star[0])
    with pytest.raises(ValueError, match="6 channels do not split into 4"):
        ReasonDiffModel(build_transformer("tiny", in_channels=16, out_channels=6), AlignFormer(6, text_dim=32, dim=32, heads=4), anchor_mask="frame-slot")
    video = tiny_model(anchor_mask="frame-slot")  # 4 channels split into 4 slots, but video latents have no slots
    with pytest.raises(ValueError, match="these are video latents: use frame"):
        ReasonDiffPipeline(video, fvae, tiny_text_encoder(max_length=48), clip_latents="video", num_frames=9, height=32, width=32)


def batch(B=2, T=5, seed=0):
    rng = np.random.default_rng(seed)
    pairs = [training_pair(rng, T) for _ in range(B)]
    g = torch.Generator().manual_seed(seed)
    F = 1 + (T - 1) // 4
    return (torch.randn(B, C, F, 4, 4, generator=g), torch.randn(B, C, 4, 4, generator=g),
            torch.tensor([p.anchor for p in pairs]), [list(p.clip.frame_captions) for p in pairs],
            [p.clip.caption for p in pairs], None)  # fmt: skip


def test_stage_one_trains_both_and_stage_two_adds_the_auxiliary_loss():
    cache = PromptCache(tiny_text_encoder(max_length=48))
    model = tiny_model()
    loss, logs = ReasonDiffTask(cache, stage=1).loss(model, batch(), torch.Generator().manual_seed(0))
    assert "aux" not in logs and torch.isfinite(loss)
    loss.backward()
    assert model.alignformer.proj_out.weight.grad.abs().sum() > 0
    assert model.transformer.proj_out.weight.grad.abs().sum() > 0
    model.zero_grad()
    model.transformer.requires_grad_(False)  # stage 2: AlignFormer alone
    loss2, logs2 = ReasonDiffTask(cache, stage=2).loss(model, batch(), torch.Generator().manual_seed(0))
    assert logs2["aux"] > 0 and loss2.item() == pytest.approx(logs2["flow"] + logs2["aux"], rel=1e-5)
    assert logs2["flow"] == pytest.approx(logs["flow"], rel=1e-5)  # same draw: the aux term is the difference
    _, logs0 = ReasonDiffTask(cache, stage=2, aux_weight=0.0).loss(model, batch(), torch.Generator().manual_seed(0))
    assert "aux" not in logs0
    with pytest.raises(ValueError, match="stage 3"):
        ReasonDiffTask(cache, stage=3)


def test_single_prompt_ablation_gives_every_frame_the_caption():
    cache = PromptCache(tiny_text_encoder(max_length=48))
    b = batch()
    task = ReasonDiffTask(cache)
    per_frame = encode_narratives(task.prompts, b[3], task.temporal)
    single = encode_narratives(task.prompts, [[c] * len(n) for c, n in zip(b[4], b[3])], task.temporal)
    assert not torch.allclose(per_frame, single)
    assert torch.allclose(single[:, 0], single[:, 1])  # no frame differs from another


@pytest.mark.slow
def test_pairs_are_built_and_encoded_once(tmp_path):
    torch.manual_seed(0)
    fvae = FrameVAE(build_vae("tiny")).eval()
    build_pairs(tmp_path, n=6, num_frames=5, size=32, workers=1)
    encode_pairs(tmp_path, fvae, batch_size=4)  # frame-packed by default
    data = PairLatents(tmp_path)
    clips, cond, anchors, narratives, captions, image_states = data.batch([0, 5])
    assert data.clip_latents == "packed" and clips.shape == (2, 4 * C, 2, 4, 4) and cond.shape == (2, 4 * C, 4, 4)
    assert anchors.tolist() == [json.loads((tmp_path / "pairs.json").read_text())["anchors"][i] for i in (0, 5)]  # pixel frames
    assert len(narratives[1]) == 5 and isinstance(captions[0], str) and image_states is None  # no image encoder given
    pairs = load_file(tmp_path / "pairs.safetensors")
    frames = pairs["frames"][[0, 5]].float() / 127.5 - 1  # the fp16 latents are each frame through the VAE alone
    assert torch.allclose(clips, fvae.encode_packed(frames.permute(0, 1, 4, 2, 3)), atol=2e-2)
    with pytest.raises(ValueError, match="holds packed clip latents, not video"):
        encode_pairs(tmp_path, fvae, "video")
    with pytest.raises(ValueError, match="n=6"):
        build_pairs(tmp_path, n=7, num_frames=5, size=32, workers=1)
    (tmp_path / "latents.safetensors").unlink()
    encode_pairs(tmp_path, fvae, "video", batch_size=4)  # the whole clip through the video VAE, as the paper
    data = PairLatents(tmp_path)
    assert data.clip_latents == "video" and data.batch([0])[0].shape == (1, C, 2, 4, 4) and data.condition.shape[1] == C


def test_clips_sampled_together_equal_clips_sampled_alone():
    from reasongen.methods.reasondiff.narrator import Narration
    from reasongen.methods.reasondiff.pipeline import ReasonDiffPipeline

    pipe = ReasonDiffPipeline(tiny_model(), build_vae("tiny"), tiny_text_encoder(), num_frames=5, height=32, width=32)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    told = [Narration(a, [f"a red circle, frame {t}, clip {a}" for t in range(5)]) for a in (0, 4, 2)]

    def gens():
        return [torch.Generator().manual_seed(s) for s in (7, 8, 9)]

    together = pipe.many(images, told, 3, 3.0, gens())
    for i, gen in enumerate(gens()):
        alone = pipe(images[i], told[i], 3, 3.0, generator=gen)
        assert torch.allclose(together[i].latents, alone.latents, atol=1e-5)
        assert together[i].anchor == told[i].anchor and together[i].frames.shape == (5, 32, 32, 3)
    assert not torch.allclose(together[0].latents, together[1].latents)
    with pytest.raises(ValueError, match="one of each per clip"):
        pipe.many(images, told[:2], 3)


def test_stage_2_as_a_function_changes_alignformer_alone(tmp_path):
    """The recipe called as a function (no command line): stage 2 from a stage-1 pipeline leaves
    every DiT weight as it was and moves AlignFormer's."""
    from reasongen.backbones.wan import build_vae
    from reasongen.methods.reasondiff.data import build_pairs, encode_pairs
    from reasongen.methods.reasondiff.pipeline import ReasonDiffPipeline
    from reasongen.methods.reasondiff.train import ReasonDiffTrainConfig, train_reasondiff

    torch.manual_seed(0)
    vae = build_vae("tiny")
    vae.save_pretrained(tmp_path / "vae", safe_serialization=True)
    from reasongen.backbones.wan import FrameVAE

    build_pairs(tmp_path / "data", 6, num_frames=5, size=32, workers=1)
    encode_pairs(tmp_path / "data", FrameVAE(vae).eval())
    common = dict(data=str(tmp_path / "data"), vae=str(tmp_path / "vae"), preset="tiny", steps=2, batch_size=2)
    stage1 = train_reasondiff(ReasonDiffTrainConfig(output_dir=str(tmp_path / "s1"), **common), progress=False)
    stage2 = train_reasondiff(ReasonDiffTrainConfig(output_dir=str(tmp_path / "s2"), stage=2, lr=1e-2,
                                                    init_from=str(tmp_path / "s1" / "pipeline"), **common), progress=False)  # fmt: skip
    before = ReasonDiffPipeline.from_pretrained(tmp_path / "s1" / "pipeline").model
    after = ReasonDiffPipeline.from_pretrained(tmp_path / "s2" / "pipeline").model
    for (name, a), b in zip(before.transformer.state_dict().items(), after.transformer.state_dict().values()):
        assert torch.equal(a, b), name
    moved = [not torch.equal(a, b) for a, b in zip(before.alignformer.state_dict().values(), after.alignformer.state_dict().values())]
    assert any(moved)
    assert stage1.config["num_frames"] == stage2.config["num_frames"] == 5
    with pytest.raises(ValueError, match="--stage 2 trains AlignFormer over a trained DiT"):
        train_reasondiff(ReasonDiffTrainConfig(output_dir=str(tmp_path / "x"), stage=2, **common))


@pytest.mark.slow
def test_stage_one_starts_from_a_text_to_video_base_that_it_first_reproduces(tmp_path):
    """ReasonDiff from a frame-wise text-to-video base (`train wan`), as the paper starts from Wan2.1:
    before training, the widened DiT draws exactly what the base draws, whatever the condition holds;
    then stage 1 trains from it on frame-wise clip latents, and the wrong starts are refused."""
    from reasongen.methods.reasondiff.pipeline import is_t2v_base
    from reasongen.methods.reasondiff.train import ReasonDiffTrainConfig, train_reasondiff
    from reasongen.methods.wan.config import WanTrainConfig
    from reasongen.methods.wan.train import build_pipeline

    torch.manual_seed(0)
    vae = build_vae("tiny")
    vae.save_pretrained(tmp_path / "vae", safe_serialization=True)
    base = build_pipeline(WanTrainConfig(str(tmp_path / "unused"), str(tmp_path / "unused"), preset="tiny", vae=str(tmp_path / "vae")))
    base.save_pretrained(tmp_path / "base")
    assert is_t2v_base(tmp_path / "base") and not is_t2v_base(tmp_path)

    pipe = ReasonDiffPipeline.from_base(tmp_path / "base", num_frames=5)
    model, dit = pipe.model.eval(), base.transformer.eval()
    assert model.temporal == 1 and pipe.config["clip_latents"] == "frames" and model.latent_channels == C
    x, t = torch.randn(2, C, 5, 4, 4), torch.tensor([700.0, 50.0])
    ctx = torch.randn(2, 5 * 6, dit.config.text_dim)
    with torch.no_grad():
        y = torch.randn(2, 1 + C, 5, 4, 4)  # any mask and condition latents
        assert torch.allclose(model.velocity(x, t, ctx, y), dit(x, t, ctx, return_dict=False)[0], atol=1e-6)

    build_pairs(tmp_path / "data", 4, num_frames=5, size=32, workers=1)
    encode_pairs(tmp_path / "data", FrameVAE(vae).eval(), "frames")
    data = PairLatents(tmp_path / "data")
    assert data.temporal == 1 and data.clips.shape[1:3] == (C, 5)  # one latent frame per frame
    common = dict(data=str(tmp_path / "data"), vae=str(tmp_path / "vae"), preset="tiny", steps=2, batch_size=2,
                  init_from=str(tmp_path / "base"))  # fmt: skip
    said = []
    trained = train_reasondiff(ReasonDiffTrainConfig(output_dir=str(tmp_path / "s1"), **common), progress=False, say=said.append)
    assert any("text-to-video base" in line for line in said)
    loaded = ReasonDiffPipeline.from_pretrained(tmp_path / "s1" / "pipeline")
    assert loaded.config["clip_latents"] == "frames" and loaded.config["num_frames"] == 5 and loaded.model.temporal == 1
    moved = ~torch.isclose(trained.model.transformer.patch_embedding.weight[:, C:].float(), torch.zeros(()))
    assert moved.any()  # the new input channels learn to read the condition
    with pytest.raises(ValueError, match="train stage 1 from it first"):
        train_reasondiff(ReasonDiffTrainConfig(output_dir=str(tmp_path / "s2"), stage=2, **common))
    with pytest.raises(ValueError, match="frozen at zero"):
        train_reasondiff(ReasonDiffTrainConfig(output_dir=str(tmp_path / "lora"), lora_rank=4, **common))
    (tmp_path / "data" / "latents.safetensors").unlink()
    encode_pairs(tmp_path / "data", FrameVAE(vae).eval(), "packed")
    with pytest.raises(ValueError, match="--clip-latents frames"):
        train_reasondiff(ReasonDiffTrainConfig(output_dir=str(tmp_path / "packed"), **common))
