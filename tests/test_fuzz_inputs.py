"""Property-based fuzzing (Hypothesis) of every input a user hands the command line: prompts,
metadata files, images, numeric options, output paths and model folders. Each bad input is refused
before any expensive work with exit status 2 and one `error: ...` line under 400 characters that
names the input, with no stack trace and nothing written.

Examples are few and drawn from a fixed seed (`derandomize`), so the run is fast and the same on
every machine; the strategies still reach the edges (empty, huge, NaN, other scripts, control
characters, truncation at any byte)."""

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from reasongen.cli import app
from reasongen.methods import SHIPPED_MODELS

runner = CliRunner()
# No shrinking: a failure is reported as found (shrinking a slow command's input can take minutes).
FUZZ = settings(max_examples=12, deadline=None, derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
FEW = settings(FUZZ, max_examples=5)


class Reached(Exception):
    """Raised where expensive work would start: the input got past every check."""


@pytest.fixture
def no_expensive_work():
    """Model loading and sampling raise `Reached`: a refusal must come before them."""

    def reached(*a, **k):
        raise Reached

    from reasongen import methods
    from reasongen.methods.cof.pipeline import CoFPipeline
    from reasongen.methods.reasondiff.pipeline import ReasonDiffPipeline

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(CoFPipeline, "from_pretrained", reached)
        mp.setattr(ReasonDiffPipeline, "from_pretrained", reached)
        mp.setattr(methods, "get_generator", reached)
        yield


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(autouse=True)
def quiet_logging_errors(monkeypatch):
    """Library loggers keep the stderr of the first CliRunner call, closed by the next one; a real
    process has one stderr. Their failed writes are not the command's output."""
    import logging

    monkeypatch.setattr(logging, "raiseExceptions", False)


def refused(res, *names: str) -> str:
    """The contract of a refusal; returns the error line. Only a library's progress bar or warning
    may come before it (`Loading weights: 100%`), never a second error or a stack trace."""
    assert not isinstance(res.exception, Reached), "expensive work started before the input was refused"
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    lines = [ln for ln in res.stderr.replace("\r", "\n").splitlines() if ln.strip()]
    err = lines[-1] if lines else ""
    assert err.startswith("error: ") and len(err) < 400, res.stderr
    assert sum("error" in ln.lower() for ln in lines) == 1, res.stderr
    assert "Traceback" not in res.output and not res.stdout.strip(), res.output
    for name in names:
        assert name in err, (name, err)
    return err


def png_bytes(size=(16, 16), mode="RGB") -> bytes:
    """A PNG of noise (so that its pixel data runs through the file: a cut anywhere loses pixels)."""
    import io

    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buf, format="PNG")
    return buf.getvalue()


def fresh(tmp_path: Path) -> Path:
    """A new empty folder for one example (Hypothesis runs many in one test's tmp_path)."""
    import tempfile

    return Path(tempfile.mkdtemp(dir=tmp_path))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header that claims `width` x `height` pixels (decoding it would take gigabytes)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


# -- prompts ----------------------------------------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=30)
control = st.characters(whitelist_categories=("Cc",), blacklist_characters="\t\n")


@FUZZ
@given(before=text, bad=control, after=text)
def test_a_prompt_with_a_control_character_is_refused(no_expensive_work, tmp_path, before, bad, after):
    tmp_path = fresh(tmp_path)
    prompt = "a " + before + bad + after
    for args in (["generate", prompt, "-o", tmp_path / "x.png"],
                 ["video", "--text", prompt, "--image", tmp_path / "x.png", "-o", tmp_path / "x.gif"]):  # fmt: skip
        refused(invoke(*args), f"U+{ord(bad):04X}")
    assert not list(tmp_path.iterdir())


@FUZZ
@given(prompt=st.one_of(st.text(" \t\n", max_size=20), st.text(min_size=4001, max_size=6000).filter(lambda p: p.strip())))
def test_an_empty_or_huge_prompt_is_refused_in_one_short_line(no_expensive_work, tmp_path, prompt):
    err = refused(invoke("generate", prompt, "-o", tmp_path / "x.png"), "the prompt")
    assert ("is empty" in err) if not prompt.strip() else ("characters" in err and "shorten it" in err)


