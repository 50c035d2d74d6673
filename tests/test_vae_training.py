"""The ShapesWorld VAE recipe: the initialisation and the patch-PCA teacher that keep the Wan VAE
out of the mean-image collapse, the two-stage loss, and `reasongen train vae` end to end."""

import json

import pytest
import torch
from typer.testing import CliRunner

from reasongen.backbones.wan import build_vae, load_vae
from reasongen.cli import app
from reasongen.train.data import ShapesImages
from reasongen.train.vae import PatchPCA, VAETask, freeze_encoder, init_for_training, keep_frame_path, psnr


def test_patch_pca_code_keeps_shapesworld_frames():
    train = ShapesImages(256, seed=0).batch(range(256))
    heldout = ShapesImages(64, seed=99, draft_fraction=0.0).batch(range(64))
    pca = PatchPCA(train, factor=4, z_dim=8)
    code = pca.encode(heldout)
    assert code.shape == (64, 8, 16, 16)
    # A linear 8-channel code of 4x4 patches already keeps the frames well (about 34 dB),
    # far above the grey mean image (about 21 dB): a fixed target worth warming up on.
    assert psnr(pca.decode(code).clamp(-1, 1), heldout) > 30
    assert psnr(torch.zeros_like(heldout), heldout) < 23
    # Uncentred: the flat background stays the zero code.
    assert pca.encode(torch.zeros(1, 3, 64, 64)).abs().max() == 0


def test_patch_pca_refuses_more_channels_than_a_patch_has():
    with pytest.raises(ValueError, match="z_dim 13 exceeds the 12 values"):
        PatchPCA(torch.zeros(2, 3, 8, 8), factor=2, z_dim=13)


def test_init_for_training_maps_flat_background_to_itself():
    vae = build_vae("shapes")
    init_for_training(vae)
    assert all(p.abs().max() == 0 for n, p in vae.named_parameters() if n.endswith("bias"))
    with torch.no_grad():
        out = vae.decode(vae.encode(torch.zeros(2, 3, 1, 64, 64)).latent_dist.mean).sample
    assert out.abs().max() == 0


def test_teacher_stage_then_end_to_end():
    vae = build_vae("shapes")
    batch = ShapesImages(4, seed=0).batch(range(4))
    task = VAETask(PatchPCA(batch, 4, 8), teacher_steps=2)
    g = torch.Generator().manual_seed(0)
    task.set_step(1)
    _, logs = task.loss(vae, batch, g)
    assert "code_mse" in logs
    task.set_step(2)
    loss, logs = task.loss(vae, batch, g)
    assert "code_mse" not in logs and loss.item() == pytest.approx(logs["l1"] + logs["mse"], rel=1e-5)
    with pytest.raises(ValueError, match="teacher"):
        VAETask(None, teacher_steps=5)


@pytest.mark.slow
def test_train_vae_command_writes_a_loadable_vae_with_latent_statistics(tmp_path):
    res = CliRunner().invoke(app, ["train", "vae", "--output-dir", str(tmp_path), "--steps", "3", "--teacher-steps", "2",
                                   "--batch-size", "4", "--checkpoint-every", "2"])  # fmt: skip
    assert res.exit_code == 0, res.output + repr(res.exception)
    report = json.loads((tmp_path / "vae_report.json").read_text())
    assert report["heldout_images"] == 512 and report["heldout_psnr_db"] > 0
    fvae = load_vae(tmp_path / "vae")
    assert fvae.std.flatten().min() > 0 and fvae.mean.abs().sum() > 0
    bad = CliRunner().invoke(app, ["train", "vae", "--output-dir", str(tmp_path / "x"), "--steps", "3", "--teacher-steps", "5"])
    assert bad.exit_code != 0 and "--teacher-steps 5" in bad.output


@pytest.mark.slow
def test_train_vae_fine_tunes_on_whole_clips(tmp_path):
    build_vae("shapes").save_pretrained(tmp_path / "image-vae", safe_serialization=True)
    res = CliRunner().invoke(app, ["train", "vae", "--output-dir", str(tmp_path / "run"), "--steps", "2", "--batch-size", "1",
                                   "--clip-frames", "5", "--init-from", str(tmp_path / "image-vae")])  # fmt: skip
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert json.loads((tmp_path / "run" / "vae_report.json").read_text())["heldout_images"] == 64  # held-out clips
    fvae = load_vae(tmp_path / "run" / "vae")
    frames = torch.zeros(1, 5, 3, 64, 64)
    assert fvae.encode_clip(frames).shape == (1, 8, 2, 16, 16)  # 1 + 4 frames -> 2 latent frames
    for args, says in [(["--clip-frames", "5"], "--init-from"),
                       (["--clip-frames", "6", "--init-from", str(tmp_path / "image-vae")], "1 + 4k")]:  # fmt: skip
        bad = CliRunner().invoke(app, ["train", "vae", "--output-dir", str(tmp_path / "bad"), "--steps", "1", *args])
        assert bad.exit_code != 0 and says in bad.output, bad.output


