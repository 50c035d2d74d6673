import numpy as np
import pytest
import torch

from reasongen.backbones.text import shapes_tokenizer
from reasongen.rewards.clip import ClipScoreReward


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    tmp = tmp_path_factory.mktemp("clip")
    tok = shapes_tokenizer()
    cfg = CLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                         max_position_embeddings=32, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=8),
        projection_dim=16,
    )  # fmt: skip
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(tmp)
    return tmp


def test_clip_score_is_the_raw_cosine(folder):
    reward = ClipScoreReward(folder)
    images = [np.full((64, 64, 3), v, np.uint8) for v in (0, 128, 255)]
    scores = reward(images, ["a photo of a star", "a photo of a red circle", "a photo of a star"])
    assert len(scores) == 3 and all(-1 <= s <= 1 for s in scores)
    assert scores != pytest.approx([scores[0]] * 3)  # different inputs, different scores
    assert reward(images[:1], ["a photo of a star"])[0] == pytest.approx(scores[0], abs=1e-5)


def test_missing_weights_say_what_to_pass(tmp_path):
    with pytest.raises(ValueError, match="local transformers folder"):
        ClipScoreReward(tmp_path / "none")