@FEW
@given(prompt=st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=60).filter(
    lambda p: p.strip() and not p.startswith("-")))
def test_a_prompt_in_any_script_gets_past_the_checks(no_expensive_work, tmp_path, prompt):
    res = invoke("generate", prompt, "-o", tmp_path / "x.png")
    assert isinstance(res.exception, Reached), res.output


# -- numeric options --------------------------------------------------------------------------

nonfinite = st.sampled_from(["nan", "inf", "-inf"])
BAD_OPTIONS = {
    "--steps": st.one_of(st.integers(max_value=0), st.integers(min_value=1001)).map(str),
    "--guidance": st.one_of(nonfinite, st.floats(max_value=-1e-9, allow_nan=False).map(repr),
                            st.floats(min_value=100.5, allow_infinity=False).map(repr)),
    "--seed": st.one_of(st.integers(max_value=-1), st.integers(min_value=2**64)).map(str),
}  # fmt: skip


@FUZZ
@given(flag=st.sampled_from(sorted(BAD_OPTIONS)), data=st.data())
def test_sampling_options_out_of_range_are_refused_before_a_model_loads(no_expensive_work, tmp_path, flag, data):
    tmp_path = fresh(tmp_path)
    value = data.draw(BAD_OPTIONS[flag])
    refused(invoke("generate", "a red star", "-o", tmp_path / "x.png", flag, value), flag)
    refused(invoke("video", "--text", "a star", "--image", tmp_path / "x.png", "-o", tmp_path / "x.gif", flag, value), flag)
    refused(invoke("sample", "geneval", "--method", "cof", "--metadata", "shapes-geneval", "--outdir", tmp_path / "s", flag, value), flag)
    assert not list(tmp_path.iterdir())


@FUZZ
@given(flag=st.sampled_from(["--n", "--size", "--seed"]), low=st.booleans(), data=st.data())
def test_counts_and_sizes_out_of_range_are_refused_before_sampling(no_expensive_work, tmp_path, flag, low, data):
    tmp_path = fresh(tmp_path)
    edge = {"--n": (1, 10**8), "--size": (32, 1024), "--seed": (0, 2**64 - 1)}[flag]
    value = data.draw(st.integers(max_value=edge[0] - 1) if low else st.integers(min_value=edge[1] + 1))
    for args in (["sample", "geneval", "--method", "oracle", "--metadata", "shapes-geneval", "--outdir", tmp_path / "s"],
                 ["world", "render", "shapes-geneval", "--outdir", tmp_path / "r"],
                 ["world", "sample", "--n", "2", "--outdir", tmp_path / "w"]):  # fmt: skip
        refused(invoke(*args, flag, value), flag)
    assert not list(tmp_path.iterdir())


@FEW
@given(device=st.one_of(st.sampled_from(["tpu", "cuda:x", "", "gpu0"]), st.text(min_size=1, max_size=12).filter(
    lambda d: not d.startswith(("cpu", "cuda", "-")))))
def test_an_unknown_device_is_refused(no_expensive_work, tmp_path, device):
    refused(invoke("generate", "a red star", "-o", tmp_path / "x.png", "--device", device), "--device")


@FUZZ
@given(value=st.one_of(st.text(min_size=1, max_size=8).filter(lambda v: not v.strip().lstrip("-+").isdigit()),
                       st.floats(allow_nan=False).filter(lambda v: v != int(v) if np.isfinite(v) else True).map(repr)))  # fmt: skip
def test_a_value_of_the_wrong_type_is_one_line_not_a_panel(tmp_path, value):
    res = invoke("world", "sample", "--outdir", tmp_path / "w", "--n", value)
    refused(res, "--n")


# -- output paths -----------------------------------------------------------------------------


@FUZZ
@given(ext=st.text("abcdefghijklmnopqrstuvwxyz0123456789", max_size=5).filter(lambda e: f".{e}" not in (".png", ".jpg", ".jpeg", ".webp", ".bmp")))
def test_an_output_with_an_extension_no_format_has_is_refused(no_expensive_work, tmp_path, ext):
    tmp_path = fresh(tmp_path)
    out = tmp_path / (f"out.{ext}" if ext else "out")
    refused(invoke("generate", "a red star", "-o", out), "-o", "use e.g.")
    refused(invoke("video", "--text", "a star", "--image", tmp_path / "x.png", "-o", out), "-o")
    refused(invoke("eval", "geneval", tmp_path, "--out", out), "--out")
    assert not list(tmp_path.iterdir())