def test_keep_frame_path_trains_clips_and_leaves_single_frames_exactly_as_they_were():
    torch.manual_seed(0)
    vae = build_vae("tiny")
    clips = torch.rand(2, 5, 3, 64, 64) * 2 - 1
    frames = clips[:, 0, :, None]  # (B, 3, 1, H, W): each first frame alone

    def roundtrip(x):
        with torch.no_grad():
            return vae.decode(vae.encode(x).latent_dist.mean).sample

    frame_before, clip_before = roundtrip(frames), roundtrip(clips.transpose(1, 2))
    trainable = keep_frame_path(vae)
    assert 0 < trainable < sum(p.numel() for p in vae.parameters())
    # weight_decay 0, as `reasongen train vae` trains: decay would shrink the frozen taps too
    optimizer = torch.optim.AdamW([p for p in vae.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.0)
    for _ in range(3):
        loss, _ = VAETask().loss(vae, clips, torch.Generator())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    frame_after, clip_after = roundtrip(frames), roundtrip(clips.transpose(1, 2))
    assert torch.equal(frame_after, frame_before)
    assert torch.equal(clip_after[:, :, :1], frame_before)  # a clip's first frame is the single-frame path
    assert (clip_after[:, :, 1:] - clip_before[:, :, 1:]).abs().max() > 1e-3  # the later frames did learn


def test_freeze_encoder_keeps_every_latent_and_trains_the_decoder():
    torch.manual_seed(0)
    vae = build_vae("tiny")
    frames = (torch.rand(2, 1, 3, 64, 64) * 2 - 1)

    def latents_and_images():
        with torch.no_grad():
            z = vae.encode(frames.transpose(1, 2)).latent_dist.mean
            return z, vae.decode(z).sample

    z_before, images_before = latents_and_images()
    trainable = freeze_encoder(vae)
    assert trainable == sum(p.numel() for n, p in vae.named_parameters() if n.startswith(("decoder.", "post_quant_conv.")))
    optimizer = torch.optim.AdamW([p for p in vae.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.0)
    for _ in range(3):
        loss, _ = VAETask().loss(vae, frames[:, 0], torch.Generator())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    z_after, images_after = latents_and_images()
    assert torch.equal(z_after, z_before)
    assert (images_after - images_before).abs().max() > 1e-3


def test_a_decoder_only_run_keeps_the_latents_and_their_statistics(tmp_path):
    torch.manual_seed(0)
    start = build_vae("shapes")
    start.register_to_config(latents_mean=[0.1 * i for i in range(8)], latents_std=[1.0 + 0.1 * i for i in range(8)])
    start.save_pretrained(tmp_path / "start", safe_serialization=True)
    res = CliRunner().invoke(app, ["train", "vae", "--output-dir", str(tmp_path / "run"), "--steps", "2", "--batch-size", "2",
                                   "--init-from", str(tmp_path / "start"), "--decoder-only", "--seed", "5"])  # fmt: skip
    assert res.exit_code == 0, res.output + repr(res.exception)
    before, after = load_vae(tmp_path / "start"), load_vae(tmp_path / "run" / "vae")
    assert after.vae.config.latents_mean == before.vae.config.latents_mean and after.vae.config.latents_std == before.vae.config.latents_std
    frames = torch.rand(2, 1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.equal(after.encode_frames(frames), before.encode_frames(frames))  # the normalised latents the models read


def test_decoder_only_needs_a_trained_vae_and_single_frames(tmp_path):
    for args, says in [([], "--init-from"), (["--clip-frames", "5", "--init-from", str(tmp_path)], "--clip-frames")]:
        bad = CliRunner().invoke(app, ["train", "vae", "--output-dir", str(tmp_path / "bad"), "--steps", "1", "--decoder-only", *args])
        assert bad.exit_code != 0 and says in bad.output, bad.output


def test_teacher_warm_up_refuses_clips():
    task = VAETask(PatchPCA(ShapesImages(4, seed=0).batch(range(4)), 4, 8), teacher_steps=2)
    with pytest.raises(ValueError, match="teacher_steps=0"):
        task.loss(build_vae("shapes"), torch.zeros(1, 5, 3, 64, 64), torch.Generator())


def test_the_object_weight_makes_losing_a_shape_cost_more_than_blurring_the_ground():
    from reasongen.train.vae import reconstruction_loss
    from reasongen.world.vocab import GROUND

    ground = GROUND[0] / 127.5 - 1  # the grey ground in [-1, 1]
    x = torch.full((1, 3, 2, 8, 8), ground)
    x[:, 0, :, 2:4, 2:4] = 1.0  # a small red shape on the grey ground: 4 of 64 pixels a frame
    on_object = x[:, :1] != ground
    lose_shape = torch.where(on_object, torch.full_like(x, ground), x)  # the shape drawn as ground
    off_ground = x + 0.5 * (~on_object)  # every ground pixel off by 0.5: 60 of 64 pixels
    plain = [sum(reconstruction_loss(r, x, 0.0)).item() for r in (lose_shape, off_ground)]
    weighted = [sum(reconstruction_loss(r, x, 20.0)).item() for r in (lose_shape, off_ground)]
    assert plain[0] < plain[1]  # a plain mean prefers dropping the shape to a ground off by 0.5
    assert weighted[0] > weighted[1]  # the weighted one does not
    assert plain[0] == pytest.approx(((lose_shape - x).abs().mean() + ((lose_shape - x) ** 2).mean()).item())


def test_eval_vae_reads_whether_the_objects_survive_a_whole_clip(tmp_path):
    # the shipped VAE was trained on single frames: frame by frame it keeps the objects, but whole
    # clips go through temporal layers it never trained, and the detector finds the objects gone
    meta = tmp_path / "m.jsonl"
    meta.write_text(json.dumps({"tag": "single_object", "prompt": "a photo of a star", "include": [{"class": "star", "count": 1}]}) + "\n")
    from reasongen.methods import SHIPPED_MODELS

    res = CliRunner().invoke(app, ["eval", "vae", str(SHIPPED_MODELS / "shapes-vae"), "--clips", "2", "--n", "1",
                                   "--metadata", str(meta), "--out", str(tmp_path / "vae.json")])  # fmt: skip
    assert res.exit_code == 0, res.output
    figures = json.loads((tmp_path / "vae.json").read_text())
    assert figures["clip_truth_text_consistency"] > 0.9
    assert figures["clip_framewise_text_consistency"] > 0.9 > 0.5 > figures["clip_text_consistency"]


@pytest.fixture(scope="module")
def chain_folder(tmp_path_factory):
    from reasongen.methods.cof.data import build_chains

    out = tmp_path_factory.mktemp("chains")
    build_chains(out, 30, workers=1)
    return out


def test_chain_clips_pad_each_chain_as_the_continuous_baseline_and_hold_out_the_last_tenth(chain_folder):
    from reasongen.methods.cof.data import ChainClips

    train, held = ChainClips(chain_folder, "train"), ChainClips(chain_folder, "heldout")
    assert (len(train), len(held)) == (27, 3)
    clips = held.batch([0, 2])
    assert clips.shape == (2, 5, 3, 64, 64)  # F1 F2 F3 F3 F3
    assert torch.equal(clips[:, :3], held.chains([0, 2])) and torch.equal(clips[:, 4], clips[:, 2])
    assert held.record(0)["prompt"] == json.loads((chain_folder / "chains.json").read_text())["prompts"][27]
    with pytest.raises(ValueError, match="no chains.json"):
        ChainClips(chain_folder / "nothing")


@pytest.mark.slow
def test_train_vae_on_chains_and_eval_reads_the_last_frame_through_the_clip(tmp_path, chain_folder):
    from reasongen.methods import SHIPPED_MODELS

    build_vae("shapes").save_pretrained(tmp_path / "image-vae", safe_serialization=True)
    res = CliRunner().invoke(app, ["train", "vae", "--output-dir", str(tmp_path / "run"), "--steps", "2", "--batch-size", "2",
                                   "--chains", str(chain_folder), "--init-from", str(tmp_path / "image-vae")])  # fmt: skip
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert json.loads((tmp_path / "run" / "vae_report.json").read_text())["heldout_images"] == 3  # held-out chains
    bad = CliRunner().invoke(app, ["train", "vae", "--output-dir", str(tmp_path / "bad"), "--chains", str(chain_folder),
                                   "--clip-frames", "5", "--init-from", str(tmp_path / "image-vae")])  # fmt: skip
    assert bad.exit_code != 0 and "two sources" in bad.output, bad.output
    # the shipped VAE never trained its temporal layers: frame by frame the chains' last frames keep
    # their prompts, passed whole (the continuous baseline's encoding) they do not
    meta = tmp_path / "m.jsonl"
    meta.write_text(json.dumps({"tag": "single_object", "prompt": "a photo of a star", "include": [{"class": "star", "count": 1}]}) + "\n")
    res = CliRunner().invoke(app, ["eval", "vae", str(SHIPPED_MODELS / "shapes-vae"), "--chains", str(chain_folder), "--n", "1",
                                   "--metadata", str(meta), "--out", str(tmp_path / "vae.json")])  # fmt: skip
    assert res.exit_code == 0, res.output
    figures = json.loads((tmp_path / "vae.json").read_text())
    assert figures["heldout_chains"] == 3 and figures["chain_truth_last_frame_geneval"] == 1.0
    assert figures["chain_framewise_last_frame_geneval"] == 1.0 > figures["chain_last_frame_geneval"]
    assert figures["chain_framewise_psnr_db"] > 35 > 25 > figures["chain_psnr_db"]
