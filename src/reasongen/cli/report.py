"""`reasongen report`: one self-contained HTML page from evaluation results, and with `--figures` its
pictures as PNG files (eval/report.py); `reasongen eval diff`: two results compared pair by pair;
`reasongen eval log`: runs' logged values at given steps (eval/compare.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import (
    app,
    check_folder,
    check_options,
    check_output,
    eval_app,
    fail,
    one_line,
)


def _numbers(value: str | None, flag: str, what: str) -> list[int] | None:
    """A comma-separated list of whole numbers (0 or more), or None when the option is not given."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items or not all(v.isascii() and v.isdigit() for v in items):
        fail(ValueError(f"{flag} {one_line(value)[:40]!r}: give {what} (whole numbers, 0 or more), comma-separated"))
    return [int(v) for v in items]


@app.command("report")
def report(
    results: Annotated[list[Path], typer.Argument(help="Result files: the JSON of `eval geneval --out`, `eval video --out` or `eval fox --out`, a GenEval output folder (scored here), or a run's log.jsonl (or its folder). The first of each kind is the baseline the others are paired with.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The page (HTML).")] = Path("report.html"),
    labels: Annotated[str | None, typer.Option(help="Comma-separated names for the results, in order (default: the file names).")] = None,
    title: Annotated[str, typer.Option(help="The page's title.")] = "reasongen report",
    prompts: Annotated[int, typer.Option(help="Prompts in the sample grid (spread evenly over the benchmark).")] = 12,
    show_prompts: Annotated[str | None, typer.Option(help="The prompts the sample grid shows instead, by index (the folders' 00000, 00001, ...), comma-separated, e.g. 0,40,85.")] = None,
    samples: Annotated[int, typer.Option(help="Samples of each prompt the grid shows, per result (the first ones).")] = 4,
    show_cases: Annotated[str | None, typer.Option(help="The cases the video strips show, by index, comma-separated (default: the first 6).")] = None,
    figures: Annotated[Path | None, typer.Option(help="Also write the sections' pictures as PNG files in this folder: samples.png (the sample grid), clips.png (the video strips under the benchmark's own clips), curves.png (the curves).")] = None,
    scale: Annotated[int, typer.Option(help="How many times the figures enlarge samples and frames (each pixel a square).")] = 2,
    workers: Annotated[int, typer.Option(help="Processes for rescoring samples image by image (the paired tests need each image's verdict).")] = 2,
):
    """Per-tag tables side by side, paired differences with p-values, learning and reward curves, and sample grids, in one HTML file."""
    from ..eval.report import build_report, read_source, rescore, write_figures

    check_output(output, (".html", ".htm"), "the report")
    if figures is not None:
        check_folder(figures, "--figures")
    names = [n.strip() for n in labels.split(",")] if labels else [None] * len(results)
    if len(names) != len(results):
        fail(ValueError(f"--labels names {len(names)} results, {len(results)} were given; name each once, comma-separated"))
    if prompts < 0:
        fail(ValueError(f"--prompts {prompts}: give 0 or more"))
    if not 1 <= samples <= 64:
        fail(ValueError(f"--samples {samples}: give 1 to 64 samples a prompt"))
    if not 1 <= scale <= 16:
        fail(ValueError(f"--scale {scale}: give 1 to 16"))
    check_options(workers=workers)
    chosen = dict(prompt_indices=_numbers(show_prompts, "--show-prompts", "prompt indices, e.g. 0,40,85"), cases=_numbers(show_cases, "--show-cases", "case indices, e.g. 0,4,5"),
                  per_prompt=samples)  # fmt: skip
    try:
        sources = [read_source(path, label) for path, label in zip(results, names)]
        for s in sources:
            if s.kind == "geneval" and s.samples is not None:
                typer.echo(f"scoring {s.samples} image by image")
                rescore(s, workers=workers, progress=True)
        page = build_report(sources, title, prompts, **chosen)
        written = write_figures(sources, figures, prompts, scale=scale, **chosen) if figures is not None else []
    except (ValueError, OSError) as e:
        fail(e)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page)
    typer.echo(f"{output}")
    for path in written:
        typer.echo(f"{path}")
    if figures is not None and not written:
        typer.echo(f"no figure: these results have no sample grid, video strips or curves for {figures}", err=True)


@eval_app.command("diff")
def eval_diff(
    a: Annotated[Path, typer.Argument(help="The first result: a GenEval output folder, or the JSON of `eval video --out`.")],
    b: Annotated[Path, typer.Argument(help="The second, of the same kind, drawn from the same prompts (or cases) and seeds.")],
    common: Annotated[bool, typer.Option(help="GenEval: compare only the samples both folders hold (e.g. 4 a prompt against the first 1).")] = False,
    out: Annotated[Path | None, typer.Option(help="GenEval: also write the counts (JSON) here.")] = None,
    workers: Annotated[int, typer.Option(help="Processes for the ShapesWorld detector.")] = 2,
):
    """Two results pair by pair. GenEval folders: images changed, fixed (correct only in B) and broken (only in A), McNemar's exact p, prompts better and worse with a sign test, how far the pixels moved (one JSON line). Video results: for each per-clip score, the mean difference A - B with its standard error."""
    import json

    from ..eval.compare import diff_geneval, diff_video

    check_options(workers=workers)
    if out is not None:
        check_output(out, (".json",), "the counts", "--out")
    try:
        if a.is_dir() and b.is_dir():
            counts = diff_geneval(a, b, common=common, workers=workers)
        elif a.is_file() and b.is_file():
            if common or out is not None:
                raise ValueError("--common and --out are for GenEval folders; video results are compared case by case")
            typer.echo("\n".join(diff_video(a, b)))
            return
        else:
            missing = next((p for p in (a, b) if not p.exists()), None)
            raise ValueError(f"{missing}: no such file or folder" if missing else f"{a} and {b}: give two GenEval output folders "
                             "or two results of `eval video --out`")  # fmt: skip
    except (ValueError, OSError) as e:
        fail(e)
    typer.echo(json.dumps(counts))
    if out is not None:
        from ..locks import write_atomic

        write_atomic(out, json.dumps(counts, indent=1) + "\n")


@eval_app.command("log")
def eval_log(
    runs: Annotated[list[Path], typer.Argument(help="Run folders written by a `reasongen train` command (or their log.jsonl).")],
    keys: Annotated[str, typer.Option(help="The logged values to tabulate, comma-separated, e.g. flow,aux.")],
    marks: Annotated[str, typer.Option(help="The steps, comma-separated, e.g. 250,500,1000.")],
    window: Annotated[int, typer.Option(help="Each cell is the mean of the records over this many steps up to the mark.")] = 30,
):
    """A markdown table of runs' logged values (losses, rewards) at given steps, one row a run and a step."""
    from ..eval.compare import log_table

    names = [k.strip() for k in keys.split(",") if k.strip()]
    if not names:
        fail(ValueError(f"--keys {keys!r}: name the logged values, comma-separated, e.g. flow,aux"))
    steps = _numbers(marks, "--marks", "steps, e.g. 250,500,1000")
    if window < 1:
        fail(ValueError(f"--window {window}: give 1 or more steps"))
    try:
        lines, notes = log_table(runs, names, steps, window)
    except (ValueError, OSError) as e:
        fail(e)
    for note in notes:
        typer.echo(note, err=True)
    typer.echo("\n".join(lines))
