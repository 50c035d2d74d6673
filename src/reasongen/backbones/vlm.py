"""A local transformers image-text-to-text checkpoint (a vision-language model) and its processor:
what T2I-R1's outcome reward and ReasonDiff's MLLM narrator both read. Safetensors only, nothing
fetched."""

from __future__ import annotations

from pathlib import Path


def load_vlm(folder, device: str = "cpu", what: str = "vision-language", example: str = "e.g. a download of Qwen/Qwen2.5-VL-7B-Instruct"):
    """(model, processor) of `AutoModelForImageTextToText` from `folder`; a clear error naming
    `what` the checkpoint is for and an `example` of one when the folder holds none."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    if not Path(folder, "config.json").is_file():
        raise ValueError(f"no {what} checkpoint at {folder}: pass a local transformers folder of an image-text-to-text "
                         f"model with a chat template ({example})")  # fmt: skip
    model = AutoModelForImageTextToText.from_pretrained(folder, local_files_only=True, use_safetensors=True).to(device).eval()
    return model, AutoProcessor.from_pretrained(folder, local_files_only=True)


def chat_inputs(processor, messages: list[dict], image, device: str = "cpu"):
    """OpenAI-style text messages -> the model's inputs through the processor's chat template, the
    image (if any) first in the last message, and the assistant's turn opened."""
    msgs = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in messages]
    if image is not None:
        msgs[-1]["content"].insert(0, {"type": "image"})
    prompt = processor.apply_chat_template(msgs, add_generation_prompt=True)
    return processor(images=image, text=prompt, return_tensors="pt").to(device)