def test_output_into_a_folder_that_cannot_be_made_is_refused_and_an_existing_file_survives_a_refusal(no_expensive_work, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    refused(invoke("generate", "a red star", "-o", blocker / "x.png"), "cannot write in")
    refused(invoke("world", "sample", "--n", "2", "--outdir", blocker / "data"), "--outdir", "cannot write in")
    refused(invoke("eval", "geneval", tmp_path, "--per-image", blocker / "rows.jsonl"), "--per-image")
    refused(invoke("generate", "a red star", "-o", tmp_path), "is a folder")
    existing = tmp_path / "keep.png"
    existing.write_bytes(png_bytes())
    refused(invoke("generate", "a red star", "-o", existing, "--steps", "0"), "--steps")
    assert existing.read_bytes() == png_bytes()


# -- metadata files ---------------------------------------------------------------------------

good = {"tag": "single_object", "prompt": "a photo of a star", "include": [{"class": "star", "count": 1}]}
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=6)  # fmt: skip
BAD_RECORDS = st.one_of(
    st.text(min_size=1, max_size=40).filter(lambda t: t.strip() and not _is_json(t)).map(lambda t: t.replace("\n", " ")),
    json_values.filter(lambda v: not isinstance(v, dict)).map(json.dumps),
    st.builds(lambda key, v: json.dumps({**good, key: v}), st.sampled_from(["tag", "prompt", "include"]),
              json_values.filter(lambda v: not isinstance(v, list) or not v)),
    st.builds(lambda c: json.dumps({**good, "include": [{"class": c, "count": 1}]}), st.text(max_size=10).filter(lambda c: c != "star")),
    st.builds(lambda n: json.dumps({**good, "include": [{"class": "star", "count": n}]}),
              st.one_of(st.integers(max_value=0), st.floats(), st.booleans(), st.text(max_size=3))),
    st.builds(lambda c: json.dumps({**good, "include": [{"class": "star", "count": 1, "color": c}]}),
              st.text(max_size=8).filter(lambda c: c not in ("red", "green", "blue", "yellow", "purple", "orange", "white", "black"))),
)  # fmt: skip


def _is_json(t: str) -> bool:
    try:
        json.loads(t)
        return True
    except ValueError:
        return False


@FUZZ
@given(bad=BAD_RECORDS, where=st.integers(0, 3))
def test_a_malformed_metadata_line_is_refused_naming_the_line(tmp_path, bad, where):
    tmp_path = fresh(tmp_path)
    lines = [json.dumps(good)] * 3
    lines.insert(where, bad)
    meta = tmp_path / "meta.jsonl"
    meta.write_text("\n".join(lines) + "\n")
    refused(invoke("sample", "geneval", "--method", "oracle", "--metadata", meta, "--outdir", tmp_path / "s"), f"line {where + 1}")
    assert not (tmp_path / "s").exists() or not [p for p in (tmp_path / "s").iterdir() if p.name != ".reasongen.lock"]
    folder = tmp_path / "e" / "00000"
    (folder / "samples").mkdir(parents=True)
    (folder / "samples" / "0000.png").write_bytes(png_bytes((64, 64)))
    (folder / "metadata.jsonl").write_text(bad + "\n")
    refused(invoke("eval", "geneval", tmp_path / "e", "--workers", 1), str(folder / "metadata.jsonl"))


# -- images -----------------------------------------------------------------------------------

CORRUPT = st.one_of(
    st.builds(lambda cut: png_bytes((64, 64))[:cut], st.integers(0, len(png_bytes((64, 64))) - 13)),  # truncated anywhere
    st.binary(max_size=64),  # not an image
    st.just(png_claiming(60_000, 60_000)),  # a decompression bomb
    st.just(b"GIF89a" + bytes(20)),  # a broken file of another format
)


@FUZZ
@given(data=CORRUPT)
def test_a_broken_condition_image_is_refused_naming_it(no_expensive_work, tmp_path, data):
    tmp_path = fresh(tmp_path)
    image = tmp_path / "cond.png"
    image.write_bytes(data)
    refused(invoke("video", "--text", "a star", "--image", image, "-o", tmp_path / "x.gif"), "--image", str(image))
    assert not (tmp_path / "x.gif").exists()


