"""Long commands killed (SIGKILL) at random points and run again: the folder ends complete, every
file readable, nothing duplicated, and the same as an uninterrupted run's; a second command into a
folder that a live one writes is refused."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-c", "from reasongen.cli import main; main()"]


def run_killed(args, cwd, folder: Path, written: int) -> bool:
    """Start the command and SIGKILL it once `folder` holds `written` PNGs (polled every 5 ms);
    True when it was killed before finishing."""
    import time

    proc = subprocess.Popen(CLI + args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None:
        if folder.is_dir() and sum(1 for _ in folder.rglob("*.png")) >= written:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.005)
    return False


def images_of(folder: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(folder)): np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.rglob("*.png"))}


def test_a_killed_sample_geneval_completes_on_rerun_with_every_image_readable(tmp_path):
    meta = tmp_path / "meta.jsonl"
    from reasongen.world.benchmarks import shipped_path

    meta.write_text("".join(shipped_path("shapes-geneval").read_text().splitlines(keepends=True)[:120]))
    args = ["sample", "geneval", "--method", "oracle", "--metadata", str(meta), "--n", "4"]
    subprocess.run(CLI + args + ["--outdir", str(tmp_path / "whole")], check=True, capture_output=True)
    rng = np.random.default_rng(0)
    for written in sorted(rng.integers(20, 460, size=3)):  # killed three times at random points, then run to the end
        assert run_killed(args + ["--outdir", str(tmp_path / "killed")], tmp_path, tmp_path / "killed", int(written))
    subprocess.run(CLI + args + ["--outdir", str(tmp_path / "killed")], check=True, capture_output=True)
    whole, killed = images_of(tmp_path / "whole"), images_of(tmp_path / "killed")
    assert len(whole) == 480 and sorted(whole) == sorted(killed)
    assert all(np.array_equal(whole[k], killed[k]) for k in whole)
    assert "overall" in subprocess.run(CLI + ["eval", "geneval", str(tmp_path / "killed")], check=True, capture_output=True,
                                       text=True).stdout  # fmt: skip


def test_a_killed_world_sample_resumes_to_the_same_dataset(tmp_path):
    args = ["world", "sample", "--n", "400", "--size", "64"]
    subprocess.run(CLI + args + ["--outdir", str(tmp_path / "whole")], check=True, capture_output=True)
    for written in (90, 260):
        assert run_killed(args + ["--outdir", str(tmp_path / "killed")], tmp_path, tmp_path / "killed", written)
    subprocess.run(CLI + args + ["--outdir", str(tmp_path / "killed")], check=True, capture_output=True)
    lines = [(tmp_path / d / "metadata.jsonl").read_text().splitlines() for d in ("whole", "killed")]
    assert lines[0] == lines[1] and len(lines[0]) == 400
    names = [json.loads(x)["file_name"] for x in lines[1]]
    assert len(set(names)) == 400
    whole, killed = images_of(tmp_path / "whole"), images_of(tmp_path / "killed")
    assert all(np.array_equal(whole[k], killed[k]) for k in whole) and len(killed) == 400


def test_sampling_into_a_folder_a_live_run_writes_is_refused(tmp_path):
    from reasongen.locks import folder_lock

    with folder_lock(tmp_path / "out"):
        res = subprocess.run(CLI + ["sample", "geneval", "--method", "oracle", "--metadata", "shapes-geneval", "--n", "1",
                                    "--outdir", str(tmp_path / "out")], check=False, capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 2 and "in use by another sampling run" in res.stderr and "Traceback" not in res.stderr
    assert not list((tmp_path / "out").glob("0*"))


# -- training and data builders ---------------------------------------------------------------

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread: the same float sums in every process


def run_killed_when(args, cwd, ready, prefix=CLI) -> bool:
    """Start the command and SIGKILL it as soon as `ready()` holds (polled every 5 ms); True when it
    was killed before finishing."""
    import time

    proc = subprocess.Popen(prefix + args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    while proc.poll() is None:
        if ready():
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.005)
    return False


def tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(path)


def same_tensors(a: Path, b: Path) -> bool:
    import torch

    x, y = tensors(a), tensors(b)
    return sorted(x) == sorted(y) and all(torch.equal(x[k], y[k]) for k in x)


def killed_training_ends_on_the_same_weights(command, tmp_path: Path, saved: str):
    """Run a training command whole; run it again, SIGKILLed once its second checkpoint is on disk
    (before it wrote `saved`), and once more to the end. Checks that the rerun ends well with the same
    safetensors files under `saved`, every tensor equal; returns the rerun's result and those files."""
    subprocess.run(CLI + command + ["--output-dir", str(tmp_path / "whole")], check=True, capture_output=True, env=ENV)
    run = tmp_path / "killed"
    assert run_killed_when(command + ["--output-dir", str(run)], tmp_path, lambda: (run / "checkpoints" / "step-00000002").is_dir())
    assert not (run / saved).exists()
    res = subprocess.run(CLI + command + ["--output-dir", str(run)], check=False, capture_output=True, text=True, env=ENV)
    assert res.returncode == 0, res.stderr[-2000:]
    whole = sorted(p.relative_to(tmp_path / "whole" / saved) for p in (tmp_path / "whole" / saved).rglob("*.safetensors"))
    assert whole and whole == sorted(p.relative_to(run / saved) for p in (run / saved).rglob("*.safetensors"))
    assert all(same_tensors(tmp_path / "whole" / saved / w, run / saved / w) for w in whole)
    return res, whole


