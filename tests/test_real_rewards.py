"""T2I-R1's real-scale GroundingDINO and VQA experts on tiny random configs saved as local folders:
they load, score within their ranges by the official rules, and say what to pass when weights are absent."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from reasongen.rewards.grounding import GroundingDinoReward
from reasongen.rewards.vqa import VQAReward
from reasongen.world.vocab import CLASSES, COLOR_NAMES

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from tiny_llava import save_tiny_llava  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "yes", "no", "a", "an", "?", ".", *CLASSES, *COLOR_NAMES]


def bert_tokenizer():
    from transformers import BertTokenizerFast

    return BertTokenizerFast(vocab={w: i for i, w in enumerate(WORDS)})


@pytest.fixture(scope="module")
def gdino_folder(tmp_path_factory):
    from transformers import (BertConfig, GroundingDinoConfig, GroundingDinoForObjectDetection, GroundingDinoImageProcessor,
                              GroundingDinoProcessor, SwinConfig)  # fmt: skip

    tmp = tmp_path_factory.mktemp("gdino")
    cfg = GroundingDinoConfig(
        backbone_config=SwinConfig(image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
                                   window_size=2, out_features=["stage2", "stage3", "stage4"]),
        text_config=BertConfig(vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=32, max_position_embeddings=64),
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=12, num_feature_levels=3, encoder_n_points=1,
        decoder_n_points=1, max_text_len=32, use_timm_backbone=False, backbone=None, use_pretrained_backbone=False,
    )  # fmt: skip
    torch.manual_seed(0)
    GroundingDinoForObjectDetection(cfg).save_pretrained(tmp, safe_serialization=True)
    image_processor = GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 64})
    GroundingDinoProcessor(image_processor=image_processor, tokenizer=bert_tokenizer()).save_pretrained(tmp)
    return tmp


@pytest.fixture(scope="module")
def git_folder(tmp_path_factory):
    from transformers import CLIPImageProcessor, GitConfig, GitForCausalLM, GitProcessor

    tmp = tmp_path_factory.mktemp("git")
    tok = bert_tokenizer()
    cfg = GitConfig(vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                       image_size=32, patch_size=8),
                    vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                    max_position_embeddings=64, pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id,
                    eos_token_id=tok.sep_token_id)  # fmt: skip
    torch.manual_seed(0)
    GitForCausalLM(cfg).save_pretrained(tmp, safe_serialization=True)
    GitProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                 tokenizer=tok).save_pretrained(tmp)  # fmt: skip
    return tmp


IMAGES = [np.full((64, 64, 3), v, np.uint8) for v in (40, 200)]
COLOR = {"tag": "color_attr", "include": [{"class": "circle", "count": 1, "color": "red"}, {"class": "star", "count": 1}]}
COUNT = {"tag": "counting", "include": [{"class": "star", "count": 3}]}
POSITION = {"tag": "position", "include": [{"class": "circle", "count": 1}, {"class": "star", "count": 1, "position": ["left of", 0]}]}


def test_grounding_boxes_carry_the_prompt_classes_and_pass_the_threshold_and_nms(gdino_folder):
    reward = GroundingDinoReward(gdino_folder)
    assert reward.processor.tokenizer.tokenize("circle . star .") == ["circle", ".", "star", "."]
    dets = reward.detect(IMAGES[0], ["circle", "star"])
    assert len(dets) == 12 and {d.cls for d in dets} <= {"circle", "star"}
    assert all(0 <= d.score <= 1 and d.mask.shape == (64, 64) for d in dets)
    reward.threshold = 0.0  # keep every box: NMS alone thins them
    kept = reward.found(IMAGES[0], COLOR)
    assert 0 < len(kept) <= 12
    reward.nms_iou = 1.0
    assert len(reward.found(IMAGES[0], COLOR)) == 12
    for meta, top in ((COLOR, 1.0), (COUNT, 1.0), (POSITION, 0.9)):
        scores = reward(IMAGES, ["p"] * 2, [meta] * 2)
        assert all(0.0 <= s <= top for s in scores)


def test_vqa_asks_one_question_per_object_and_scores_yes_against_no(git_folder):
    reward = VQAReward(git_folder)
    assert reward.questions(COLOR) == ["a red circle?", "a star?"]
    assert reward.questions(POSITION) == [] and reward.questions(COUNT) == []
    scores = reward(IMAGES, ["p"] * 2, [COLOR] * 2)
    assert all(0 < s < 1 for s in scores) and scores[0] != scores[1]
    assert reward(IMAGES[:1], ["p"], [POSITION]) == [0.0]
    # the batch of questions gives what each question alone gives (padding does not leak)
    alone = [reward.score(IMAGES[0], {"tag": "colors", "include": [c]}) for c in COLOR["include"]]
    assert scores[0] == pytest.approx(np.mean(alone), abs=1e-5)


def test_missing_weights_say_what_to_pass(tmp_path):
    with pytest.raises(ValueError, match="grounding-dino"):
        GroundingDinoReward(tmp_path / "none")
    with pytest.raises(ValueError, match="git-large-vqav2"):
        VQAReward(tmp_path / "none")


@pytest.fixture(scope="module")
def orm_folder(tmp_path_factory):
    from reasongen.rewards.orm import QUESTION

    tmp = tmp_path_factory.mktemp("orm")
    words = [".", "?", ",", "yes", "no", *CLASSES, *COLOR_NAMES]
    save_tiny_llava(tmp, words + QUESTION.replace(".", " ").replace("?", " ").replace(":", " ").split())
    return tmp


def test_orm_reads_yes_against_no_on_the_official_question(orm_folder):
    from reasongen.rewards.orm import OutcomeReward

    reward = OutcomeReward(orm_folder)
    scores = reward(IMAGES, ["a photo of a red circle", "a photo of a star"])
    assert all(0 < s < 1 for s in scores) and scores[0] != scores[1]
    assert reward(IMAGES[:1], ["a photo of a red circle"])[0] == pytest.approx(scores[0], abs=1e-6)
    with pytest.raises(ValueError, match="ORM-T2I-R1"):
        OutcomeReward(orm_folder / "none")