@FEW
@given(mode=st.sampled_from(["L", "RGBA", "P", "I;16", "1", "CMYK"]), size=st.tuples(st.integers(1, 300), st.integers(1, 300)))
def test_a_condition_image_of_any_mode_and_size_gets_past_the_checks(no_expensive_work, tmp_path, mode, size):
    tmp_path = fresh(tmp_path)
    image = tmp_path / ("cond.jpg" if mode == "CMYK" else "cond.png")
    Image.new(mode, size).save(image)
    res = invoke("video", "--text", "a star", "--image", image, "-o", tmp_path / "x.gif")
    assert isinstance(res.exception, Reached), res.output  # the pipeline converts and resizes it, and says so


@FUZZ
@given(data=st.one_of(CORRUPT, st.sampled_from(["L", "RGBA", "P"]).map(lambda m: png_bytes((64, 64), m))))
def test_a_broken_sample_is_refused_by_eval_naming_the_file(tmp_path, data):
    tmp_path = fresh(tmp_path)
    folder = tmp_path / "e" / "00000"
    (folder / "samples").mkdir(parents=True)
    (folder / "metadata.jsonl").write_text(json.dumps(good) + "\n")
    (folder / "samples" / "0000.png").write_bytes(png_bytes((64, 64)))
    (folder / "samples" / "0001.png").write_bytes(data)
    refused(invoke("eval", "geneval", tmp_path / "e", "--out", tmp_path / "r.json", "--workers", 1), str(folder / "samples" / "0001.png"))
    assert not (tmp_path / "r.json").exists()


# -- model folders ----------------------------------------------------------------------------


def copy_model(name: str, dest: Path) -> Path:
    shutil.copytree(SHIPPED_MODELS / name, dest)
    index = json.loads((dest / "model_index.json").read_text())
    if "vae_folder" in index:  # the copy shares the shipped VAE
        index["vae_folder"] = str((SHIPPED_MODELS / name / index["vae_folder"]).resolve())
    (dest / "model_index.json").write_text(json.dumps(index))
    return dest


def damage(folder: Path, kind: str, cut: float) -> None:
    weights = min(folder.rglob("*.safetensors"))
    config = weights.parent / "config.json"
    if kind == "truncated weights":
        weights.write_bytes(weights.read_bytes()[: int(cut * weights.stat().st_size)])
    elif kind == "no weights":
        weights.unlink()
    elif kind == "foreign weights":  # another model's tensors under this model's name
        shutil.copy(min((SHIPPED_MODELS / "shapes-vae").rglob("*.safetensors")), weights)
    elif kind == "garbage weights":
        weights.write_bytes(bytes(int(cut * 5000)))
    elif kind == "garbage config":
        config.write_text("{not json" if cut < 0.5 else json.dumps([1, 2]))
    elif kind == "garbage index":
        (folder / "model_index.json").write_text(json.dumps({"_class_name": 3}) if cut < 0.5 else "\x00\x01")
    elif kind == "no index":
        (folder / "model_index.json").unlink()


DAMAGE = ["truncated weights", "no weights", "foreign weights", "garbage weights", "garbage config", "garbage index", "no index"]


@settings(FUZZ, max_examples=8)
@given(kind=st.sampled_from(DAMAGE), cut=st.floats(0.0, 0.999))
def test_a_damaged_model_folder_is_named_in_one_line(tmp_path_factory, kind, cut):
    tmp = tmp_path_factory.mktemp("model")
    wan = copy_model("shapes-wan", tmp / "wan")
    damage(wan, kind, cut)
    refused(invoke("generate", "a red star", "--model", wan, "-o", tmp / "x.png", "--steps", 1), str(wan))
    refused(invoke("sample", "geneval", "--method", "wan", "--model", wan, "--metadata", "shapes-geneval", "--outdir", tmp / "s",
                   "--steps", 1), str(wan))  # fmt: skip
    rd = copy_model("reasondiff-shapes", tmp / "rd")
    damage(rd, kind, cut)
    image = tmp / "cond.png"
    image.write_bytes(png_bytes((64, 64)))
    refused(invoke("video", "--text", "a star", "--image", image, "--model", rd, "-o", tmp / "x.gif", "--steps", 1), str(rd))
    assert not (tmp / "x.png").exists() and not (tmp / "x.gif").exists() and not list((tmp / "s").glob("0*"))


