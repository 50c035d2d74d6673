"""Checkpoints that users bring as local transformers folders (the real-scale reward experts, the
MLLM narrator): one folder check, safetensors only, nothing fetched."""

from __future__ import annotations

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
