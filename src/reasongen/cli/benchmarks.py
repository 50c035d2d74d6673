"""The papers' other benchmarks: T2I-CompBench (real prompts or the ShapesWorld analogue), WISE and
Imagine-Bench: sampling in each benchmark's own layout, and their evaluators."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..locks import write_atomic
from ..methods.registry import method_help
from .common import check_folder, check_options, eval_app, fail, sample_app

Method = Annotated[str, typer.Option(help="The method (or base): " + method_help("image") + ".")]
Size = Annotated[int, typer.Option(help="Canvas size in pixels (ShapesWorld generators).")]
Seed = Annotated[int, typer.Option(help="Base seed; image j of prompt i uses a seed derived from (seed, i, j).")]
Model = Annotated[str | None, typer.Option(help="Model folder for learned methods (default: the shipped one).")]
Steps = Annotated[int | None, typer.Option(help="Sampling steps (default: the model's).")]
Guidance = Annotated[float | None, typer.Option(help="Classifier-free guidance scale (default: the model's).")]
Device = Annotated[str | None, typer.Option(help="cpu or cuda (learned methods).")]
Frame = Annotated[int | None, typer.Option(help="cof: which chain frame is the image (-1 the last, as CoF-T2I decodes; 0 F1, 1 F2).")]
Cot = Annotated[bool | None, typer.Option("--cot/--no-cot", help="t2i-r1: with the semantic CoT (default) or the direct baseline.")]
Mode = Annotated[str | None, typer.Option(help="fox: direct, twice, plan_act or mcot (the full chain, default).")]
Limit = Annotated[int | None, typer.Option(help="Only the first N prompts (a quick run).")]
Out = Annotated[Path | None, typer.Option(help="Write the summary JSON here (key score).")]
JudgeUrl = Annotated[str | None, typer.Option(help="Judge: an OpenAI-compatible server's base URL (e.g. vLLM: http://127.0.0.1:8000/v1).")]
JudgeModel = Annotated[str | None, typer.Option(help="Judge: the model name on --judge-url (the papers: gpt-4o-2024-05-13, gpt-4.1-2025-04-14).")]
JudgeMllm = Annotated[str | None, typer.Option(help="Judge: a local transformers vision-language folder instead of a server.")]


def _write_json(path: Path | None, value) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(value, indent=1) + "\n")


def _sample(records: list[dict], folder: str, name, method: str, outdir: Path, n: int, limit, size: int, seed: int, options: dict) -> None:
    """Check everything cheap first (limit, oracle on real prompts, every file name), then sample."""
    from ..methods.sampling import FlatLayout, sample_flat

    check_options(n=n, limit=limit, size=size, seed=seed, **{k: options.get(k) for k in ("steps", "guidance", "device")})
    check_folder(outdir, "--outdir")
    try:
        records = records[:limit]
        made = sample_flat(records, method, outdir, FlatLayout(folder, name), n, size, seed, **options)
    except ValueError as e:
        fail(e)
    typer.echo(f"{outdir}: {len(records)} prompts x {n} images ({made} new)")


def _options(model, steps, guidance, device, frame, cot, mode) -> dict:
    """The generator's own options; `get_generator` refuses one its method does not take."""
    return {"model": model, "steps": steps, "guidance": guidance, "device": device, "frame": frame, "cot": cot, "mode": mode}


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder; pass the output folder of `reasongen sample` for this benchmark")


# -- T2I-CompBench -----------------------------------------------------------------------------