def test_another_methods_checkpoint_is_refused_naming_the_method(tmp_path):
    image = tmp_path / "cond.png"
    image.write_bytes(png_bytes((64, 64)))
    rd, wan = SHIPPED_MODELS / "reasondiff-shapes", SHIPPED_MODELS / "shapes-wan"
    refused(invoke("generate", "a red star", "--model", rd, "-o", tmp_path / "x.png"), str(rd))
    refused(invoke("generate", "a red star", "--method", "t2i-r1", "--model", wan, "-o", tmp_path / "x.png"), "--method wan")
    refused(invoke("video", "--text", "a star", "--image", image, "--model", wan, "-o", tmp_path / "x.gif"), "--method wan")
    refused(invoke("sample", "geneval", "--method", "cof", "--model", SHIPPED_MODELS / "shapes-vae", "--metadata", "shapes-geneval",
                   "--outdir", tmp_path / "s"), "shapes-vae")  # fmt: skip


# -- training commands: their options and data ------------------------------------------------

TRAINING = {
    "vae": ["train", "vae"],
    "vq": ["train", "vq"],
    "cof": ["train", "cof", "--data", "{tmp}/data", "--vae", str(SHIPPED_MODELS / "shapes-vae")],
    "fox": ["train", "fox", "--data", "{tmp}/data", "--vae", str(SHIPPED_MODELS / "shapes-vae")],
    "reasondiff": ["train", "reasondiff", "--data", "{tmp}/data", "--vae", str(SHIPPED_MODELS / "shapes-vae")],
    "wan": ["train", "wan", "--data", "{tmp}/data"],
}
BAD_TRAINING = {
    "--steps": st.integers(max_value=0).map(str),
    "--batch-size": st.integers(max_value=0).map(str),
    "--lr": st.one_of(nonfinite, st.floats(max_value=-1e-9, allow_nan=False).map(repr), st.floats(min_value=1.5, allow_infinity=False).map(repr)),
    "--checkpoint-every": st.integers(max_value=0).map(str),
    "--seed": st.integers(max_value=-1).map(str),
}  # fmt: skip


@FUZZ
@given(command=st.sampled_from(sorted(TRAINING)), flag=st.sampled_from(sorted(BAD_TRAINING)), data=st.data())
def test_training_options_out_of_range_are_refused_before_a_run_starts(tmp_path_factory, command, flag, data):
    tmp = tmp_path_factory.mktemp("train")
    args = [a.format(tmp=tmp) for a in TRAINING[command]] + ["--output-dir", tmp / "run", flag, data.draw(BAD_TRAINING[flag])]
    refused(invoke(*args), flag)
    assert not (tmp / "run").exists()


@FEW
@given(command=st.sampled_from(["cof", "fox", "reasondiff", "wan"]), state=st.sampled_from(["missing", "empty", "garbage"]))
def test_a_training_data_folder_that_is_missing_or_garbage_is_refused(tmp_path_factory, command, state):
    tmp = tmp_path_factory.mktemp("data")
    data = tmp / "data"
    if state != "missing":
        data.mkdir()
    if state == "garbage":
        for name in ("chains.json", "records.json", "pairs.json", "frames.json", "info.json"):
            (data / name).write_text("{not json")
    args = [a.format(tmp=tmp) for a in TRAINING[command]] + ["--output-dir", tmp / "run", "--steps", "1", "--batch-size", "2"]
    refused(invoke(*args), str(data))


@FEW
@given(command=st.sampled_from(["wan data", "cof data", "fox data", "reasondiff data"]), flag=st.sampled_from(["--n", "--workers", "--seed"]))
def test_data_builders_refuse_counts_out_of_range(tmp_path_factory, command, flag):
    tmp = tmp_path_factory.mktemp("build")
    args = [*command.split(), "--out", tmp / "data"] + ([] if command == "wan data" else ["--vae", SHIPPED_MODELS / "shapes-vae"])
    refused(invoke(*args, flag, "-1" if flag != "--workers" else "0"), flag)
    assert not (tmp / "data").exists()