@pytest.mark.parametrize("command, folder", [
    (["train", "vae", "--steps", "4", "--teacher-steps", "1", "--batch-size", "2", "--size", "32", "--checkpoint-every", "1"], "vae"),
    # --restart-every 3: the resumed leg's first step (step 2) restarts the dead codes, from the usage
    # counts of the steps before the kill, which the checkpoint must carry (train/vq.py)
    (["train", "vq", "--steps", "4", "--teacher-steps", "1", "--batch-size", "2", "--size", "64", "--checkpoint-every", "1",
      "--restart-every", "3"], "vq"),
])  # fmt: skip
def test_a_killed_autoencoder_training_resumes_to_the_uninterrupted_weights(tmp_path, command, folder):
    _, weights = killed_training_ends_on_the_same_weights(command, tmp_path, folder)
    assert len(weights) == 1


WAN_DATA = [sys.executable, "-c", "import sys, reasongen.methods.wan.data as d; d.SHARD = 16; from reasongen.cli import main; main()"]


def test_a_killed_wan_data_build_completes_to_the_same_shards(tmp_path):
    args = ["wan", "data", "--n", "64", "--workers", "1"]  # four shards of 16 (the module's SHARD made small)
    subprocess.run(WAN_DATA + args + ["--out", str(tmp_path / "whole")], check=True, capture_output=True, env=ENV)
    out = tmp_path / "killed"
    assert run_killed_when(args + ["--out", str(out)], tmp_path, lambda: len(list(out.glob("frames-*.safetensors"))) >= 2,
                           prefix=WAN_DATA)  # fmt: skip
    subprocess.run(WAN_DATA + args + ["--out", str(out)], check=True, capture_output=True, env=ENV)
    whole = sorted(p.name for p in (tmp_path / "whole").iterdir() if not p.name.startswith("."))
    assert whole == sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) and len(whole) == 5  # frames.json + 4 shards
    assert all(same_tensors(tmp_path / "whole" / name, out / name) for name in whole if name.endswith(".safetensors"))


def test_a_second_training_run_into_a_live_runs_folder_is_refused_in_one_line(tmp_path):
    from reasongen.locks import folder_lock

    with folder_lock(tmp_path / "run"):
        res = subprocess.run(CLI + ["train", "vae", "--steps", "1", "--teacher-steps", "0", "--output-dir", str(tmp_path / "run")], check=False, capture_output=True,
                             text=True, env=ENV)  # fmt: skip
    err = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(err) == 1 and err[0].startswith("error: ") and "in use by another" in err[0], res.stderr


