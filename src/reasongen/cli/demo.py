"""`reasongen demo`: the browser demo of every method on this machine's models (demo/app.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import app, fail


@app.command("demo")
def demo(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 7860,
    host: Annotated[str, typer.Option(help="Address to bind: this machine only by default; 0.0.0.0 opens it to the network.")] = "127.0.0.1",
    model: Annotated[list[str] | None, typer.Option(help="METHOD=DIR: run METHOD on your own checkpoint folder (repeat per method); default: the shipped models.")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
):
    """A local Gradio app: a prompt, any method, and its reasoning shown beside the result, judged by the ShapesWorld evaluator."""
    if not 1 <= port <= 65535:
        fail(ValueError(f"--port {port}: use a port from 1 to 65535"))
    paths = {}
    for item in model or []:
        method, sep, folder = item.partition("=")
        if not sep or not method.strip() or not folder.strip():
            fail(ValueError(f"--model {item!r}: write METHOD=DIR, e.g. --model fox=runs/fox/pipeline"))
        paths[method.strip()] = folder.strip()
    try:
        import gradio  # noqa: F401
    except ImportError:
        fail(ValueError('the demo needs Gradio: pip install -e ".[demo]"'))
    from ..demo.app import launch
    from ..demo.runs import Models

    try:
        models = Models(paths, device)
    except ValueError as e:
        fail(e)
    typer.echo(f"reasongen demo on http://{host}:{port}/ (Ctrl+C stops it)")
    launch(models, host, port)
