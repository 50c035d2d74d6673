"""`reasongen generate`: one image from a prompt, by any image method of the registry but the oracle."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..methods.registry import get_spec, method_help
from .common import IMAGE_SUFFIXES, app, check_options, check_output, check_prompt, fail, reading_model


@app.command("generate")
def generate(
    prompt: str = typer.Argument(..., help="What to draw."),
    output: Path = typer.Option(Path("out.png"), "-o", "--output", help="The image (PNG)."),
    method: str = typer.Option("cof", help="The method (or base): " + method_help("image", without=("oracle",)) + "."),
    model: Optional[str] = typer.Option(None, help="Model folder (default: the shipped ShapesWorld model)."),
    seed: int = typer.Option(0, help="Seed."),
    steps: Optional[int] = typer.Option(None, help="Sampling steps (default: the model's)."),
    guidance: Optional[float] = typer.Option(None, help="Guidance scale (default: the model's)."),
    save_chain: bool = typer.Option(False, "--save-chain", help="cof: also write the chain as OUT-chain.png (strip) and OUT-chain.gif."),
    mode: str = typer.Option("mcot", help="fox: direct, twice, plan_act or mcot (the full chain)."),
    cot: bool = typer.Option(True, "--cot/--no-cot", help="t2i-r1: write the semantic CoT first (off: the direct baseline)."),
    save_trace: bool = typer.Option(False, "--save-trace", help="fox: also write OUT-trace.json (plan, layout, why it stopped), the layout over the image, each heatmap overlay, and the image before and after each correction."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
):
    """Generate one image from a prompt with a reasoning method."""
    from ..images import save_image

    check_output(output, IMAGE_SUFFIXES, "the image")
    check_prompt(prompt)
    check_options(seed=seed, steps=steps, guidance=guidance, device=device)
    try:
        get_spec(method, "image")
    except ValueError as e:
        fail(e)
    if method == "fox":
        from ..methods.fox.pipeline import MODES

        if mode not in MODES:
            fail(ValueError(f"--mode {mode!r}: choose from {', '.join(MODES)}"))
    if method == "oracle":
        fail(ValueError("the oracle renders metadata records, not free prompts: use `reasongen world render` or `sample geneval --method oracle`"))
    if save_chain and method != "cof" or save_trace and method != "fox":
        fail(ValueError("--save-chain goes with --method cof, --save-trace with --method fox"))
    try:
        with reading_model(model):  # unreadable weights or config: one line naming the folder
            if method in ("cof", "wan"):
                image = _generate_cof(prompt, output, model, seed, steps, guidance, save_chain, device, method)
            elif method == "fox":
                image = _generate_fox(prompt, output, model, seed, steps, guidance, mode, save_trace, device)
            else:
                image = _generate_t2i_r1(prompt, model, seed, guidance, cot and method == "t2i-r1", device, method)
    except ValueError as e:
        fail(e)
    output.parent.mkdir(parents=True, exist_ok=True)
    save_image(image, output)
    typer.echo(f"{output}")


def _generate_cof(prompt, output, model, seed, steps, guidance, save_chain, device, method="cof"):
    import torch

    from ..methods import model_path
    from ..images import save_chain as write_chain
    from ..methods.cof.pipeline import CoFPipeline

    spec = get_spec(method)
    pipe = CoFPipeline.from_pretrained(model_path(model, spec.shipped, spec.train_command), device=device)
    out = pipe(prompt, generator=torch.Generator().manual_seed(seed), num_inference_steps=steps,
               guidance_scale=guidance, return_chain=save_chain)  # fmt: skip
    if save_chain:
        output.parent.mkdir(parents=True, exist_ok=True)
        stem = output.with_suffix("")
        write_chain(out.chains[0], f"{stem}-chain.png", f"{stem}-chain.gif")
        typer.echo(f"{stem}-chain.png, {stem}-chain.gif")
    return out.images[0]


def _generate_t2i_r1(prompt, model, seed, guidance, cot, device, method="t2i-r1"):
    from ..methods import model_path
    from ..methods.t2i_r1.pipeline import T2IR1Pipeline

    spec = get_spec(method)
    pipe = T2IR1Pipeline.from_pretrained(model_path(model, spec.shipped, spec.train_command), device=device)
    out = pipe(prompt, seed, use_cot=cot, guidance_scale=guidance)[0]
    if out.cot is not None:
        typer.echo(f"cot: {out.cot}")
    return out.image


def _generate_fox(prompt, output, model, seed, steps, guidance, mode, save_trace, device):
    from ..methods import model_path
    from ..methods.fox import SHIPPED
    from ..methods.fox.pipeline import FoXPipeline
    from ..methods.fox.trace import save_trace as write_trace

    pipe = FoXPipeline.from_pretrained(model_path(model, SHIPPED, "reasongen train fox"), device=device)
    trace = pipe(prompt, seed, mode=mode, num_inference_steps=steps, guidance_scale=guidance)[0]
    if trace.caption is not None:
        typer.echo(f"caption: {trace.caption}\nlayout: {trace.layout_text}")
    for problem in trace.layout_problems:
        typer.echo(f"layout: {problem}")
    typer.echo(f"chain: {len(trace.images) - 1} correction(s); {trace.stopped}")
    if save_trace:
        output.parent.mkdir(parents=True, exist_ok=True)
        typer.echo(", ".join(str(p) for p in write_trace(trace, output.with_suffix(""))))
    return trace.image
