"""Mask2FormerDetector over tiny random checkpoints built here and loaded from folders, as a user would."""

from __future__ import annotations

import math
import string
import subprocess
import sys

import numpy as np
import pytest

from reasongen.eval.detector import make_detector
from reasongen.eval.geneval import Detection
from reasongen.eval.mask2former import GENEVAL_CLASSES, Mask2FormerDetector, geneval_name
from reasongen.world.vocab import COLOR_NAMES

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

ID2LABEL = {0: "person", 1: "bicycle", 2: "car", 3: "mouse"}  # "mouse" is COCO's name for "computer mouse"
NUM_QUERIES = 6


def _save_mask2former(folder):
    from transformers import (
        Mask2FormerConfig,
        Mask2FormerForUniversalSegmentation,
        Mask2FormerImageProcessorPil,
        SwinConfig,
    )

    torch.manual_seed(0)
    swin = SwinConfig(
        patch_size=4, embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=4,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )  # fmt: skip
    config = Mask2FormerConfig(
        backbone_config=swin, feature_size=32, mask_feature_size=32, hidden_dim=32, encoder_feedforward_dim=32,
        encoder_layers=1, decoder_layers=2, num_attention_heads=2, dim_feedforward=32, num_queries=NUM_QUERIES,
        id2label=ID2LABEL, label2id={v: k for k, v in ID2LABEL.items()},
    )  # fmt: skip
    model = Mask2FormerForUniversalSegmentation(config).eval()
    with torch.no_grad():  # every query's best class is "mouse", so it surely comes out
        model.class_predictor.bias.copy_(torch.tensor([2.0, -9.0, -9.0, 3.0, -9.0]))
    model.save_pretrained(folder)
    Mask2FormerImageProcessorPil(size={"shortest_edge": 64, "longest_edge": 96}).save_pretrained(folder)


def _save_clip(folder):
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

    torch.manual_seed(1)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in string.ascii_lowercase + "-":  # character-level BPE: no merges, no download
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    CLIPTokenizer(vocab=vocab, merges=[]).save_pretrained(folder)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
            max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        ),
        vision_config=dict(
            image_size=32, patch_size=8, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
            num_attention_heads=2,
        ),
        projection_dim=8,
    )  # fmt: skip
    CLIPModel(config).eval().save_pretrained(folder)
    CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    m2f, clip = tmp_path_factory.mktemp("m2f"), tmp_path_factory.mktemp("clip")
    _save_mask2former(m2f)
    _save_clip(clip)
    assert (m2f / "model.safetensors").exists() and (clip / "model.safetensors").exists()
    return str(m2f), str(clip)


@pytest.fixture(scope="module")
def detector(folders):
    return Mask2FormerDetector(model=folders[0], clip=folders[1])


@pytest.fixture
def image():
    return np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)


# -- construction -------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"model": "somewhere"}, {"clip": "somewhere"}])
def test_missing_weights_say_what_to_pass(kwargs):
    with pytest.raises(ValueError) as err:
        Mask2FormerDetector(**kwargs)
    message = str(err.value)
    for needle in ("--mask2former", "--clip", "model=", "clip=", "facebook/mask2former-swin-small-coco-instance",
                   "openai/clip-vit-large-patch14", "shapes"):  # fmt: skip
        assert needle in message
    with pytest.raises(ValueError, match="--mask2former"):
        make_detector("mask2former")


def test_absent_folder_is_named(folders, tmp_path):
    absent = str(tmp_path / "no_such_checkpoint")
    with pytest.raises(ValueError, match="no_such_checkpoint") as err:
        Mask2FormerDetector(model=absent, clip=folders[1])
    assert "local folder" in str(err.value) and "allow_download" in str(err.value)
    with pytest.raises(ValueError, match="no_such_checkpoint"):
        Mask2FormerDetector(model=folders[0], clip=absent)


def test_wrong_checkpoint_kind_is_refused(folders):
    # transformers would load a CLIP folder into Mask2Former with random weights and only warn.
    with pytest.raises(ValueError, match="expected 'mask2former'"):
        Mask2FormerDetector(model=folders[1], clip=folders[1])


def test_module_import_is_cheap():
    code = "import sys, reasongen.eval.mask2former; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# -- names --------------------------------------------------------------------------------------