@pytest.mark.parametrize("command", [["cof", "data"], ["fox", "data"], ["reasondiff", "data"], ["wan", "data"]])
def test_a_data_build_into_a_folder_a_live_build_holds_is_refused_in_one_line(tmp_path, command):
    from reasongen.locks import folder_lock
    from reasongen.methods import SHIPPED_MODELS

    with folder_lock(tmp_path / "data"):
        res = subprocess.run(CLI + command + ["--out", str(tmp_path / "data"), "--n", "4", "--vae", str(SHIPPED_MODELS / "shapes-vae")],
                             check=False, capture_output=True, text=True, env=ENV)  # fmt: skip
    err = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(err) == 1 and err[0].startswith("error: ") and "in use by another data build" in err[0], res.stderr


# -- FoX and ReasonDiff training ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A tiny VAE (the `tiny` preset's 4 channels, which the tiny DiTs read); a wide one (128 latent
    channels: its latents outweigh the images, so that the largest file a data build writes is its
    latents, written last); a tiny VQ tokenizer of 4 x 4 codes (so that T2I-R1's records.json, written
    after the codes, is its largest file); and FoX and ReasonDiff data made with the tiny VAE."""
    import torch
    from transformers.models.janus.modeling_janus import JanusVQVAE, JanusVQVAEConfig

    from reasongen.backbones.janus import PRESETS
    from reasongen.backbones.wan import build_vae

    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    build_vae("tiny").save_pretrained(root / "vae", safe_serialization=True)
    build_vae("tiny", z_dim=128, latents_mean=[0.0] * 128, latents_std=[1.0] * 128).save_pretrained(root / "vae-wide", safe_serialization=True)
    JanusVQVAE(JanusVQVAEConfig(**{**PRESETS["tiny"]["vq"], "channel_multiplier": [1, 1, 2, 2, 4], "num_patches": 4})).save_pretrained(
        root / "vq", safe_serialization=True)  # fmt: skip
    for args in (["fox", "data", "--out", str(root / "fox"), "--n", "8"],
                 ["reasondiff", "data", "--out", str(root / "reasondiff"), "--n", "8", "--frames", "5", "--size", "32"]):  # fmt: skip
        subprocess.run(CLI + args + ["--vae", str(root / "vae"), "--workers", "1"], check=True, capture_output=True, env=ENV)
    return root


@pytest.mark.parametrize("method", ["fox", "reasondiff"])
def test_a_killed_fox_or_reasondiff_training_resumes_to_the_uninterrupted_weights(tiny_models, tmp_path, method):
    """`train fox` and `train reasondiff` (stage 1) SIGKILLed once their second checkpoint is on disk,
    then run again: every tensor of the saved pipeline equals the uninterrupted run's."""
    command = ["train", method, "--data", str(tiny_models / method), "--vae", str(tiny_models / "vae"), "--preset", "tiny",
               "--steps", "6", "--batch-size", "2", "--checkpoint-every", "1"]  # fmt: skip
    res, whole = killed_training_ends_on_the_same_weights(command, tmp_path, "pipeline")
    assert "resuming from" in res.stdout and len(whole) >= 2


@pytest.fixture(scope="module")
def wan_frames(tmp_path_factory):
    """16 encoded ShapesWorld frames (the shipped VAE), the data `train wan` reads."""
    out = tmp_path_factory.mktemp("wan") / "frames"
    subprocess.run(WAN_DATA + ["wan", "data", "--n", "16", "--workers", "1", "--out", str(out)], check=True, capture_output=True, env=ENV)
    return out


@pytest.mark.parametrize("command, saved", [
    (["train", "wan", "--steps", "5", "--batch-size", "2", "--checkpoint-every", "1", "--mixed-precision", "no", "--num-layers", "1",
      "--warmup-steps", "2"], "pipeline"),
    (["train", "judge", "--steps", "5", "--batch-size", "4", "--checkpoint-every", "1"], "judge"),
    (["train", "narrator", "--steps", "5", "--batch-size", "4", "--checkpoint-every", "1", "--heldout", "8", "--frames", "5"], "narrator"),
], ids=["wan", "judge", "narrator"])  # fmt: skip
def test_a_killed_training_resumes_to_the_uninterrupted_weights(wan_frames, tmp_path, command, saved):
    """`train wan`, `train judge` and `train narrator` SIGKILLed once their second checkpoint is on
    disk, then run again: every saved tensor equals the uninterrupted run's."""
    if command[1] == "wan":
        command = command + ["--data", str(wan_frames)]
    killed_training_ends_on_the_same_weights(command, tmp_path, saved)


