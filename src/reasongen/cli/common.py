"""The command line's apps (the command groups) and the helpers every group uses."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Reasoning-enhanced visual generation: sample, evaluate, and the ShapesWorld toolkit.", no_args_is_help=True)
world_app = typer.Typer(help="ShapesWorld: datasets, ground-truth renders, benchmark prompt sets.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate generated images.", no_args_is_help=True)
sample_app = typer.Typer(help="Sample a generator over a benchmark.", no_args_is_help=True)
app.add_typer(world_app, name="world")
app.add_typer(eval_app, name="eval")
app.add_typer(sample_app, name="sample")
train_app = typer.Typer(help="Train the project's models (resumable: rerun the same command to continue).", no_args_is_help=True)
app.add_typer(train_app, name="train")
cof_app = typer.Typer(help="CoF-T2I data.", no_args_is_help=True)
app.add_typer(cof_app, name="cof")
fox_app = typer.Typer(help="FoX data.", no_args_is_help=True)
app.add_typer(fox_app, name="fox")
t2i_r1_app = typer.Typer(help="T2I-R1 data and reward curves.", no_args_is_help=True)
app.add_typer(t2i_r1_app, name="t2i-r1")
reasondiff_app = typer.Typer(help="ReasonDiff data.", no_args_is_help=True)
app.add_typer(reasondiff_app, name="reasondiff")


def fail(err: Exception) -> None:
    typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def damaged_model(model, err: Exception) -> ValueError:
    """One line for a model folder whose files could not be read (truncated or foreign weights, a
    garbled config): which folder, what failed, what to do."""
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    first = first if len(first) <= 160 else first[:157] + "..."
    return ValueError(f"{model or 'the shipped model'}: cannot read its files ({first}); the folder is incomplete or "
                      "damaged: copy or train it again, or pass another --model")  # fmt: skip


def check_output(path: Path, suffixes: tuple[str, ...], what: str) -> None:
    """Refuse, before any work, an output path that could not be written: an extension the format
    does not have, a folder in its place, or a folder that cannot be written to."""
    import os

    if path.is_dir():
        fail(ValueError(f"-o {path}: is a folder; give a file name, e.g. -o {path / ('out' + suffixes[0])}"))
    if path.suffix.lower() not in suffixes:
        fail(ValueError(f"-o {path}: {what} is written as {' / '.join(suffixes)}, not {path.suffix or 'a name without extension'}; "
                        f"use e.g. -o {path.with_suffix(suffixes[0])}"))  # fmt: skip
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        fail(ValueError(f"-o {path}: cannot write in {parent}; choose a folder you can write to"))


def comma_list(value: str, flag: str, choices, allow_all: bool = False) -> list[str]:
    """The items of a comma-separated option ('all': every choice); unknown items or none at all end
    the command with the choices named."""
    items = list(choices) if allow_all and value == "all" else [v.strip() for v in value.split(",") if v.strip()]
    if not items or any(v not in choices for v in items):
        fail(ValueError(f"{flag} {value!r}: choose from {', '.join(choices)}, comma-separated" + (", or 'all'" if allow_all else "")))
    return items
