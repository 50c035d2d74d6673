"""The demo's page: a Gradio Blocks app over `runs.Models`.

Offline by construction: analytics and the version check off (GRADIO_ANALYTICS_ENABLED=False, set
before Gradio is imported, and `analytics_enabled=False`), no share link, no server-side rendering
(which would start Node), system fonts only, so the page asks nothing of any host but its own.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from pathlib import Path

from ..methods.registry import DEFAULT_METHOD, get_spec
from .runs import MAX_GUIDANCE, MAX_PROMPT_CHARS, MAX_SEED, MAX_STEPS, METHODS, Models, enlarge

BUTTONS = ["download", "fullscreen"]  # no share button: nothing leaves this machine
SCALE = 4  # results are 64 px: shown 4 times larger, pixels kept sharp
QUEUE_SIZE = 16  # requests waiting beyond this are turned away with a message
WORKERS = 2  # requests running at once, on different models (each model runs one at a time)
OFFLINE_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
               "GRADIO_SSR_MODE": "False", "GRADIO_MCP_SERVER": "False"}  # fmt: skip
CSS = """
#result img, .pixelated img { image-rendering: pixelated; }
#message { min-height: 1.5em; }
#message p { font-weight: 600; }
"""


def example_case(folder: Path) -> tuple[str, str]:
    """ReasonDiff's default input: the first case of shapes-video-unpaired (its text, its image as PNG)."""
    from PIL import Image

    from ..world.benchmarks import read_video_cases

    case = read_video_cases("shapes-video-unpaired")[0]
    path = folder / "example.png"
    Image.fromarray(case.image(64)).save(path)
    return case.text, str(path)


