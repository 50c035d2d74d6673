"""One registry of the methods: what each is, where its code and shipped model are, what it takes.

Sampling (`reasongen sample geneval --method M`), `reasongen generate`, the command-line help and
the README's table all read it, so adding a method is one folder under `methods/` and one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module


@dataclass(frozen=True)
class MethodSpec:
    id: str  # what users type: the paper's name
    title: str  # the paper (or model) and what it does, one line
    kind: str  # "image" (text to image) or "video" (text and image to video)
    generator: str | None  # "module:Class" under reasongen.methods, for `sample geneval`
    options: tuple[str, ...] = ()  # the sampling options it takes (--model, --steps, ...)
    pipelines: tuple[str, ...] = ()  # the `_class_name`s of model_index.json that it loads (older names too)
    shipped: str | None = None  # its folder under reasongen/models, if one ships
    train_command: str | None = None
    doc: str | None = None


SPECS = (
    MethodSpec("oracle", "ShapesWorld ground truth: renders the scene a prompt asks for (the ceiling)", "image",
               "oracle:OracleGenerator", doc="docs/shapesworld.md"),
    MethodSpec("wan", "the plain Wan2.1-style base: text to image with no reasoning (the direct baseline)", "image",
               "wan:WanGenerator", ("model", "steps", "guidance", "device"), shipped="shapes-wan",
               train_command="reasongen train wan", doc="docs/foundation.md"),
    MethodSpec("cof", "CoF-T2I (arXiv 2601.10061): a video model draws a chain of refining frames; the last is the image", "image",
               "cof:CoFGenerator", ("model", "frame", "steps", "guidance", "device"), ("CoFPipeline", "WanPipeline"),
               "cof-shapes", "reasongen train cof", "docs/cof.md"),
    MethodSpec("janus", "the plain Janus-style base: image tokens straight from the prompt (no semantic plan)", "image",
               "t2i_r1:JanusGenerator", ("model", "guidance", "device"), shipped="shapes-janus",
               train_command="reasongen train t2i-r1", doc="docs/t2i-r1.md"),
    MethodSpec("t2i-r1", "T2I-R1 (arXiv 2505.00703): a semantic plan, then image tokens, trained with BiCoT-GRPO", "image",
               "t2i_r1:T2IR1Generator", ("model", "cot", "guidance", "device"), ("T2IR1Pipeline", "BiCoTPipeline"),
               "t2i-r1-shapes", "reasongen train t2i-r1", "docs/t2i-r1.md"),
    MethodSpec("fox", "FoX (arXiv 2503.01298): plan, act, reflect and correct on functional experts", "image",
               "fox:FoXGenerator", ("model", "mode", "steps", "guidance", "device"), ("FoXPipeline", "MCoTPipeline"),
               "fox-shapes", "reasongen train fox", "docs/fox.md"),
    MethodSpec("reasondiff", "ReasonDiff (CVPR 2026): unpaired text and image to video through a narrator", "video",
               None, (), ("ReasonDiffPipeline", "WanImageToVideoPipeline"), "reasondiff-shapes",
               "reasongen train reasondiff", "docs/reasondiff.md"),
)  # fmt: skip
REGISTRY = {spec.id: spec for spec in SPECS}
# What `reasongen generate` and the demo run unless told: the shipped image model that scores best on
# shapes-geneval at 4 images a prompt (docs/foundation.md: shapes-wan 0.289; t2i-r1-shapes 0.249).
DEFAULT_METHOD = "wan"
RENAMED = {"mcot": "fox", "bicot": "t2i-r1"}  # the ids of earlier versions

IMAGE_METHODS = tuple(s.id for s in SPECS if s.kind == "image")
# Which method a saved pipeline folder belongs to, by the class named in its model_index.json.
PIPELINE_METHODS = {cls: spec.id for spec in SPECS for cls in spec.pipelines}


def get_spec(method: str, kind: str | None = None) -> MethodSpec:
    """A method's spec by id; an unknown (or renamed) id is refused with the ids to use."""
    if method in RENAMED:
        raise ValueError(f"method {method!r} is now called {RENAMED[method]!r} (the paper's name); use --method {RENAMED[method]}")
    ids = [s.id for s in SPECS if kind is None or s.kind == kind]
    if method not in ids:
        raise ValueError(f"unknown method {method!r}; available: {', '.join(ids)}")
    return REGISTRY[method]


def method_help(kind: str = "image", without: tuple[str, ...] = ()) -> str:
    """The --method help text: the ids, and where to read what each is."""
    ids = [s.id for s in SPECS if s.kind == kind and s.id not in without]
    return f"{', '.join(ids[:-1])} or {ids[-1]} (`reasongen methods` says what each is)"


def methods_table() -> str:
    """Every method: id, what it is, its shipped model and its doc (`reasongen methods`)."""
    from . import SHIPPED_MODELS

    rows = []
    for s in SPECS:
        shipped = "-" if s.shipped is None else s.shipped + ("" if (SHIPPED_MODELS / s.shipped).is_dir() else " (not shipped yet)")
        rows.append(f"{s.id:<11} {s.kind:<6} {s.title}\n{'':<18} model: {shipped}; train: {s.train_command or '-'}; doc: {s.doc or '-'}")
    return "\n".join(rows)


def get_generator(method: str, size: int = 64, **options):
    """An image method's generator; `options` are the method's own (e.g. `model=`, `frame=` for cof)."""
    spec = get_spec(method, "image")
    options = {k: v for k, v in options.items() if v is not None}
    extra = sorted(set(options) - set(spec.options))
    if extra:
        takes = ", ".join("--" + k for k in spec.options) or "no options"
        raise ValueError(f"{', '.join('--' + k for k in extra)} does not apply to method {method} (it takes: {takes})")
    module, cls = spec.generator.split(":")
    return getattr(import_module(f"{__package__}.{module}"), cls)(size=size, **options)
