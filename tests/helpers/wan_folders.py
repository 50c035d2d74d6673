"""Tiny diffusers Wan2.1 checkpoint folders, written by diffusers' own pipelines' `save_pretrained`
with random weights: the layout a user's real Wan2.1-T2V or Wan2.1-I2V download has."""

import torch

from reasongen.backbones.text import shapes_tokenizer
from reasongen.backbones.wan import build_transformer, build_vae


def _umt5():
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = shapes_tokenizer()
    model = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                                        relative_attention_num_buckets=8, pad_token_id=tokenizer.pad_token_id))  # fmt: skip
    return tokenizer, model


def _scheduler():
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)


def tiny_wan_t2v_folder(path):
    """Wan2.1-T2V: umT5, VAE, DiT, scheduler."""
    from diffusers import WanPipeline

    torch.manual_seed(0)
    tokenizer, umt5 = _umt5()
    WanPipeline(tokenizer=tokenizer, text_encoder=umt5, vae=build_vae("tiny"), transformer=build_transformer("tiny"),
                scheduler=_scheduler()).save_pretrained(path, safe_serialization=True)  # fmt: skip


def tiny_wan_i2v_folder(path):
    """Wan2.1-I2V: as T2V, plus a CLIP vision encoder (17 tokens of 16 at 32 px) whose features every
    block's cross-attention reads, and a DiT taking the noisy latents, the mask and the image latents."""
    from diffusers import WanImageToVideoPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    tokenizer, umt5 = _umt5()
    clip = CLIPVisionModel(CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                                            image_size=32, patch_size=8))  # fmt: skip
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    dit = build_transformer("tiny", in_channels=4 + 4 + 4, out_channels=4, image_dim=16, added_kv_proj_dim=24)
    WanImageToVideoPipeline(tokenizer=tokenizer, text_encoder=umt5, vae=build_vae("tiny"), scheduler=_scheduler(),
                            image_processor=processor, image_encoder=clip, transformer=dit).save_pretrained(path, safe_serialization=True)  # fmt: skip