def test_a_killed_detector_training_resumes_to_the_uninterrupted_weights(tmp_path):
    """`train detector` SIGKILLed once its second checkpoint is on disk, then run again: the saved
    detector's tensors equal the uninterrupted run's."""
    command = ["train", "detector", "--steps", "5", "--batch-size", "4", "--checkpoint-every", "1", "--heldout", "4"]
    _, weights = killed_training_ends_on_the_same_weights(command, tmp_path, "detector")
    assert len(weights) == 1


# -- data builders: SIGKILL between their phases, and a kill in the middle of a write --------------

CUT = [sys.executable, "-c", "import signal; signal.signal(signal.SIGXFSZ, signal.SIG_DFL); from reasongen.cli import main; main()"]


def run_cut(args, cwd, limit: int) -> None:
    """Run the command until its first write past `limit` bytes, where the kernel kills it (SIGXFSZ
    under a file size limit, RLIMIT_FSIZE): the file it was writing stops at `limit` bytes, as a
    SIGKILL in the middle of that write leaves it. (Python ignores SIGXFSZ; the child restores the
    default action, which ends the process.)"""
    import resource

    res = subprocess.run(CUT + args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, check=False,
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))  # fmt: skip
    assert res.returncode == -signal.SIGXFSZ, res.stderr[-2000:]


def data_files(folder: Path) -> dict[str, bytes]:
    """A data folder's files by name (not the lock file), each as its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}


DATA_BUILDS = [  # the command, its model option, the file that ends its first phase (then the model loads and encodes)
    (["fox", "data", "--n", "8", "--workers", "1"], "--vae", "vae-wide", "records.json"),
    (["cof", "data", "--n", "8", "--workers", "1"], "--vae", "vae-wide", "chains.json"),
    (["reasondiff", "data", "--n", "8", "--frames", "5", "--size", "32", "--workers", "1"], "--vae", "vae-wide", "pairs.json"),
    (["t2i-r1", "data", "--n", "8"], "--vq", "vq", None),  # the tokenizer loads first; records and codes are written at the end
]


@pytest.mark.parametrize("command, option, model, first_phase", DATA_BUILDS, ids=[c[0][0] for c in DATA_BUILDS])
def test_a_killed_data_build_completes_to_the_uninterrupted_files(tiny_models, tmp_path, command, option, model, first_phase):
    """`fox data`, `cof data`, `reasondiff data` and `t2i-r1 data` SIGKILLed once their first phase is on
    disk (while the model loads and encodes), then killed in the middle of writing their largest file
    (the latents; T2I-R1's records.json): every file left under its own name is whole, and the run
    after completes the folder with the uninterrupted build's files, byte for byte, no file twice and
    no temporary file left."""
    args = command + [option, str(tiny_models / model)]
    subprocess.run(CLI + args + ["--out", str(tmp_path / "whole")], check=True, capture_output=True, env=ENV)
    whole = data_files(tmp_path / "whole")
    out = tmp_path / "killed"
    if first_phase is not None:
        assert run_killed_when(args + ["--out", str(out)], tmp_path, lambda: (out / first_phase).is_file())
    largest = max(whole, key=lambda name: len(whole[name]))
    run_cut(args + ["--out", str(out)], tmp_path, len(whole[largest]) - 1)
    assert largest not in data_files(out)  # cut: not under its name
    assert all(data == whole[name] for name, data in data_files(out).items() if not name.endswith(".tmp")), "a file left half-written"
    res = subprocess.run(CLI + args + ["--out", str(out)], check=False, capture_output=True, text=True, env=ENV)
    assert res.returncode == 0, res.stderr[-2000:]
    assert data_files(out) == whole
