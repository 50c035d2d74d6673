"""`reasongen generate`: one image from a prompt, by any image method of the registry but the oracle."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..methods.registry import method_help
from .common import IMAGE_SUFFIXES, app, check_options, check_output, check_prompt, fail, reading_model


@app.command("generate")
def generate(
    prompt: str = typer.Argument(..., help="What to draw."),
    output: Path = typer.Option(Path("out.png"), "-o", "--output", help="The image (PNG)."),
    method: Optional[str] = typer.Option(None, help="The method (or base): " + method_help("image", without=("oracle",)) + "; default: the --model folder's method, else the best shipped model."),
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
    from ..methods.generate import check_request, default_method, generate_image

    check_output(output, IMAGE_SUFFIXES, "the image")
    check_prompt(prompt)
    check_options(seed=seed, steps=steps, guidance=guidance, device=device)
    try:
        method = method or default_method(model)
        check_request(method, mode, save_chain, save_trace)
        with reading_model(model):  # unreadable weights or config: one line naming the folder
            image = generate_image(method, prompt, output, model, seed, steps, guidance, mode, cot, save_chain, save_trace, device, typer.echo)
    except ValueError as e:
        fail(e)
    output.parent.mkdir(parents=True, exist_ok=True)
    save_image(image, output)
    typer.echo(f"{output}")
