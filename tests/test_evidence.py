"""The evaluator is exact on ShapesWorld: ground truth passes, each single corruption fails.

These run the whole benchmarks (4 images per prompt) through the same commands a user runs; they
are the commands behind docs/evaluation.md's tables.
"""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from reasongen.cli import app
from reasongen.eval.geneval import summarize
from reasongen.eval.run import score_image
from reasongen.eval.shapes_detector import ShapesDetector
from reasongen.world.benchmarks import build
from reasongen.world.mutate import BREAKS, mutate
from reasongen.world.scene import scene_for

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("size", [64, 256])
@pytest.mark.parametrize("benchmark", ["shapes-geneval", "shapes-reason"])
def test_oracle_scores_at_least_0_99(tmp_path, benchmark, size):
    runner = CliRunner()
    out = tmp_path / "oracle"
    res = runner.invoke(app, ["sample", "geneval", "--method", "oracle", "--metadata", benchmark,
                              "--outdir", str(out), "--n", "4", "--size", str(size)])  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["eval", "geneval", str(out), "--out", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "r.json").read_text())
    n_prompts = len(build(benchmark))
    assert summary["n_images"] == 4 * n_prompts
    assert summary["overall"] >= 0.99, summary
    assert min(summary["tags"].values()) >= 0.97, summary
    if benchmark == "shapes-reason":
        assert set(summary["splits"]) == {"reason/in_distribution", "reason/held_out"}


@pytest.mark.parametrize("size", [64, 256])
@pytest.mark.parametrize("kind", sorted(BREAKS))
def test_one_mutation_breaks_its_tag(kind, size):
    tag = BREAKS[kind]
    detector = ShapesDetector()
    rows = []
    for i, meta in enumerate(build("shapes-geneval")):
        if meta["tag"] != tag:
            continue
        for j in range(4):
            rng = np.random.default_rng([i, j])
            scene = mutate(scene_for(meta, rng), meta, kind, rng)
            rows.append(score_image(detector, scene.render(size), meta))
    assert len(rows) >= 320
    assert summarize(rows)["tags"][tag] == 0.0  # docs/evaluation.md's table: not one mutated image passes