@sample_app.command("compbench")
def sample_compbench(
    category: Annotated[str, typer.Option(help="color, shape, spatial, numeracy or complex (shapes); the real set adds texture, non_spatial, 3d_spatial.")],
    method: Method,
    outdir: Annotated[Path, typer.Option(help="Output folder, T2I-CompBench's layout (DIR/samples/{prompt}_{index:06d}.png); resumes.")],
    benchmark: Annotated[str, typer.Option(help="shapes (the ShapesWorld analogue) or t2i-compbench (the official prompt files).")] = "shapes",
    prompts: Annotated[Path | None, typer.Option(help="t2i-compbench: a copy of its examples/dataset folder (default: the shipped copy).")] = None,
    n: Annotated[int, typer.Option(help="Images per prompt (the official protocol: 10).")] = 10,
    limit: Limit = None, size: Size = 64, seed: Seed = 0, model: Model = None, steps: Steps = None, guidance: Guidance = None,
    device: Device = None, frame: Frame = None, cot: Cot = None, mode: Mode = None,
):  # fmt: skip
    """Sample a T2I-CompBench category (or its ShapesWorld analogue) in T2I-CompBench's layout."""
    from ..eval.compbench import benchmark_prompts, image_name

    try:
        records = benchmark_prompts(benchmark, category, prompts)
    except ValueError as e:
        fail(e)
    _sample(records, "samples", image_name, method, outdir, n, limit, size, seed, _options(model, steps, guidance, device, frame, cot, mode))


@eval_app.command("compbench")
def eval_compbench(
    folder: Annotated[Path, typer.Argument(help="A T2I-CompBench output folder: DIR/samples/{prompt}_{index:06d}.png.")],
    category: Annotated[str, typer.Option(help="The category the folder holds.")],
    evaluator: Annotated[str, typer.Option(help="shapes (ShapesWorld detector, exact, no weights) or official (BLIP-VQA, OWLv2 for UniDet, CLIP).")] = "shapes",
    out: Out = None,
    per_image: Annotated[Path | None, typer.Option(help="Write the per-image answers (the official vqa_result.json form) here.")] = None,
    blip: Annotated[str | None, typer.Option(help="official: BLIP VQA folder (transformers; e.g. Salesforce/blip-vqa-base).")] = None,
    clip: Annotated[str | None, typer.Option(help="official: CLIP folder (e.g. openai/clip-vit-base-patch32).")] = None,
    detector: Annotated[str | None, typer.Option(help="official: OWLv2 / OWL-ViT folder standing in for UniDet (e.g. google/owlv2-base-patch16-ensemble).")] = None,
    depth: Annotated[str | None, typer.Option(help="official 3d_spatial: DPT depth folder (transformers; e.g. Intel/dpt-hybrid-midas).")] = None,
    prompts: Annotated[Path | None, typer.Option(help="official: a copy of T2I-CompBench's examples/dataset (default: the shipped copy).")] = None,
    device: Annotated[str, typer.Option(help="Device for the official evaluator's models.")] = "cpu",
):  # fmt: skip
    """Score a T2I-CompBench category: the mean per-image answer, as the official scripts report it."""
    from ..eval import compbench

    try:
        if evaluator == "shapes":
            rows, summary = compbench.evaluate_shapes_folder(folder, category)
        elif evaluator == "official":
            from ..eval.compbench_models import evaluate_official_folder

            rows, summary = evaluate_official_folder(folder, category, blip=blip, clip=clip, detector=detector, prompts=prompts, device=device,
                                                     depth=depth)  # fmt: skip
        else:
            raise ValueError(f"--evaluator {evaluator!r}: choose shapes or official")
    except ValueError as e:
        fail(e)
    typer.echo(compbench.format_summary(summary))
    _write_json(out, summary)
    _write_json(per_image, rows)


# -- WISE --------------------------------------------------------------------------------------


@sample_app.command("wise")
def sample_wise(
    prompts: Annotated[Path, typer.Option(help="A copy of WISE's data_verified/ (or WISE_legacy/data/ with --version legacy).")],
    method: Method,
    outdir: Annotated[Path, typer.Option(help="Output folder: DIR/{prompt_id}.png, as WISE reads it; resumes.")],
    version: Annotated[str, typer.Option(help="verified (the repository's default) or legacy (the paper's).")] = "verified",
    rewrite: Annotated[bool, typer.Option(help="legacy: the rewritten prompts, with the knowledge spelled out.")] = False,
    limit: Limit = None, size: Size = 64, seed: Seed = 0, model: Model = None, steps: Steps = None, guidance: Guidance = None,
    device: Device = None, frame: Frame = None, cot: Cot = None, mode: Mode = None,
):  # fmt: skip
    """Sample WISE's prompts, one image per prompt."""
    from ..eval.wise import image_name, read_prompts

    try:
        records = read_prompts(prompts, version, rewrite)
    except ValueError as e:
        fail(e)
    _sample(records, "", image_name, method, outdir, 1, limit, size, seed, _options(model, steps, guidance, device, frame, cot, mode))


