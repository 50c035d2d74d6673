"""The learning curve of a `shapes-wan` run: shapes-geneval scored at the end of each leg.

`score_leg` samples the run's saved pipeline on a benchmark (GenEval's layout, under
`RUN/curve/<images seen>/`), scores it with the ShapesWorld detector and appends one row to
`RUN/curve.jsonl`: images seen, overall, per tag, seen / unseen compositions, and the detector's
partial credit (the share of named classes and colours shown), which moves long before GenEval does. `plot_curve`
draws score against images seen for one or more runs: run folders, or curve files kept apart from them
(docs/data/: a run folder lives on one machine, the committed curve outlives it).
"""

from __future__ import annotations

import json
from pathlib import Path

from .train import samples_seen


def score_leg(run_dir: str | Path, n: int = 1, metadata: str = "shapes-geneval", progress: bool = True) -> dict:
    """Score the run's current pipeline; a leg already scored at this many images is read back."""
    from ...eval.layout import read_metadata
    from ...eval.run import evaluate_folder
    from ..sampling import write_geneval_samples
    from . import WanGenerator

    run = Path(run_dir)
    seen = samples_seen(run)
    curve = run / "curve.jsonl"
    rows = [json.loads(r) for r in curve.read_text().splitlines() if r.strip()] if curve.is_file() else []
    for row in rows:
        if row["samples_seen"] == seen and row["n"] == n and row["metadata"] == metadata:
            return row
    generator = WanGenerator(str(run / "pipeline"))
    records = read_metadata(metadata, generator.classes, generator.colors)
    folder = run / "curve" / f"{seen:010d}-n{n}"
    write_geneval_samples(records, generator, folder, n=n, progress=progress)
    _, summary = evaluate_folder(folder, progress=progress)
    row = {"samples_seen": seen, "n": n, "metadata": metadata, "overall": summary["overall"], "tags": summary["tags"],
           "compositions": {k: v["overall"] for k, v in summary.get("compositions", {}).items()},
           "partial": summary.get("partial", {})}  # fmt: skip
    with open(curve, "a") as f:
        f.write(json.dumps(row) + "\n")
    return row


def curve_file(source: str | Path) -> Path:
    """The curve of a run folder (RUN/curve.jsonl), or a curve file itself."""
    source = Path(source)
    return source if source.suffix == ".jsonl" else source / "curve.jsonl"


def plot_curve(runs: list[Path], out: Path, labels: list[str] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, run in enumerate(runs):
        rows = sorted((json.loads(r) for r in curve_file(run).read_text().splitlines() if r.strip()),
                      key=lambda r: r["samples_seen"])  # fmt: skip
        label = labels[i] if labels else Path(run).stem
        ax.plot([r["samples_seen"] for r in rows], [r["overall"] for r in rows], "o-", label=f"{label} overall")
        ax.plot([r["samples_seen"] for r in rows], [r["tags"].get("single_object", float("nan")) for r in rows], "--",
                alpha=0.6, label=f"{label} single_object")  # fmt: skip
        ax.plot([r["samples_seen"] for r in rows], [r.get("partial", {}).get("class", float("nan")) for r in rows], ":",
                alpha=0.6, label=f"{label} named classes shown")  # fmt: skip
    ax.axhline(0.75, color="grey", lw=0.8, ls=":", label="goal 0.75")
    ax.set(xlabel="training images seen", ylabel="shapes-geneval", ylim=(0, 1), title="shapes-wan learning curve")
    ax.legend(fontsize=8, loc="upper left")  # the curves rise to the right: keep their ends in sight
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
