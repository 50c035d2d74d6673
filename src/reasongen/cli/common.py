"""The command line's apps (the command groups) and the helpers every group uses."""

from __future__ import annotations

import contextlib
import errno
import math
from pathlib import Path

import typer
from typer.core import TyperGroup

try:  # typer >= 0.20 carries its own click
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException, NoArgsIsHelpError

# A write that failed because the disk is full, over a size limit or quota, or read-only.
DISK_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EFBIG: "a file size limit was reached",
               errno.EDQUOT: "the disk quota is used up", errno.EROFS: "the file system is read-only"}  # fmt: skip


@contextlib.contextmanager
def one_line_errors():
    """A usage error (a value of the wrong type, a missing or unknown option) and a write to a full or
    read-only disk end the command with one `error: ...` line and exit status 2, not a framed panel
    or a stack trace. Long commands write atomically and resume, so the message says to rerun."""
    try:
        yield
    except NoArgsIsHelpError:
        raise
    except ClickException as e:
        ctx = getattr(e, "ctx", None)
        fail(ValueError(e.format_message().rstrip(".") + (f"; see `{ctx.command_path} --help`" if ctx else "")))
    except OSError as e:
        if e.errno not in DISK_ERRNOS:
            raise
        fail(ValueError(disk_message(e)))


def disk_message(e: OSError) -> str:
    where = f" writing {e.filename}" if e.filename else ""
    return (f"{DISK_ERRNOS[e.errno]}{where}: what was written before is kept; free space (or choose a folder you can "
            "write to) and run the same command again to continue")  # fmt: skip


class OneLineErrors(TyperGroup):
    """The root command: its parsing and every command under it run in `one_line_errors`."""

    def make_context(self, info_name, args, parent=None, **extra):
        with one_line_errors():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx):
        with one_line_errors():
            return super().invoke(ctx)


app = typer.Typer(help="Reasoning-enhanced visual generation: sample, evaluate, and the ShapesWorld toolkit.", no_args_is_help=True,
                  cls=OneLineErrors)
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


MAX_ERROR = 399  # characters of the one `error: ...` line


def one_line(message: str, limit: int = MAX_ERROR - len("error: ")) -> str:
    """A message on one line of at most `limit` characters: lines joined; an overlong one keeps its
    start (what failed) and its end (what to do)."""
    message = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    return message if len(message) <= limit else message[: limit - 125] + " ... " + message[-120:]