@eval_app.command("wise")
def eval_wise(
    folder: Annotated[Path, typer.Argument(help="A folder of {prompt_id}.png.")],
    prompts: Annotated[Path, typer.Option(help="A copy of WISE's data_verified/ (or WISE_legacy/data/ with --version legacy).")],
    version: Annotated[str, typer.Option(help="verified (binary judge) or legacy (WiScore from three 0-2 scores).")] = "verified",
    rewrite: Annotated[bool, typer.Option(help="legacy: judge against the rewritten prompts.")] = False,
    judge_url: JudgeUrl = None, judge_model: JudgeModel = None, judge_mllm: JudgeMllm = None,
    scores: Annotated[Path | None, typer.Option(help="The judged rows, appended as they come (resume): default DIR/wise_<version>_scores.jsonl.")] = None,
    out: Out = None, device: Annotated[str, typer.Option(help="Device for --judge-mllm.")] = "cpu",
):  # fmt: skip
    """Judge WISE images: per-category WiScore and the weighted overall."""
    from ..backbones.local import judge_chat
    from ..eval import wise

    try:
        wise.read_prompts(prompts, version, rewrite)  # the prompts and the folder are checked before a judge loads
        _check_folder(folder)
        _, summary = wise.evaluate_folder(folder, prompts, judge_chat(judge_url, judge_model, judge_mllm, device), version, rewrite, scores)
    except ValueError as e:
        fail(e)
    typer.echo(wise.format_summary(summary))
    _write_json(out, summary)


# -- Imagine-Bench -----------------------------------------------------------------------------


@sample_app.command("imagine")
def sample_imagine(
    method: Method,
    outdir: Annotated[Path, typer.Option(help="Output folder: DIR/{id}.png, as Imagine-Bench reads it; resumes.")],
    prompts: Annotated[Path | None, typer.Option(help="Imagine.jsonl (default: the shipped copy).")] = None,
    limit: Limit = None, size: Size = 64, seed: Seed = 0, model: Model = None, steps: Steps = None, guidance: Guidance = None,
    device: Device = None, frame: Frame = None, cot: Cot = None, mode: Mode = None,
):  # fmt: skip
    """Sample Imagine-Bench's 270 prompts, one image per prompt."""
    from ..eval.imagine import image_name, read_prompts

    try:
        records = read_prompts(prompts)
    except ValueError as e:
        fail(e)
    _sample(records, "", image_name, method, outdir, 1, limit, size, seed, _options(model, steps, guidance, device, frame, cot, mode))


@eval_app.command("imagine")
def eval_imagine(
    folder: Annotated[Path, typer.Argument(help="A folder of {id}.png (or .jpg / .jpeg / .webp).")],
    prompts: Annotated[Path | None, typer.Option(help="Imagine.jsonl (default: the shipped copy).")] = None,
    judge_url: JudgeUrl = None, judge_model: JudgeModel = None, judge_mllm: JudgeMllm = None,
    scores: Annotated[Path | None, typer.Option(help="The judged rows, appended as they come (resume): default DIR/imagine_scores.jsonl.")] = None,
    out: Out = None, device: Annotated[str, typer.Option(help="Device for --judge-mllm.")] = "cpu",
):  # fmt: skip
    """Judge Imagine-Bench images: group means and the official weighted overall (0-10)."""
    from ..backbones.local import judge_chat
    from ..eval import imagine

    try:
        imagine.read_prompts(prompts)  # the prompts and the folder are checked before a judge loads
        _check_folder(folder)
        _, summary = imagine.evaluate_folder(folder, judge_chat(judge_url, judge_model, judge_mllm, device), prompts, scores)
    except ValueError as e:
        fail(e)
    typer.echo(imagine.format_summary(summary))
    _write_json(out, summary)
