import numpy as np
import pytest
import torch

from reasongen.backbones.text import tiny_text_encoder
from reasongen.backbones.wan import build_transformer, build_vae
from reasongen.images import save_chain
from reasongen.methods.cof.pipeline import CoFPipeline


def tiny_pipeline(**config):
    torch.manual_seed(0)
    vae = build_vae("tiny")
    torch.manual_seed(0)
    transformer = build_transformer("tiny")
    settings = dict(height=32, width=32, num_inference_steps=3, guidance_scale=4.0, flow_shift=3.0, sampler="euler")
    return CoFPipeline(transformer, vae, tiny_text_encoder(max_length=16), **{**settings, **config})


def test_one_frame_reproduces_diffusers_wan_pipeline():
    from diffusers import FlowMatchEulerDiscreteScheduler, WanPipeline

    pipe = tiny_pipeline(num_frames=1)
    ours = pipe("a photo of a red circle", generator=torch.Generator().manual_seed(7), output_type="np").images[0]
    wan = WanPipeline(
        tokenizer=pipe.text_encoder.tokenizer, text_encoder=pipe.text_encoder.model, vae=pipe.vae.vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), transformer=pipe.transformer,
    )  # fmt: skip
    ref = wan("a photo of a red circle", negative_prompt="", height=32, width=32, num_frames=1, num_inference_steps=3,
              guidance_scale=4.0, max_sequence_length=16, output_type="np", generator=torch.Generator().manual_seed(7))  # fmt: skip
    ref = np.asarray(ref.frames[0][0])
    assert ours.shape == ref.shape == (32, 32, 3)
    assert np.abs(ours - ref).max() < 1e-5


def test_three_frames_denoised_together_last_decoded():
    pipe = tiny_pipeline()
    out = pipe(["a photo of a star", "a photo of two hearts"], generator=torch.Generator().manual_seed(0), return_chain=True)
    assert out.latents.shape == (2, 4, 3, 4, 4)
    assert len(out.images) == 2 and len(out.chains[0]) == 3
    np.testing.assert_array_equal(out.chains[1][2], out.images[1])  # the image is the chain's last frame
    assert out.images[0].dtype == np.uint8 and out.images[0].shape == (32, 32, 3)
    pil = pipe("a photo of a star", generator=torch.Generator().manual_seed(0), output_type="pil").images[0]
    assert pil.size == (32, 32) and np.array_equal(np.asarray(pil), out.images[0])
    with pytest.raises(ValueError, match="output_type 'latent'"):
        pipe("a photo of a star", output_type="latent")
    again = pipe(["a photo of a star", "a photo of two hearts"], generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(again.images[0], out.images[0])  # same seed, same image
    # the frames are one video: changing the frame count changes the last frame too
    two = pipe(["a photo of a star", "a photo of two hearts"], num_frames=2, generator=torch.Generator().manual_seed(0))
    assert not np.allclose(two.images[0], out.images[0])


def test_continuous_encoding_samples_two_latent_frames():
    pipe = tiny_pipeline(encoding="continuous")
    out = pipe("a photo of a star", generator=torch.Generator().manual_seed(0), return_chain=True)
    assert out.latents.shape[2] == 2 and len(out.chains[0]) == 3


def test_save_and_load_round_trip(tmp_path):
    pipe = tiny_pipeline(system_prompt="Think, then draw: ")
    pipe.save_pretrained(tmp_path / "m")
    back = CoFPipeline.from_pretrained(tmp_path / "m")
    assert back.config["system_prompt"] == "Think, then draw: " and back.config["num_frames"] == 3
    a = pipe("a photo of a star", generator=torch.Generator().manual_seed(1)).images[0]
    b = back("a photo of a star", generator=torch.Generator().manual_seed(1)).images[0]
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert not list((tmp_path / "m").rglob("*.bin")) and list((tmp_path / "m").rglob("*.safetensors"))


def test_the_system_prompt_conditions_the_model():
    plain, prefixed = tiny_pipeline(), tiny_pipeline(system_prompt="reason step by step: ")
    a = plain("a photo of a star", generator=torch.Generator().manual_seed(1)).images[0]
    b = prefixed("a photo of a star", generator=torch.Generator().manual_seed(1)).images[0]
    assert not np.allclose(a, b)


def test_bad_inputs_are_refused():
    pipe = tiny_pipeline()
    with pytest.raises(ValueError, match="multiples of 16"):
        pipe("a photo of a star", height=40)
    with pytest.raises(ValueError, match="at least one frame"):
        pipe("a photo of a star", num_frames=0)
    with pytest.raises(ValueError, match="non-empty strings"):
        pipe([""])
    with pytest.raises(ValueError, match="unknown CoFPipeline settings"):
        tiny_pipeline(frames=3)
    with pytest.raises(FileNotFoundError, match="model_index.json"):
        CoFPipeline.from_pretrained("/nonexistent")


def test_chain_strip_and_gif(tmp_path):
    from PIL import Image

    frames = [np.full((8, 8, 3), v, np.uint8) for v in (0, 128, 255)]
    save_chain(frames, tmp_path / "s.png", tmp_path / "s.gif", scale=2)
    strip = Image.open(tmp_path / "s.png")
    assert strip.size == (3 * 16 + 8, 16)
    assert Image.open(tmp_path / "s.gif").n_frames == 3
    with pytest.raises(ValueError, match="uint8"):
        save_chain([f.astype(np.float32) / 255 for f in frames], tmp_path / "f.png")