def fail(err: Exception) -> None:
    """End the command: one `error: ...` line on stderr, exit status 2."""
    typer.secho(f"error: {one_line(err)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def damaged_model(model, err: Exception) -> ValueError:
    """One line for a model folder whose files could not be read (truncated or foreign weights, a
    garbled config): which folder, what failed, what to do. A full or read-only disk is said as such."""
    if isinstance(err, OSError) and err.errno in DISK_ERRNOS:
        return ValueError(disk_message(err))
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    first = first if len(first) <= 160 else first[:157] + "..."
    return ValueError(f"{model or 'the shipped model'}: cannot read its files ({first}); the folder is incomplete or "
                      "damaged: copy or train it again, or pass another --model")  # fmt: skip


def check_output(path: Path, suffixes: tuple[str, ...], what: str, flag: str = "-o") -> None:
    """Refuse, before any work, an output path that could not be written: an extension the format
    does not have, a folder in its place, or a folder that cannot be written to. An existing file is
    replaced (atomically, once the work is done)."""
    if path.is_dir():
        fail(ValueError(f"{flag} {path}: is a folder; give a file name, e.g. {flag} {path / ('out' + suffixes[0])}"))
    if path.suffix.lower() not in suffixes:
        fail(ValueError(f"{flag} {path}: {what} is written as {' / '.join(suffixes)}, not {path.suffix or 'a name without extension'}; "
                        f"use e.g. {flag} {path.with_suffix(suffixes[0])}"))  # fmt: skip
    check_folder(path.parent, flag, path)


def check_folder(folder: Path, flag: str, shown: Path | None = None) -> None:
    """Refuse an output folder (or a file's folder) that cannot be made or written to."""
    import os

    parent = Path(folder)
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        fail(ValueError(f"{flag} {shown or folder}: cannot write in {parent}; choose a folder you can write to"))


# What each numeric option may be: (lowest, highest, what to give). Values outside are refused before
# any model loads: nothing is clamped or rounded.
OPTION_RANGES = {
    "steps": (1, 1000, "sampling steps from 1 to 1000 (the flow's 1000 training timesteps)"),
    "guidance": (0.0, 100.0, "a guidance scale from 0 to 100 (1: none)"),
    "seed": (0, 2**64 - 1, "a seed from 0 to 2**64 - 1"),
    "n": (1, 10**8, "a count from 1 to 100,000,000"),
    "size": (32, 1024, "a canvas size from 32 to 1024 px"),
    "workers": (1, 256, "from 1 to 256 processes"),
    "batch_size": (1, 65536, "a batch from 1 to 65536"),
    "limit": (1, 10**8, "at least 1"),
}


def check_options(**values) -> None:
    """Refuse numeric options out of their range (OPTION_RANGES), NaN and infinities, and a device
    that is not there, before any work; options left at None are not checked."""
    for name, value in values.items():
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        if name == "device":
            check_device(value)
            continue
        check_range(flag, value, *OPTION_RANGES[name])


def check_range(flag: str, value, low, high, give: str) -> None:
    if isinstance(value, float) and not math.isfinite(value) or not low <= value <= high:
        fail(ValueError(f"{flag} {value}: give {give}"))


def check_training(steps: int, batch_size: int, lr: float | None, checkpoint_every: int, seed: int) -> None:
    """The options every training command takes, refused out of range before any data is read."""
    check_range("--steps", steps, 1, 10**9, "at least 1 optimiser step")
    check_options(batch_size=batch_size, seed=seed)
    if lr is not None:
        check_range("--lr", lr, 0.0, 1.0, "a learning rate from 0 to 1")
    check_range("--checkpoint-every", checkpoint_every, 1, 10**9, "a checkpoint every 1 or more steps")


def check_device(device: str) -> None:
    import torch

    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        fail(ValueError(f"--device {one_line(device)[:40]!r}: use cpu or cuda (or cuda:N)"))
    if kind not in ("cpu", "cuda") or kind == "cuda" and not torch.cuda.is_available():
        fail(ValueError(f"--device {device}: " + ("no CUDA device is visible here; use --device cpu" if kind == "cuda"
                                                   else "use cpu or cuda (or cuda:N)")))  # fmt: skip


MAX_PROMPT_CHARS = 4000  # far beyond any text encoder's token limit: refused before one loads


def check_prompt(prompt: str, flag: str = "the prompt") -> None:
    """Refuse a prompt that is empty, holds control characters (or unpaired surrogates) or is far too
    long, in one line that never repeats the prompt whole. Any script is taken: the text encoder
    tokenizes it (words it does not know become its unknown token)."""
    import unicodedata

    if not prompt.strip():
        fail(ValueError(f'{flag} is empty; say what to draw, e.g. "a photo of a red circle"'))
    for i, ch in enumerate(prompt):
        if ch not in "\t\n" and unicodedata.category(ch) in ("Cc", "Cs"):
            fail(ValueError(f"{flag} holds the control character U+{ord(ch):04X} at position {i}; remove it (or write it out)"))
    if len(prompt) > MAX_PROMPT_CHARS:
        fail(ValueError(f"{flag} {prompt[:60]!r}... is {len(prompt):,} characters; the limit is {MAX_PROMPT_CHARS:,}: shorten it"))


def read_image(path: Path, flag: str):
    """An image file as a PIL image, decoded whole, or one line naming the file: not there, not an
    image, truncated, no pixels, or so large that decoding it is refused (PIL's decompression-bomb
    limit)."""
    from PIL import Image

    if not path.is_file():
        fail(ValueError(f"{flag} {path}: no such file; pass a PNG or JPEG image"))
    try:
        with Image.open(path) as im:
            im.verify()  # every chunk and its checksum: a file cut short anywhere is found
        with Image.open(path) as im:
            im.load()
            image = im.copy()  # the pipeline converts another mode, and says so
    except Image.DecompressionBombError as e:
        fail(ValueError(f"{flag} {path}: {e}; pass a smaller image"))
    except (OSError, ValueError, SyntaxError) as e:  # PIL's kinds for files it cannot decode
        fail(ValueError(f"{flag} {path}: not a readable image ({type(e).__name__}: {one_line(e)[:120]}); pass a PNG or JPEG image"))
    if min(image.size) < 1:
        fail(ValueError(f"{flag} {path}: the image has no pixels ({image.width}x{image.height})"))
    return image


@contextlib.contextmanager
def reading_model(model):
    """Errors raised while a model folder is read (a truncated or foreign safetensors file, a garbled
    config, a tensor of the wrong shape), as one line naming the folder (`damaged_model`)."""
    import json

    from safetensors import SafetensorError

    try:
        yield
    except (OSError, RuntimeError, KeyError, TypeError, json.JSONDecodeError, SafetensorError) as e:  # TypeError: a config
        fail(damaged_model(model, e))  # that is JSON but not the settings object the model is built from


def comma_list(value: str, flag: str, choices, allow_all: bool = False) -> list[str]:
    """The items of a comma-separated option ('all': every choice); unknown items or none at all end
    the command with the choices named."""
    items = list(choices) if allow_all and value == "all" else [v.strip() for v in value.split(",") if v.strip()]
    if not items or any(v not in choices for v in items):
        fail(ValueError(f"{flag} {value!r}: choose from {', '.join(choices)}, comma-separated" + (", or 'all'" if allow_all else "")))
    return items


def config_options(config):
    """A training command's options, generated from its typed config (`methods/*/config.py`): each
    field with a `help` in its metadata becomes `--field-name`, with the field's type and default
    (metadata `path`: a path here, a str in the config; `flag`: other option names, as
    "--multi-frame/--single-prompt"). Why: a setting was declared twice, as a config field and as a
    typer option with its help, and handed from one to the other by position; now it is declared
    once, beside the code that reads it (as transformers' HfArgumentParser reads its dataclasses).
    The command gets the config, its steps, batch, lr, checkpoint interval and seed range-checked
    (`check_training`), then its own parameters: options that are no field, or a field in another
    form here (--tasks, a comma list), in that field's place."""
    import dataclasses
    import inspect
    import typing

    fields = {f.name: f for f in dataclasses.fields(config) if "help" in f.metadata}
    hints = typing.get_type_hints(config)

    def generated(name: str) -> inspect.Parameter:
        f = fields[name]
        kind = hints[name] if not f.metadata.get("path") else Path if f.default is dataclasses.MISSING else Path | None
        default = ... if f.default is dataclasses.MISSING else f.default
        option = typer.Option(default, *([f.metadata["flag"]] if "flag" in f.metadata else []), help=f.metadata["help"])
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)

    def decorate(command):
        own = dict(list(inspect.signature(command, eval_str=True).parameters.items())[1:])  # after the config
        names = [f.name for f in dataclasses.fields(config) if f.name in fields or f.name in own]
        params = [own[n].replace(kind=inspect.Parameter.KEYWORD_ONLY) if n in own else generated(n) for n in names]
        params += [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for n, p in own.items() if n not in names]

        def run(**values):
            cfg = config(**{k: str(v) if v is not None and fields[k].metadata.get("path") else v
                            for k, v in values.items() if k in fields and k not in own})  # fmt: skip
            check_training(cfg.steps, cfg.batch_size, cfg.lr, cfg.checkpoint_every, cfg.seed)
            return command(cfg, **{k: v for k, v in values.items() if k in own})

        run.__name__, run.__doc__, run.__module__ = command.__name__, command.__doc__, command.__module__
        run.__signature__ = inspect.Signature(params)
        run.__annotations__ = {p.name: p.annotation for p in params}
        return run

    return decorate
