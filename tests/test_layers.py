"""The layering of DESIGN.md holds: the import-linter contracts in pyproject.toml are kept."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_import_contracts_are_kept():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint).exists():
        pytest.fail("lint-imports is missing: install the test extra (pip install -e '.[test]')")
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([lint], cwd=root, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "BROKEN" not in res.stdout and res.stdout.count("KEPT") >= 2


def test_no_code_path_unpickles_or_runs_remote_code():
    """Weights load through safetensors and configs through JSON: no pickle, no torch.load, no
    numpy pickles, and trust_remote_code never switched on, anywhere in the package."""
    import re

    root = Path(__file__).resolve().parents[1] / "src" / "reasongen"
    banned = re.compile(r"\btorch\.load\(|\bimport pickle\b|\bpickle\.loads?\(|allow_pickle\s*=\s*True|trust_remote_code\s*=\s*True"
                        r"|use_safetensors\s*=\s*False")  # fmt: skip
    found = [f"{p.relative_to(root)}:{i + 1}: {line.strip()}" for p in root.rglob("*.py")
             for i, line in enumerate(p.read_text().splitlines()) if banned.search(line)]  # fmt: skip
    assert not found, found
