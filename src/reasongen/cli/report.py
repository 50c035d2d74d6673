"""`reasongen report`: one self-contained HTML page from evaluation results (eval/report.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import app, check_output, fail


@app.command("report")
def report(
    results: Annotated[list[Path], typer.Argument(help="Result files: the JSON of `eval geneval --out`, `eval video --out` or `eval fox --out`, or a run's log.jsonl (or its folder). The first of each kind is the baseline the others are paired with.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The page (HTML).")] = Path("report.html"),
    labels: Annotated[str | None, typer.Option(help="Comma-separated names for the results, in order (default: the file names).")] = None,
    title: Annotated[str, typer.Option(help="The page's title.")] = "reasongen report",
    prompts: Annotated[int, typer.Option(help="Prompts in the sample grid (spread evenly over the benchmark).")] = 12,
    workers: Annotated[int, typer.Option(help="Processes for rescoring samples image by image (the paired tests need each image's verdict).")] = 2,
):
    """Per-tag tables side by side, paired differences with p-values, learning and reward curves, and sample grids, in one HTML file."""
    from ..eval.report import build_report, read_source, rescore

    check_output(output, (".html", ".htm"), "the report")
    names = [n.strip() for n in labels.split(",")] if labels else [None] * len(results)
    if len(names) != len(results):
        fail(ValueError(f"--labels names {len(names)} results, {len(results)} were given; name each once, comma-separated"))
    if prompts < 0:
        fail(ValueError(f"--prompts {prompts}: give 0 or more"))
    try:
        sources = [read_source(path, label) for path, label in zip(results, names)]
        for s in sources:
            if s.kind == "geneval" and s.samples is not None:
                typer.echo(f"scoring {s.samples} image by image")
                rescore(s, workers=workers, progress=True)
        page = build_report(sources, title, prompts)
    except (ValueError, OSError) as e:
        fail(e)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page)
    typer.echo(f"{output}")
