"""T2I-CompBench's official evaluators on tiny random BLIP, OWLv2, CLIP and DPT folders built here:
they load, score every category within range through the official arithmetic, parse the prompts as
the official scripts do, and name the option to pass when a folder is missing. The DPT is a plain
ViT DPT (not the hybrid ViT + ResNet of dpt-hybrid-midas): the same depth head and interface, tiny."""

import json

import numpy as np
import pytest
import torch

from typer.testing import CliRunner

from reasongen.cli import app
from reasongen.eval import compbench as cb
from reasongen.eval import compbench_models as cbm
from reasongen.methods.sampling import FlatLayout, write_samples

runner = CliRunner()

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
        DPTConfig,
        DPTForDepthEstimation,
        DPTImageProcessor,
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
    # patch 16: the official 480 x 480 input is a 30 x 30 grid (position embeddings interpolated from 2 x 2)
    dpt = DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32, image_size=32,
                    patch_size=16, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 8, 8, 8], fusion_hidden_size=16,
                    head_hidden_size=8)  # fmt: skip
    DPTForDepthEstimation(dpt).save_pretrained(tmp / "dpt", safe_serialization=True)
    DPTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp / "dpt")
    return {k: str(tmp / k) for k in ("blip", "owl", "clip", "dpt")}


def test_prompt_parsing_follows_the_official_rules():
    assert cbm.noun_phrases("a green bench and a red car") == ["a green bench", "a red car"]
    assert cbm.noun_phrases("a bathroom with green tile and a red shower curtain") == ["a bathroom", "green tile", "a red shower curtain"]
    assert cbm.noun_phrases("a circle on the left of a square") == ["a circle", "a square"]  # "the left" is never asked
    assert cbm.spatial_objects("a girl on the top of a frog") == ("person", "frog", "on the top of")
    assert cbm.spatial_objects("a mouse on side of a key") == ("mouse", "key", "on side of")
    assert cbm.spatial_objects("a dog in front of a desk", cb.SPATIAL_3D_WORDS) == ("dog", "desk", "in front of")
    assert cbm.spatial_objects("a woman hidden by a cow", cb.SPATIAL_3D_WORDS) == ("person", "cow", "hidden")
    assert cbm.spatial_objects("a cat behind a boy", cb.SPATIAL_3D_WORDS) == ("cat", "person", "behind")
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


def test_3d_spatial_score_from_detections_and_depth_matches_the_hand_computed_number():
    scorer = object.__new__(cbm.OfficialCompBench)
    depth = np.arange(32, dtype=float).reshape(4, 8)  # a block's mean: 8 mean(rows) + mean(cols)
    scorer.depth = lambda image: depth
    image = np.zeros((4, 8, 3), np.uint8)
    # dog (0, 0, 2, 4) reads rows 0:2 x cols 0:4 = 5.5, desk (0, 0, 2, 3) 5.0 (axes swapped, as the official); IoU 0.75
    scorer.detector = lambda image, names: [("dog", 0.9, (0, 0, 2, 4)), ("desk", 0.8, (0, 0, 2, 3))]
    assert scorer.spatial_3d(image, "a dog in front of a desk") == pytest.approx(0.25 * 0.9 + 0.25 * 0.8 + 0.5)
    assert scorer.spatial_3d(image, "a dog behind a desk") == pytest.approx(0.425)  # wrong order: 0.425, no 0.5 cut
    scorer.detector = lambda image, names: [("dog", 0.9, (0, 0, 2, 4))]
    assert scorer.spatial_3d(image, "a dog hidden by a desk") == pytest.approx(0.225)  # one object: 0.25 s


def test_detector_boxes_are_clipped_to_the_image_as_unidets_are(folders):
    image = np.random.default_rng(1).integers(0, 256, (40, 64, 3), dtype=np.uint8)
    found = cbm.OwlDetector(folders["owl"], threshold=0.0)(image, ["circle", "square"])  # every box of the random model
    assert found
    boxes = np.array([f[2] for f in found])
    assert (boxes >= 0).all() and (boxes[:, [0, 2]] <= 64).all() and (boxes[:, [1, 3]] <= 40).all()


def test_dpt_depth_is_a_normalised_8_bit_map_at_the_image_size(folders):
    image = np.random.default_rng(0).integers(0, 256, (40, 64, 3), dtype=np.uint8)  # 480 x 480 in, 40 x 64 out
    depth = cbm.DptDepth(folders["dpt"])(image)
    assert depth.shape == (40, 64) and depth.min() >= 0 and depth.max() <= 1
    assert np.allclose(depth * 255, np.round(depth * 255))  # the official PNG round trip: 256 levels


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


def test_eval_compbench_scores_3d_spatial_end_to_end(tmp_path, folders, monkeypatch):
    calls = []
    depth_call = cbm.DptDepth.__call__
    monkeypatch.setattr(cbm.DptDepth, "__call__", lambda self, image: calls.append(1) or depth_call(self, image))
    # 3D prompt forms in the words the tiny OWLv2's tokenizer knows (the real names all read as <unk>, one query)
    records = [{"tag": "3d_spatial", "prompt": p} for p in ("a circle in front of a square", "a square hidden by a circle")]  # fmt: skip
    write_samples(records, Noise(), tmp_path, FlatLayout("samples", cb.image_name), n=2, progress=False)
    res = runner.invoke(app, ["eval", "compbench", str(tmp_path), "--category", "3d_spatial", "--evaluator", "official",
                              "--detector", folders["owl"], "--depth", folders["dpt"], "--out", str(tmp_path / "res.json")])  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "res.json").read_text())
    assert 0 <= summary["score"] <= 1 and summary["n_images"] == 4 and summary["category"] == "3d_spatial"
    assert calls  # the random OWLv2 finds both objects somewhere: the depth rule ran


def test_missing_depth_folder_is_one_error_line_naming_the_option(tmp_path, folders):
    layout = FlatLayout("samples", cb.image_name)
    write_samples(cb.read_prompts("3d_spatial")[:1], Noise(), tmp_path, layout, n=1, progress=False)
    base = ["eval", "compbench", str(tmp_path), "--category", "3d_spatial", "--evaluator", "official",
            "--detector", folders["owl"]]  # fmt: skip
    for extra in (["--depth", str(tmp_path / "none")], []):
        res = runner.invoke(app, base + extra)
        errors = [line for line in res.output.splitlines() if line.startswith("error:")]
        assert res.exit_code == 2 and len(errors) == 1 and "--depth DIR" in errors[0], res.output


def test_missing_or_wrong_folders_name_the_option(tmp_path, folders):
    with pytest.raises(ValueError, match="--blip DIR"):
        cbm.OfficialCompBench("color")
    with pytest.raises(ValueError, match="--detector DIR and --clip DIR|--blip DIR and --detector DIR"):
        cbm.OfficialCompBench("complex", blip=folders["blip"])
    with pytest.raises(ValueError, match="--detector DIR and --depth DIR"):
        cbm.OfficialCompBench("3d_spatial")
    with pytest.raises(ValueError, match="--depth DIR"):
        cbm.DptDepth(tmp_path / "none")
    with pytest.raises(ValueError, match="--depth takes a DPT"):
        cbm.DptDepth(folders["blip"])
    with pytest.raises(ValueError, match="--detector DIR"):
        cbm.OwlDetector(tmp_path / "none")
    with pytest.raises(ValueError, match="OWLv2 or OWL-ViT"):
        cbm.OwlDetector(folders["blip"])
    with pytest.raises(ValueError, match="--blip DIR"):
        cbm.BlipVQA(tmp_path / "none")
