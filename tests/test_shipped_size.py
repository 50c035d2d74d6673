"""The working tree stays small enough for an accelerator machine to take it (64 MiB there; 60 MB
here, with room for the checkout's own files), and no shipped weight file is over 16 MiB."""

import shutil
import subprocess
from pathlib import Path

import pytest

from reasongen.methods import SHIPPED_MODELS

ROOT = Path(__file__).resolve().parents[1]


def test_the_working_tree_stays_under_60_mb():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tree is what git tracks")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    total = sum((ROOT / f).stat().st_size for f in files if f and (ROOT / f).is_file())
    assert total < 60_000_000, f"the tracked files are {total / 1e6:.1f} MB; ship adapters over a base or drop a model"


def test_every_shipped_weight_file_fits_what_comes_back_from_an_accelerator():
    weights = list(SHIPPED_MODELS.rglob("*.safetensors"))
    assert weights and all(w.stat().st_size < 16 * 2**20 for w in weights), [(w.name, w.stat().st_size) for w in weights]