def build_app(models: Models):
    """The Blocks app (not launched)."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    import gradio as gr

    workdir = Path(tempfile.mkdtemp(prefix="reasongen-demo-"))  # GIFs and strips served to the page
    clip_text, clip_image = example_case(workdir)
    image_prompt = "a photo of a red circle"
    first = DEFAULT_METHOD  # the best shipped model

    with gr.Blocks(title="reasongen demo", analytics_enabled=False) as app:
        gr.Markdown("## reasongen: see the reasoning\nShapesWorld models on this machine; nothing is downloaded.")
        with gr.Row():
            with gr.Column(scale=2):
                prompt = gr.Textbox(image_prompt, label=f"Prompt (at most {MAX_PROMPT_CHARS} characters)", elem_id="prompt",
                                    max_lines=2)  # fmt: skip
                method = gr.Radio(list(METHODS), value=first, label="Method", elem_id="method")
                about = gr.Markdown(_about(models, first), elem_id="about")
                condition = gr.Image(clip_image, type="filepath", label="Image (reasondiff: a moment of the clip)",
                                     sources=["upload"], visible=False, elem_id="condition", height=160)  # fmt: skip
                seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED, elem_id="seed")
                steps_default, guidance_default = models.defaults(first)
                steps = gr.Slider(1, MAX_STEPS, value=steps_default, step=1, label="Steps", elem_id="steps")
                guidance = gr.Slider(0, MAX_GUIDANCE, value=guidance_default, step=0.5, label="Guidance", elem_id="guidance")
                run = gr.Button("Generate", variant="primary", elem_id="run")
            with gr.Column(scale=3):
                message = gr.Markdown("", elem_id="message")
                with gr.Row():
                    result = gr.Image(label="Result", type="numpy", format="png", interactive=False, buttons=BUTTONS,
                                      elem_id="result")
                    plan = gr.Textbox(label="Semantic plan (T2I-R1)", lines=4, interactive=False, visible=False, elem_id="plan")
                verdict = gr.Markdown("", elem_id="verdict")
                notes = gr.Markdown("", elem_id="notes")
                with gr.Group(visible=True, elem_id="cof-box") as cof_box:
                    chain_strip = gr.Image(label="Chain of frames, side by side (F1 draft ... last: the image)",
                                           type="filepath", interactive=False, buttons=BUTTONS, elem_id="chain-strip",
                                           elem_classes="pixelated")  # fmt: skip
                    chain_gif = gr.Image(label="Chain of frames, animated", type="filepath", interactive=False,
                                         buttons=BUTTONS, elem_id="chain-gif", elem_classes="pixelated", height=256)  # fmt: skip
                with gr.Group(visible=False, elem_id="fox-box") as fox_box:
                    caption = gr.Textbox(label="Plan: caption", lines=3, interactive=False, elem_id="fox-caption")
                    with gr.Row():
                        layout = gr.Image(label="Plan: layout boxes", type="numpy", format="png", interactive=False,
                                          buttons=BUTTONS, elem_id="fox-layout", elem_classes="pixelated")  # fmt: skip
                        heatmap = gr.Image(label="Reflect: heatmap on the first image", type="numpy", format="png",
                                           interactive=False, buttons=BUTTONS, elem_id="fox-heatmap",
                                           elem_classes="pixelated")  # fmt: skip
                        corrected = gr.Image(label="Correct: corrected image", type="numpy", format="png",
                                             interactive=False, buttons=BUTTONS, elem_id="fox-corrected",
                                             elem_classes="pixelated")  # fmt: skip
                with gr.Group(visible=False, elem_id="reasondiff-box") as rd_box:
                    anchor = gr.Markdown("", elem_id="anchor")
                    clip_gif = gr.Image(label="The clip", type="filepath", interactive=False, buttons=BUTTONS,
                                        elem_id="clip-gif", elem_classes="pixelated", height=256)  # fmt: skip
                    clip_strip = gr.Image(label="The clip, frame by frame", type="filepath", interactive=False,
                                          buttons=BUTTONS, elem_id="clip-strip", elem_classes="pixelated")  # fmt: skip
                    narratives = gr.Markdown("", elem_id="narratives")

        outputs = [message, result, plan, verdict, notes, chain_strip, chain_gif, caption, layout, heatmap, corrected,
                   anchor, clip_gif, clip_strip, narratives]  # fmt: skip
        boxes = [plan, cof_box, fox_box, rd_box, condition]

        def show(m: str) -> list:
            return [gr.update(visible=m == "t2i-r1"), gr.update(visible=m == "cof"), gr.update(visible=m == "fox"),
                    gr.update(visible=m == "reasondiff"), gr.update(visible=get_spec(m).kind == "video")]  # fmt: skip

        last = gr.State(first)  # the method picked before: a prompt is kept unless the kind of input changes

        def pick(m: str, before: str, text: str):
            steps_value, guidance_value = models.defaults(m)
            video = get_spec(m).kind == "video"
            if video != (get_spec(before).kind == "video"):  # text and image to video, or text to image: its example
                text = clip_text if video else image_prompt
            return [*show(m), _about(models, m), text, m,
                    gr.update(value=steps_value or 1, visible=steps_value is not None),
                    gr.update(value=guidance_value or 0, visible=guidance_value is not None)]  # fmt: skip

        method.change(pick, [method, last, prompt], [*boxes, about, prompt, last, steps, guidance], queue=False)

        tracker = gr.Progress(track_tqdm=True)  # the pipelines' tqdm bars become the page's progress bar

        def generate(m, text, seed_value, steps_value, guidance_value, image, progress=tracker):
            empty = ["", None, "", "", "", None, None, "", None, None, None, "", None, None, ""]
            steps_default, guidance_default = models.defaults(m)
            start = time.monotonic()
            try:
                out = models.run(m, text, seed_value, steps_value if steps_default is not None else None,
                                 guidance_value if guidance_default is not None else None, image,
                                 say=lambda fraction, what: progress(fraction, desc=what))  # fmt: skip
            except ValueError as e:
                return [f"error: {e}", *empty[1:]]
            except Exception as e:  # noqa: BLE001  (the page gets one line; the server log the traceback)
                traceback.print_exc()
                first_line = (str(e).strip().splitlines() or [""])[0][:200]
                return [f"error: {type(e).__name__}: {first_line} (the server log has the details)", *empty[1:]]
            return [f"run {next(_counter)}: {m} done in {time.monotonic() - start:.1f} s"] + _panels(out, workdir)

        inputs = [method, prompt, seed, steps, guidance, condition]
        for event in (run.click, prompt.submit):  # one queue for both: at most WORKERS requests run at once
            event(generate, inputs, outputs, concurrency_limit=WORKERS, concurrency_id="generate", show_progress="full")
    app.queue(max_size=QUEUE_SIZE)
    return app


def _about(models: Models, method: str) -> str:
    missing = models.missing(method)
    return models.describe(method) + (f"\n\n**No model to run:** {missing}" if missing else "")


def _panels(out, workdir: Path) -> list:
    """The values of the result's outputs, in `outputs` order after the message."""
    from ..images import save_chain

    stem = workdir / f"{out.method}-{next(_counter)}"
    big = None if out.image is None else enlarge(out.image, SCALE)
    chain_strip = chain_gif = clip_gif = clip_strip = None
    if out.method == "cof" and out.frames:
        save_chain(out.frames, f"{stem}-chain.png", f"{stem}-chain.gif", scale=SCALE)
        chain_strip, chain_gif = f"{stem}-chain.png", f"{stem}-chain.gif"
    anchor = narratives = ""
    if out.anchor is not None:
        save_chain(out.frames, f"{stem}-clip.png", f"{stem}-clip.gif", scale=SCALE)
        clip_strip, clip_gif = f"{stem}-clip.png", f"{stem}-clip.gif"
        anchor = f"Narrator: the image is frame **{out.anchor}** of {len(out.frames)} (the result shows that frame)."
        narratives = "| frame | narrative |\n| --- | --- |\n" + "\n".join(
            f"| {'**' + str(k) + '** (anchor)' if k == out.anchor else k} | {text} |" for k, text in enumerate(out.narratives))
    plan = out.plan if out.method == "t2i-r1" else ""
    caption = (out.plan or "(no caption)") + (f"\n\nlayout: {out.layout_text}" if out.layout_text else "")
    corrected = enlarge(out.image, SCALE) if out.method == "fox" else None
    notes = "\n".join(f"- {n}" for n in out.notes)
    if out.method == "fox":
        notes += f"\n- {out.corrections} correction(s)"
    return [big, plan, out.verdict.markdown() if out.verdict else "", notes, chain_strip, chain_gif,
            caption if out.method == "fox" else "", out.layout, out.heatmap, corrected,
            anchor, clip_gif, clip_strip, narratives]  # fmt: skip


_counter = iter(range(1, 1 << 62))


def launch(models: Models, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the app until interrupted: local only unless `host` says otherwise; never a share link."""
    app = build_app(models)
    import gradio as gr

    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])  # no web fonts
    app.launch(server_name=host, server_port=port, share=False, inbrowser=False, ssr_mode=False, mcp_server=False,
               pwa=False, enable_monitoring=False, footer_links=[], show_error=False, max_file_size="5mb",
               theme=theme, css=CSS, app_kwargs=app_kwargs())  # fmt: skip


def app_kwargs() -> dict:
    """The FastAPI app's settings: a malformed API request is answered 422 with where and what is
    wrong, never its input. FastAPI's own handler echoes the request's body, and fails on a body
    that is not UTF-8 (a 500, the body written into the server log: fastapi/fastapi#13111)."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    async def refuse(request, exc: RequestValidationError):
        detail = [{"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in exc.errors()]  # fmt: skip
        return JSONResponse({"detail": detail}, status_code=422)

    return {"exception_handlers": {RequestValidationError: refuse}}
