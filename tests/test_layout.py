"""Bad input to the evaluator and the samplers: clear errors that name the file and line, raised
before any image is scored."""

import json

import numpy as np
import pytest
from PIL import Image

from reasongen.eval import run as run_module
from reasongen.eval.layout import LayoutError, read_metadata
from reasongen.eval.run import evaluate_folder
from reasongen.methods import get_generator
from reasongen.methods.sampling import write_geneval_samples
from reasongen.world.vocab import CLASSES, COLOR_NAMES

META = {"tag": "single_object", "prompt": "a photo of a star", "include": [{"class": "star", "count": 1}]}


@pytest.fixture
def folder(tmp_path):
    out = tmp_path / "run"
    write_geneval_samples([META, {**META, "prompt": "a photo of a heart", "include": [{"class": "heart", "count": 1}]}],
                          get_generator("oracle"), out, n=2, progress=False)  # fmt: skip
    return out


@pytest.fixture
def no_scoring(monkeypatch):
    """Fail the test if any image is scored: checks must come first."""

    def boom(*a, **k):
        raise AssertionError("scoring started before the input was checked")

    monkeypatch.setattr(run_module, "score_image", boom)


def write_lines(path, lines):
    path.write_text("".join(lines))
    return path


def test_metadata_errors_name_file_and_line(tmp_path):
    good = json.dumps(META) + "\n"
    cases = {
        "unknown tag 'colours'": {**META, "tag": "colours"},
        "unknown class 'dog'": {**META, "include": [{"class": "dog", "count": 1}]},
        "unknown color 'teal'": {**META, "include": [{"class": "star", "count": 1, "color": "teal"}]},
        "count 0": {**META, "include": [{"class": "star", "count": 0}]},
        "position": {**META, "include": [{"class": "star", "count": 1, "position": ["near", 0]}]},
    }
    for message, bad in cases.items():
        path = write_lines(tmp_path / "m.jsonl", [good, "\n", json.dumps(bad) + "\n"])
        with pytest.raises(LayoutError) as e:
            read_metadata(path, CLASSES, COLOR_NAMES)
        assert f"{path} line 3" in str(e.value) and message in str(e.value)
    path = write_lines(tmp_path / "m.jsonl", [good, "{not json\n"])
    with pytest.raises(LayoutError, match="line 2: not valid JSON"):
        read_metadata(path, CLASSES, COLOR_NAMES)
    with pytest.raises(LayoutError, match="shapes-geneval"):
        read_metadata(tmp_path / "missing.jsonl", CLASSES, COLOR_NAMES)


def test_folder_not_in_geneval_layout(tmp_path, no_scoring):
    (tmp_path / "images").mkdir()
    Image.new("RGB", (64, 64)).save(tmp_path / "images" / "0.png")
    with pytest.raises(LayoutError, match="not in GenEval's layout"):
        evaluate_folder(tmp_path, progress=False)
    with pytest.raises(LayoutError, match="not a folder"):
        evaluate_folder(tmp_path / "nope", progress=False)


def test_missing_metadata_or_samples(folder, no_scoring):
    (folder / "00001" / "metadata.jsonl").unlink()
    with pytest.raises(LayoutError, match="00001/metadata.jsonl: missing"):
        evaluate_folder(folder, progress=False)


def test_bad_metadata_in_a_prompt_folder(folder, no_scoring):
    (folder / "00001" / "metadata.jsonl").write_text(json.dumps({**META, "include": [{"class": "pentagon", "count": 1}]}))
    with pytest.raises(LayoutError, match=r"00001/metadata.jsonl line 1: include\[0\] has unknown class 'pentagon'"):
        evaluate_folder(folder, progress=False)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: Image.new("RGBA", (64, 64)).save(p), "mode is RGBA, expected RGB"),
        (lambda p: Image.new("L", (64, 64)).save(p), "mode is L, expected RGB"),
        (lambda p: Image.new("RGB", (64, 40)).save(p), "square"),
        (lambda p: p.write_bytes(p.read_bytes()[:-200]), "not a readable PNG"),
        (lambda p: Image.new("RGB", (64, 64)).save(p, format="JPEG"), "is a JPEG file"),
    ],
)
def test_bad_images_are_named_before_scoring(folder, no_scoring, damage, message):
    path = folder / "00001" / "samples" / "0001.png"
    damage(path)
    with pytest.raises(LayoutError) as e:
        evaluate_folder(folder, progress=False)
    assert str(path) in str(e.value) and message in str(e.value)


def test_non_digit_folders_and_other_files_are_ignored_as_geneval_does(folder):
    (folder / "notes").mkdir()
    (folder / "00000" / "samples" / "grid.png").write_bytes(b"not an image")
    rows, summary = evaluate_folder(folder, progress=False, workers=1)
    assert summary["n_images"] == 4 and summary["overall"] == 1.0


def test_sampling_resumes_and_redraws_broken_samples(folder):
    gen = get_generator("oracle")
    records = [META, {**META, "prompt": "a photo of a heart", "include": [{"class": "heart", "count": 1}]}]
    first = np.asarray(Image.open(folder / "00001" / "samples" / "0001.png"))
    (folder / "00001" / "samples" / "0001.png").write_bytes(b"\x89PNG truncated")
    (folder / "00000" / "samples" / "0000.png").unlink()
    assert write_geneval_samples(records, gen, folder, n=2, progress=False) == 2
    assert (np.asarray(Image.open(folder / "00001" / "samples" / "0001.png")) == first).all()
    assert write_geneval_samples(records, gen, folder, n=2, progress=False) == 0


class Batched:
    """The oracle drawing several records per call through `many`, as BiCoT's generator does."""

    name, classes, colors, records_per_call = "batched", CLASSES, COLOR_NAMES, 2

    def __init__(self):
        self.oracle, self.calls = get_generator("oracle"), []

    def __call__(self, meta, seeds):
        raise AssertionError("records_per_call > 1 should go through many")

    def many(self, asks):
        self.calls.append([meta["prompt"] for meta, _ in asks])
        return [self.oracle(meta, seeds) for meta, seeds in asks]


def test_batched_sampling_writes_what_record_by_record_sampling_writes(folder, tmp_path):
    records = [META, {**META, "prompt": "a photo of a heart", "include": [{"class": "heart", "count": 1}]},
               {**META, "prompt": "a photo of a cross", "include": [{"class": "cross", "count": 1}]}]  # fmt: skip
    gen = Batched()
    assert write_geneval_samples(records, gen, tmp_path / "b", n=2, progress=False) == 6
    assert gen.calls == [["a photo of a star", "a photo of a heart"], ["a photo of a cross"]]
    for index in ("00000", "00001"):
        for j in ("0000", "0001"):
            same = np.asarray(Image.open(tmp_path / "b" / index / "samples" / f"{j}.png"))
            assert (same == np.asarray(Image.open(folder / index / "samples" / f"{j}.png"))).all()
    assert json.loads((tmp_path / "b" / "00002" / "metadata.jsonl").read_text()) == records[2]


def test_sampling_into_a_folder_of_other_prompts_is_refused(folder):
    with pytest.raises(LayoutError, match="another metadata file"):
        write_geneval_samples([{**META, "prompt": "a photo of a cross", "include": [{"class": "cross", "count": 1}]}],
                              get_generator("oracle"), folder, n=2, progress=False)  # fmt: skip


def test_mask2former_without_weights_says_what_to_pass(folder):
    with pytest.raises(ValueError, match="--mask2former") as e:
        evaluate_folder(folder, detector="mask2former", progress=False)
    assert "--clip" in str(e.value)
