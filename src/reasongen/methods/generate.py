"""One image from a free prompt by any image method but the oracle (`reasongen generate`), with what
its reasoning wrote: CoF's chain, T2I-R1's semantic CoT, FoX's plan and trace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .registry import get_spec


def default_method(model: str | None) -> str:
    """The method `generate` runs when none is named: the --model folder's own, if it is an image
    method's; else the best shipped model (registry.DEFAULT_METHOD). An unreadable folder is left to
    the loader, which names it."""
    import json

    from . import folder_method
    from .registry import DEFAULT_METHOD, IMAGE_METHODS

    try:
        owner = folder_method(json.loads((Path(model) / "model_index.json").read_text())) if model else None
    except (OSError, ValueError, AttributeError):
        owner = None
    return owner if owner in IMAGE_METHODS else DEFAULT_METHOD


def check_request(method: str, mode: str, save_chain: bool, save_trace: bool) -> None:
    """Refuse (ValueError), before a model loads, a method that is not an image method or draws no free
    prompts, a FoX mode that does not exist, and a chain or trace the method does not write."""
    get_spec(method, "image")
    if method == "fox":
        from .fox.pipeline import MODES

        if mode not in MODES:
            raise ValueError(f"--mode {mode!r}: choose from {', '.join(MODES)}")
    if method == "oracle":
        raise ValueError("the oracle renders metadata records, not free prompts: use `reasongen world render` or `sample geneval --method oracle`")
    if save_chain and method != "cof" or save_trace and method != "fox":
        raise ValueError("--save-chain goes with --method cof, --save-trace with --method fox")


def generate_image(method: str, prompt: str, output: Path, model: str | None = None, seed: int = 0, steps: int | None = None,
                   guidance: float | None = None, mode: str = "mcot", cot: bool = True, save_chain: bool = False,
                   save_trace: bool = False, device: str = "cpu", say: Callable[[str], None] = print):  # fmt: skip
    """The image (uint8 array) of `prompt` by `method` from `model` (default: the shipped one). What
    the reasoning wrote is said through `say`; `save_chain` (cof) and `save_trace` (fox) also write it
    beside `output` (OUT-chain.png and .gif; OUT-trace.json and the trace's images)."""
    from . import model_path

    spec = get_spec(method)
    path = model_path(model, spec.shipped, spec.train_command)
    stem = output.with_suffix("")
    if method in ("cof", "wan"):
        import torch

        from ..images import save_chain as write_chain
        from .cof.pipeline import CoFPipeline

        pipe = CoFPipeline.from_pretrained(path, device=device)
        out = pipe(prompt, generator=torch.Generator().manual_seed(seed), num_inference_steps=steps,
                   guidance_scale=guidance, return_chain=save_chain)  # fmt: skip
        if save_chain:
            output.parent.mkdir(parents=True, exist_ok=True)
            write_chain(out.chains[0], f"{stem}-chain.png", f"{stem}-chain.gif")
            say(f"{stem}-chain.png, {stem}-chain.gif")
        return out.images[0]
    if method == "fox":
        from .fox.pipeline import FoXPipeline
        from .fox.trace import save_trace as write_trace

        trace = FoXPipeline.from_pretrained(path, device=device)(prompt, seed, mode=mode, num_inference_steps=steps, guidance_scale=guidance)[0]
        if trace.caption is not None:
            say(f"caption: {trace.caption}\nlayout: {trace.layout_text}")
        for problem in trace.layout_problems:
            say(f"layout: {problem}")
        say(f"chain: {len(trace.images) - 1} correction(s); {trace.stopped}")
        if save_trace:
            output.parent.mkdir(parents=True, exist_ok=True)
            say(", ".join(str(p) for p in write_trace(trace, stem)))
        return trace.image
    from .t2i_r1.pipeline import T2IR1Pipeline

    out = T2IR1Pipeline.from_pretrained(path, device=device)(prompt, seed, use_cot=cot and method == "t2i-r1", guidance_scale=guidance)[0]
    if out.cot is not None:
        say(f"cot: {out.cot}")
    return out.image
