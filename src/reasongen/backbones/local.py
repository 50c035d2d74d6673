"""Checkpoints that users bring as local transformers folders (the real-scale reward experts, the
MLLM narrator, the benchmarks' evaluators and judges): one folder check, safetensors only, nothing
fetched; and the chat backends over a local model or an OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def load_local_model(model_cls, folder, what: str, example: str, device: str = "cpu"):
    """`model_cls.from_pretrained(folder)` in eval mode on `device`; a clear error naming `what` the
    checkpoint is for and an `example` of one when the folder holds none."""
    if not Path(folder, "config.json").is_file():
        raise ValueError(f"no {what} checkpoint at {folder}: pass a local transformers folder ({example})")
    return model_cls.from_pretrained(folder, local_files_only=True, use_safetensors=True).to(device).eval()


def load_vlm(folder, what: str, example: str, device: str = "cpu"):
    """(model, processor) of a local image-text-to-text checkpoint with a chat template."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = load_local_model(AutoModelForImageTextToText, folder, what, f"an image-text-to-text model with a chat template; {example}", device)
    return model, AutoProcessor.from_pretrained(folder, local_files_only=True)


def chat_inputs(processor, messages: list[dict], image, device: str = "cpu"):
    """OpenAI-style text messages -> the model's inputs through the processor's chat template, the
    image (if any) first in the last message, and the assistant's turn opened."""
    msgs = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in messages]
    if image is not None:
        msgs[-1]["content"].insert(0, {"type": "image"})
    prompt = processor.apply_chat_template(msgs, add_generation_prompt=True)
    return processor(images=image, text=prompt, return_tensors="pt").to(device)


# -- chat backends: a function (messages, image) -> the answer's text ---------------------------
# Used by the ReasonDiff narrator and by the judged benchmarks (WISE, Imagine-Bench).


def transformers_chat(folder, device: str = "cpu", max_new_tokens: int = 512, what: str = "narrator",
                      example: str = "e.g. a download of Qwen/Qwen2.5-VL-7B-Instruct") -> Callable:  # fmt: skip
    """A chat function over a local transformers image-text-to-text checkpoint (`AutoModelForImageTextToText`
    with its processor's chat template, e.g. Qwen2.5-VL-7B-Instruct); greedy decoding, safetensors
    only, nothing fetched. The image goes into the last user message."""
    import torch

    model, processor = load_vlm(folder, what, example, device)

    @torch.no_grad()
    def chat(messages: list[dict], image) -> str:
        inputs = chat_inputs(processor, messages, image, device)
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        return processor.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    return chat


def openai_chat(base_url: str, model: str, api_key: str | None = None, timeout: float = 60.0, temperature: float = 0.0,
                max_response_bytes: int = 4 << 20, what: str = "narrator server", flag: str = "--narrator-url") -> Callable:  # fmt: skip
    """A chat function over an OpenAI-compatible server (`POST {base_url}/chat/completions`); the
    image goes into the last user message as a PNG data URL. Only http(s) URLs; no redirect is
    followed (the request, image included, goes to the host the user named and nowhere else); the
    answer is read up to `max_response_bytes`, within `timeout` seconds. A failure is one ValueError
    naming the server (`what`; `flag` is the option that gave its URL)."""
    import base64
    import io
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    from PIL import Image

    if urllib.parse.urlparse(base_url).scheme not in ("http", "https"):
        raise ValueError(f"{flag} {base_url!r}: give the server's http(s) base URL, e.g. http://127.0.0.1:8000/v1")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} refused", headers, fp)

    opener = urllib.request.build_opener(NoRedirect)

    def chat(messages: list[dict], image) -> str:
        msgs = [dict(m) for m in messages]
        if image is not None:
            buf = io.BytesIO()
            Image.fromarray(image).save(buf, format="PNG")
            url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
            msgs[-1]["content"] = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": msgs[-1]["content"]}]
        body = json.dumps({"model": model, "messages": msgs, "temperature": temperature}).encode()
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {api_key}"} if api_key else {})}
        req = urllib.request.Request(base_url.rstrip("/") + "/chat/completions", data=body, headers=headers)
        try:
            with opener.open(req, timeout=timeout) as resp:
                raw = resp.read(max_response_bytes + 1)
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", None) or e
            raise ValueError(f"{what} {base_url}: {reason}") from None
        if len(raw) > max_response_bytes:
            raise ValueError(f"{what} {base_url}: its answer exceeds {max_response_bytes} bytes; refused")
        try:
            return json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ValueError(f"{what} {base_url}: not an OpenAI chat completion ({raw[:80]!r})") from None

    return chat


def judge_chat(url: str | None, model: str | None, mllm: str | None, device: str = "cpu") -> Callable:
    """The benchmarks' judge (WISE, Imagine-Bench): an OpenAI-compatible server (`url` and its `model`
    name; a hosted one's key from OPENAI_API_KEY, never the command line: shell history) or a local
    vision-language folder (`mllm`); exactly one, else ValueError."""
    import os

    if bool(url) == bool(mllm):
        raise ValueError("name one judge: --judge-url URL --judge-model NAME (an OpenAI-compatible server) or --judge-mllm DIR")
    if url and not model:
        raise ValueError("--judge-url needs --judge-model (the model name the server serves)")
    if url:
        return openai_chat(url, model, api_key=os.environ.get("OPENAI_API_KEY"), what="judge server", flag="--judge-url")
    return transformers_chat(mllm, device, what="judge", example="e.g. a download of Qwen/Qwen2.5-VL-7B-Instruct")