COCO_NAMES = (  # mmdet / detectron2 COCO names, the spelling transformers checkpoints carry
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip


def test_names_map_to_geneval(detector):
    assert len(GENEVAL_CLASSES) == 80 and len(set(GENEVAL_CLASSES)) == 80
    assert tuple(detector.classes) == GENEVAL_CLASSES and tuple(detector.colors) == COLOR_NAMES
    assert tuple(geneval_name(n) for n in COCO_NAMES) == GENEVAL_CLASSES  # index for index
    assert all(geneval_name(n) == n for n in GENEVAL_CLASSES)
    for label, name in [("motorbike", "motorcycle"), ("aeroplane", "airplane"), ("sofa", "couch"),
                        ("diningtable", "dining table"), ("tvmonitor", "tv"), ("pottedplant", "potted plant"),
                        ("hair dryer", "hair drier"), ("Traffic_Light", "traffic light"),
                        ("cellphone", "cell phone")]:  # fmt: skip
        assert geneval_name(label) == name
    for stuff in ("wall-brick", "table-merged", "sky-other-merged", "grass"):
        assert geneval_name(stuff) is None
    assert detector.label_names == {0: "person", 1: "bicycle", 2: "car", 3: "computer mouse"}


# -- detection ----------------------------------------------------------------------------------
def test_detect_returns_geneval_detections(detector, image):
    found = detector.detect(image)
    assert 1 <= len(found) <= NUM_QUERIES  # top-k, k = number of queries; nothing thresholded away
    assert "computer mouse" in {d.cls for d in found}
    for det in found:
        assert isinstance(det, Detection) and det.cls in set(detector.label_names.values())
        assert 0.0 <= det.score <= 1.0 and isinstance(det.score, float)
        assert det.mask.dtype == bool and det.mask.shape == (64, 64) and det.mask.any()
        rows, cols = np.flatnonzero(det.mask.any(1)), np.flatnonzero(det.mask.any(0))
        assert det.box == (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)  # mmdet's mask2bbox
        x1, y1, x2, y2 = det.box
        assert 0 <= x1 < x2 <= 64 and 0 <= y1 < y2 <= 64
    assert len(detector.detect(image[:40])) >= 1 and detector.detect(image[:40])[0].mask.shape == (40, 64)


def test_instance_postprocessing_follows_mmdet(detector, monkeypatch):
    """Hand-made logits: top-k over queries x classes without the no-object column, unmapped labels
    dropped, padding cropped, mask = logit > 0, score = class prob x mean sigmoid inside the mask."""
    monkeypatch.setattr(detector, "label_names", {0: "person", 2: "car"})  # label 1 names no GenEval class
    class_logits = torch.tensor([[4.0, 1.0, 0.0, 0.0], [0.5, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 6.0]])
    masks = torch.full((3, 6, 8), -2.0)
    masks[0, 1:3, 1:4] = 2.0
    masks[0, :, 5:] = 5.0  # in the padding: must not reach the mask
    masks[1] = -4.0
    masks[1, 4, 0], masks[1, 5, 1] = 1.0, 3.0
    pixel_mask = torch.zeros(6, 8, dtype=torch.int64)
    pixel_mask[:, :5] = 1
    found = detector._instances(class_logits, masks, pixel_mask, (6, 5))

    def prob(row, col):
        row = class_logits[row].tolist()
        return math.exp(row[col]) / sum(math.exp(v) for v in row)

    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    mean_sig_1 = (sig(1.0) + sig(3.0)) / 2
    # the three best (query, class) pairs: (0, person), (1, car), (1, person); q2's no-object is ignored
    expected = [("person", (1.0, 1.0, 4.0, 3.0), prob(0, 0) * sig(2.0)),
                ("car", (0.0, 4.0, 2.0, 6.0), prob(1, 2) * mean_sig_1),
                ("person", (0.0, 4.0, 2.0, 6.0), prob(1, 0) * mean_sig_1)]  # fmt: skip
    got = sorted(((d.cls, d.box, d.score) for d in found), key=lambda t: -t[2])
    assert [(c, b) for c, b, _ in got] == [(c, b) for c, b, _ in expected]
    assert [s for *_, s in got] == pytest.approx([s for *_, s in expected], rel=1e-5)
    assert got[-1][2] < 0.3  # low-score hypotheses are kept for GenEval's own thresholds
    assert found[0].mask.shape == (6, 5) and found[0].mask.sum() == 6
    # a different image size: masks are resized to it
    assert all(d.mask.shape == (12, 10) for d in detector._instances(class_logits, masks, pixel_mask, (12, 10)))


# -- colours ------------------------------------------------------------------------------------
def test_color_crops_use_mask_and_box(detector, image, monkeypatch):
    yy, xx = np.mgrid[:64, :64]
    disk = (yy - 30) ** 2 + (xx - 20) ** 2 <= 10**2
    box = (10.0, 20.0, 31.0, 41.0)  # tight, x2 / y2 exclusive
    found = [Detection("car", box, 0.9, disk), Detection("car", (5.0, 6.0, 25.0, 16.0), 0.8, None)]
    seen = []
    real = detector._image_features

    def capture(crops):
        seen.extend(np.array(c) for c in crops)
        return real(crops)

    monkeypatch.setattr(detector, "_image_features", capture)
    colors = detector.classify_colors(image, found, "car")
    assert len(colors) == 2 and all(c in COLOR_NAMES for c in colors)
    crop, inside = seen[0], disk[20:41, 10:31]
    assert crop.shape == (21, 21, 3) and (~inside).any()
    assert (crop[~inside] == 153).all()  # "#999" outside the mask
    assert (crop[inside] == image[20:41, 10:31][inside]).all()
    assert seen[1].shape == (10, 20, 3) and (seen[1] == image[6:16, 5:25]).all()  # no mask: the plain crop
    for det in detector.detect(image)[:2]:  # the detector's own masks go through the same path
        seen.clear()
        detector.classify_colors(image, [det], "computer mouse")
        x1, y1, x2, y2 = map(int, det.box)
        assert seen[0].shape == (y2 - y1, x2 - x1, 3)
        assert (seen[0][~det.mask[y1:y2, x1:x2]] == 153).all()


def test_color_is_argmax_over_classifier(detector, image, monkeypatch):
    classifier = detector.color_classifier("car")
    assert detector.color_classifier("car") is classifier  # cached per class
    monkeypatch.setattr(detector, "_image_features", lambda crops: classifier[:, [7, 2]].T)
    found = [Detection("car", (0.0, 0.0, 8.0, 8.0), 0.9, None)] * 2
    assert detector.classify_colors(image, found, "car") == ["brown", "yellow"]
    assert detector.classify_colors(image, [], "car") == []


def test_color_classifier_averages_three_templates(detector):
    classifier = detector.color_classifier("computer mouse")
    assert classifier.shape == (8, 10)  # projection dim x GenEval's 10 colours
    assert torch.allclose(classifier.norm(dim=0), torch.ones(10), atol=1e-5)

    def embed(text):  # one prompt at a time: no padding involved
        tokens = detector.tokenizer([text], return_tensors="pt")
        with torch.no_grad():
            out = detector.clip.get_text_features(**tokens)
        out = out if isinstance(out, torch.Tensor) else out.pooler_output
        return torch.nn.functional.normalize(out[0], dim=-1)

    for j, color in enumerate(COLOR_NAMES):
        texts = [
            f"a photo of a {color} computer mouse",
            f"a photo of a {color}-colored computer mouse",
            f"a photo of a {color} object",
        ]
        mean = torch.stack([embed(t) for t in texts]).mean(0)
        assert torch.allclose(classifier[:, j], mean / mean.norm(), atol=1e-5)
        assert not torch.allclose(classifier[:, j], embed(texts[0]), atol=1e-3)  # really a mixture


# -- input checks -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.uint8), np.zeros((8, 8, 4), np.uint8), [[0]]]
)
def test_check_image_rejects(detector, bad):
    with pytest.raises(ValueError, match="where-it-came-from") as err:
        detector.check_image(bad, "where-it-came-from")
    if isinstance(bad, np.ndarray):
        assert str(bad.shape) in str(err.value) and str(bad.dtype) in str(err.value)
    with pytest.raises(ValueError):
        detector.detect(bad)
    detector.check_image(np.zeros((8, 8, 3), np.uint8), "fine")  # accepted


def test_check_size(detector):
    detector.check_size(512, 384, "x.png")  # any real photo size
    with pytest.raises(ValueError, match="x.png: image is 8x8"):
        detector.check_size(8, 8, "x.png")
