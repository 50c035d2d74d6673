"""T2I-CompBench's official evaluators on tiny random BLIP, OWLv2 and CLIP folders built here: they
load, score every category within range through the official arithmetic, parse the prompts as the
official scripts do, and name the option to pass when a folder is missing."""

import numpy as np
import pytest
import torch

from reasongen.eval import compbench as cb
from reasongen.eval import compbench_models as cbm
from reasongen.methods.sampling import FlatLayout, write_samples

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "yes", "no", "a", "an", "the", "?", "green", "bench", "red", "car"]


@pytest.fixture(autouse=True)
def rule_parser(monkeypatch):
    monkeypatch.setattr(cbm, "_spacy", lambda: None)  # the tests pin the rule parser, spaCy or not


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from transformers import (
        BertTokenizerFast,
        BlipConfig,
        BlipForQuestionAnswering,
        BlipImageProcessor,
        BlipProcessor,
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        Owlv2Config,
        Owlv2ForObjectDetection,
        Owlv2ImageProcessor,
        Owlv2Processor,
    )

    from reasongen.backbones.text import shapes_tokenizer

    tmp, small = tmp_path_factory.mktemp("models"), {"intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    vision = dict(hidden_size=32, image_size=32, patch_size=8, **small)
    torch.manual_seed(0)
    bert = BertTokenizerFast(vocab={w: i for i, w in enumerate(WORDS)})
    blip = BlipConfig(text_config=dict(vocab_size=len(WORDS), hidden_size=32, max_position_embeddings=32, bos_token_id=5, pad_token_id=0,
                                       sep_token_id=3, **small), vision_config=vision)  # fmt: skip
    BlipForQuestionAnswering(blip).save_pretrained(tmp / "blip", safe_serialization=True)
    BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=bert).save_pretrained(tmp / "blip")
    tok = shapes_tokenizer()
    text = dict(vocab_size=len(tok), hidden_size=32, max_position_embeddings=16, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                bos_token_id=tok.bos_token_id, **small)  # fmt: skip
    Owlv2ForObjectDetection(Owlv2Config(text_config=text, vision_config=vision, projection_dim=32)).save_pretrained(tmp / "owl", safe_serialization=True)
    Owlv2Processor(image_processor=Owlv2ImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok).save_pretrained(tmp / "owl")
    CLIPModel(CLIPConfig(text_config={**text, "max_position_embeddings": 32}, vision_config=vision, projection_dim=16)).save_pretrained(
        tmp / "clip", safe_serialization=True)
    tok.save_pretrained(tmp / "clip")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(tmp / "clip")
    return {k: str(tmp / k) for k in ("blip", "owl", "clip")}


def test_prompt_parsing_follows_the_official_rules():
    assert cbm.noun_phrases("a green bench and a red car") == ["a green bench", "a red car"]
    assert cbm.noun_phrases("a bathroom with green tile and a red shower curtain") == ["a bathroom", "green tile", "a red shower curtain"]
    assert cbm.noun_phrases("a circle on the left of a square") == ["a circle", "a square"]  # "the left" is never asked
    assert cbm.spatial_objects("a girl on the top of a frog") == ("person", "frog", "on the top of")
    assert cbm.spatial_objects("a mouse on side of a key") == ("mouse", "key", "on side of")
    vocab = cbm.read_vocabulary()
    assert cbm.numeracy_objects("two boys and a dog", vocab) == [("boy", 2), ("dog", 1)]
    assert cbm.numeracy_objects("five drums", vocab) == [("drum", 5)]
    assert "red" not in cbm.without_adjectives("The red hat was on top of the brown coat rack.").split()


def test_blip_answers_are_probabilities_and_the_image_score_their_rounded_product(folders):
    blip = cbm.BlipVQA(folders["blip"])
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    answers = blip(image, ["a green bench?", "a red car?"])
    assert len(answers) == 2 and all(0 < a < 1 for a in answers)
    scorer = cbm.OfficialCompBench("color", blip=folders["blip"])
    assert scorer(image, {"prompt": "a green bench and a red car"}) == pytest.approx(round(answers[0], 4) * round(answers[1], 4))


def test_spatial_score_from_detections_matches_the_hand_computed_number():
    scorer = object.__new__(cbm.OfficialCompBench)
    scorer.detector = lambda image, names: [("person", 0.9, (0, 0, 100, 100)), ("frog", 0.8, (0, 300, 100, 400))]
    assert scorer.spatial(None, "a girl on the top of a frog") == pytest.approx(0.25 * 0.9 + 0.25 * 0.8 + 0.5)
    assert scorer.spatial(None, "a girl on the bottom of a frog") == 0.0  # 0.425 < 0.5
    scorer.vocabulary = cbm.read_vocabulary()
    scorer.detector = lambda image, names: [("dog", 0.9, (0, 0, 99, 99)), ("dog", 0.8, (1, 1, 99, 99)), ("dog", 0.7, (200, 0, 299, 99))]
    assert scorer.numeracy(None, "two dogs and a cat") == pytest.approx(0.5)  # dogs: present and two (a near-duplicate merged); no cat


class Noise:
    name = "noise"

    def __call__(self, meta, seeds):
        return [np.random.default_rng(s).integers(0, 256, (64, 64, 3), dtype=np.uint8) for s in seeds]


@pytest.mark.parametrize("category", ["color", "spatial", "numeracy", "non_spatial", "complex"])
def test_every_official_category_scores_a_folder(tmp_path, folders, category):
    records = cb.read_prompts(category)[:2]
    if category == "complex":
        records = [next(r for r in cb.read_prompts("complex") if len(r["parts"]) == n) for n in (2, 3)]
    write_samples(records, Noise(), tmp_path, FlatLayout("samples", cb.image_name), n=2, progress=False)
    rows, summary = cbm.evaluate_official_folder(tmp_path, category, blip=folders["blip"], clip=folders["clip"],
                                                 detector=folders["owl"], progress=False)  # fmt: skip
    assert [r["question_id"] for r in rows] == [0, 1, 2, 3] and rows[3]["prompt"] == records[1]["prompt"]
    low = -1.0 if category in ("non_spatial", "complex") else 0.0  # CLIPScore (also 3-in-1's action part) is a raw cosine
    assert all(low <= r["answer"] <= 1 for r in rows) and summary["score"] == pytest.approx(np.mean([r["answer"] for r in rows]))


def test_missing_or_wrong_folders_name_the_option(tmp_path, folders):
    with pytest.raises(ValueError, match="--blip DIR"):
        cbm.OfficialCompBench("color")
    with pytest.raises(ValueError, match="--detector DIR and --clip DIR|--blip DIR and --detector DIR"):
        cbm.OfficialCompBench("complex", blip=folders["blip"])
    with pytest.raises(ValueError, match="depth"):
        cbm.OfficialCompBench("3d_spatial")
    with pytest.raises(ValueError, match="--detector DIR"):
        cbm.OwlDetector(tmp_path / "none")
    with pytest.raises(ValueError, match="OWLv2 or OWL-ViT"):
        cbm.OwlDetector(folders["blip"])
    with pytest.raises(ValueError, match="--blip DIR"):
        cbm.BlipVQA(tmp_path / "none")
