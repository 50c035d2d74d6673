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


@pytest.mark.parametrize("command, folder", [
    (["train", "vae", "--steps", "4", "--teacher-steps", "1", "--batch-size", "2", "--size", "32", "--checkpoint-every", "1"], "vae"),
    pytest.param(["train", "vq", "--steps", "4", "--teacher-steps", "1", "--batch-size", "2", "--size", "64", "--checkpoint-every", "1"], "vq",
                 marks=pytest.mark.xfail(strict=True, reason="known bug, found by this test: a resumed VQ run ends on other weights "
                                                             "than the uninterrupted one (not yet traced; docs/reliability.md)")),
])  # fmt: skip
def test_a_killed_autoencoder_training_resumes_to_the_uninterrupted_weights(tmp_path, command, folder):
    subprocess.run(CLI + command + ["--output-dir", str(tmp_path / "whole")], check=True, capture_output=True, env=ENV)
    run = tmp_path / "killed"
    assert run_killed_when(command + ["--output-dir", str(run)], tmp_path, lambda: (run / "checkpoints" / "step-00000002").is_dir())
    assert not (run / folder).exists()
    res = subprocess.run(CLI + command + ["--output-dir", str(run)], check=False, capture_output=True, text=True, env=ENV)
    assert res.returncode == 0, res.stderr[-2000:]
    [weights] = sorted((tmp_path / "whole" / folder).glob("*.safetensors"))
    assert same_tensors(weights, run / folder / weights.name)


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
