"""A disk that fills during a run (a file size limit, RLIMIT_FSIZE, in the child process) and an
output folder that cannot be written: the command stops with one `error: ...` line and status 2,
what it wrote before stays whole, and the same command run again finishes the work."""

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-c", "from reasongen.cli import main; main()"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run(args, cwd, file_limit: int | None = None):
    """The command in a child process whose files may grow to `file_limit` bytes (a full disk: past
    it, a write fails with EFBIG, as it fails with ENOSPC on a full disk)."""

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of the process dying
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    return subprocess.run(CLI + args, cwd=cwd, capture_output=True, text=True, env=ENV, check=False,
                          preexec_fn=limit if file_limit else None)  # fmt: skip


def one_error_line(res) -> str:
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and lines and "Traceback" not in res.stderr, res.stderr[-3000:]
    err = lines[-1]  # a progress bar may come before it
    assert err.startswith("error: ") and len(err) < 400 and all("error" not in ln for ln in lines[:-1]), res.stderr
    return err


def images_of(folder: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(folder)): np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.rglob("*.png"))}


def test_a_dataset_writer_whose_disk_fills_stops_in_one_line_and_resumes_to_the_whole_dataset(tmp_path):
    args = ["world", "sample", "--n", "40"]
    assert run(args + ["--outdir", str(tmp_path / "whole")], tmp_path).returncode == 0
    err = one_error_line(run(args + ["--outdir", str(tmp_path / "full")], tmp_path, file_limit=6000))
    assert "file size limit" in err and "run the same command again" in err
    written = (tmp_path / "full" / "metadata.jsonl").read_text().splitlines()
    whole = (tmp_path / "whole" / "metadata.jsonl").read_text().splitlines()
    assert 0 < len(written) < 40 and written[:-1] == whole[: len(written) - 1]  # all but a cut last line as the whole run's
    assert run(args + ["--outdir", str(tmp_path / "full")], tmp_path).returncode == 0
    assert (tmp_path / "full" / "metadata.jsonl").read_text().splitlines() == whole
    a, b = images_of(tmp_path / "whole"), images_of(tmp_path / "full")
    assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)


def test_sampling_whose_disk_fills_stops_in_one_line_and_a_rerun_completes_every_image(tmp_path):
    meta = tmp_path / "meta.jsonl"
    from reasongen.world.benchmarks import shipped_path

    meta.write_text("".join(shipped_path("shapes-geneval").read_text().splitlines(keepends=True)[:6]))
    args = ["sample", "geneval", "--method", "oracle", "--metadata", str(meta), "--n", "2", "--size", "256"]
    assert run(args + ["--outdir", str(tmp_path / "whole")], tmp_path).returncode == 0
    big = max(p.stat().st_size for p in (tmp_path / "whole").rglob("*.png"))
    err = one_error_line(run(args + ["--outdir", str(tmp_path / "full")], tmp_path, file_limit=big - 1))
    assert "file size limit" in err
    for p in (tmp_path / "full").rglob("*.png"):  # whatever was renamed into place is whole
        Image.open(p).verify()
    assert run(args + ["--outdir", str(tmp_path / "full")], tmp_path).returncode == 0
    a, b = images_of(tmp_path / "whole"), images_of(tmp_path / "full")
    assert len(a) == 12 and sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)
    assert not list((tmp_path / "full").rglob("*.tmp"))
    assert json.loads((tmp_path / "full" / "00000" / "metadata.jsonl").read_text())["prompt"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_refused_before_any_work(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    for args in (["world", "sample", "--n", "2", "--outdir", str(ro)],
                 ["sample", "geneval", "--method", "oracle", "--metadata", "shapes-geneval", "--outdir", str(ro / "s")],
                 ["generate", "a red star", "-o", str(ro / "x.png")]):  # fmt: skip
        assert "cannot write in" in one_error_line(run(args, tmp_path))
    assert not list(ro.iterdir())
