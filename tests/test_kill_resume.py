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
                                    "--outdir", str(tmp_path / "out")], capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 2 and "in use by another sampling run" in res.stderr and "Traceback" not in res.stderr
    assert not list((tmp_path / "out").glob("0*"))
