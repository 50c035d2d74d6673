"""Generators by method id. Every method plugs into `reasongen sample geneval --method M`.

A generator is a callable `(metadata, seeds) -> [image, ...]`: one RGB uint8 array per seed, the
same seed giving the same image. It names the classes and colours it can draw (`classes`,
`colors`) so that a metadata file is checked before sampling starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .registry import IMAGE_METHODS as METHODS  # noqa: F401  (the ids `sample geneval` takes)
from .registry import PIPELINE_METHODS, get_generator  # noqa: F401

SHIPPED_MODELS = Path(__file__).resolve().parents[1] / "models"


class Generator(Protocol):
    name: str
    classes: Sequence[str]
    colors: Sequence[str]

    def __call__(self, metadata: dict, seeds: Sequence[int]) -> list[np.ndarray]: ...


def folder_method(index: dict) -> str | None:
    """The method a saved pipeline belongs to, by its model_index.json (None: no method's); a one-frame
    CoF pipeline is the plain wan base."""
    owner = PIPELINE_METHODS.get(index.get("_class_name"))
    return "wan" if owner == "cof" and index.get("num_frames") == 1 else owner


def read_model_index(path: Path, method: str) -> dict:
    """A pipeline folder's model_index.json, refused with a clear error if it belongs to another method."""
    import json

    index_path = Path(path) / "model_index.json"
    if not index_path.is_file():
        raise FileNotFoundError(f"{path}: no model_index.json; pass a folder written by `reasongen train {method}`")
    try:
        index = json.loads(index_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{index_path} is not valid JSON ({e}); the folder is damaged: copy or train it again") from None
    if not isinstance(index, dict):
        raise ValueError(f"{index_path} holds no settings object; the folder is damaged: copy or train it again")
    if PIPELINE_METHODS.get(index.get("_class_name")) != method:
        owner = folder_method(index)
        hint = f"; use --method {owner}" if owner else ""
        raise ValueError(f"{path} holds a {index.get('_class_name')!r} model, not one of method {method}{hint}")
    return index


def save_weights(model, folder: Path, dtype=None) -> None:
    """A pipeline's trained model saved as safetensors, cast to `dtype` on disk only (fp16 halves the
    shipped files); the model in memory stays fp32."""
    if dtype is not None:
        model.to(dtype)
    try:
        model.save_pretrained(folder, safe_serialization=True)
    finally:
        if dtype is not None:
            model.float()


def save_transformer(transformer, path: Path, index: dict, base_model: Path | None, dtype=None) -> None:
    """A pipeline's Wan DiT into `path/transformer`, or with a LoRA its adapter into
    `path/transformer_lora` and the base's folder into `index["base_model"]` (backbones/lora.py)."""
    from ..backbones.lora import LORA_FOLDER, has_lora, save_lora

    if has_lora(transformer):
        if base_model is None:
            raise ValueError("the transformer carries a LoRA but the pipeline has no base_model: pass the checkpoint folder it adapts")
        save_lora(transformer, path / LORA_FOLDER)
        index["base_model"] = str(base_model)
    else:
        save_weights(transformer, path / "transformer", dtype)


def load_transformer(path: Path, index: dict, dtype) -> tuple[object, Path | None]:
    """The Wan DiT of a pipeline folder, with its LoRA on the base's weights if it is one; returns
    (transformer, the base folder or None)."""
    from diffusers import WanTransformer3DModel

    from ..backbones.lora import LORA_FOLDER, base_folder, load_lora

    base = base_folder(path, index)
    transformer = WanTransformer3DModel.from_pretrained(base, subfolder="transformer", local_files_only=True,
                                                        use_safetensors=True, torch_dtype=dtype)  # fmt: skip
    if base == path:
        return transformer, None
    load_lora(transformer, path / LORA_FOLDER)
    return transformer, base


def load_pipeline_vae(path: Path, index: dict, device="cpu"):
    """A pipeline folder's `AutoencoderKLWan`, in fp32 whatever it is stored in: its own `vae/`, or the
    folder its model_index.json names as `"vae_folder"` (relative to the pipeline folder), which lets
    the shipped pipelines share one VAE instead of carrying a copy each."""
    import torch
    from diffusers import AutoencoderKLWan

    folder = (Path(path) / index["vae_folder"]).resolve() if "vae_folder" in index else Path(path) / "vae"
    if not (folder / "config.json").is_file():
        raise ValueError(f"{path}: its VAE folder {folder} is missing; pass a complete pipeline folder")
    return AutoencoderKLWan.from_pretrained(folder, local_files_only=True, use_safetensors=True, torch_dtype=torch.float32).to(device)


def model_path(model: str | None, shipped: str, train_command: str) -> Path:
    """The model folder to load: `model`, or the shipped `models/<shipped>`; a clear error if there is none."""
    path = Path(model) if model else SHIPPED_MODELS / shipped
    if not (path / "model_index.json").is_file():
        raise ValueError(
            f"no model at {path}; pass --model DIR (a folder written by `{train_command}`)"
            + ("" if model else " (no shipped model is installed for this method)")
        )
    return path


def load_transformer_weights(transformer, pipeline_dir: Path) -> None:
    """A saved pipeline's transformer weights into `transformer` (a run started from them); refused
    unless every tensor is there with this model's shape and the saved model has no tensor this one
    lacks (a shallower model never takes the first blocks of a deeper one silently)."""
    from safetensors.torch import load_file

    pipeline_dir = Path(pipeline_dir)
    path = pipeline_dir / "transformer" / "diffusion_pytorch_model.safetensors"
    if not path.is_file():
        raise ValueError(f"--init-from {pipeline_dir}: no {path.relative_to(pipeline_dir)} (pass a pipeline folder written by `reasongen train`)")
    state, own = load_file(path), transformer.state_dict()
    mismatch = sorted(k for k in own if k not in state or state[k].shape != own[k].shape)
    mismatch += sorted(k for k in state if k not in own)
    if mismatch:
        raise ValueError(f"--init-from {pipeline_dir}: its transformer does not match this preset ({len(mismatch)} tensors differ, e.g. {mismatch[0]})")
    transformer.load_state_dict({k: state[k].to(own[k].dtype) for k in own})
