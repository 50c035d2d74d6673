"""LoRA on a Wan DiT, through PEFT and diffusers' adapter API (`add_adapter`, `save_lora_adapter`,
`load_lora_adapter`).

The adapted layers are the released ReasonDiff code's (`q, k, v, o, ffn.0, ffn.2` in DiffSynth's
names): every block's self- and cross-attention projections and both feed-forward layers, rank 16
and alpha 16 there; CoF-T2I does not publish its LoRA settings, so CoF uses the same. The image
cross-attention of Wan2.1's image-to-video model (`add_k_proj`, `add_v_proj`) is left as it is, as
the released code leaves it.

A pipeline trained with a LoRA is saved as its adapter (`transformer_lora/`, a few MB even over the
14B DiT) plus the path of the base checkpoint it adapts (`base_model` in `model_index.json`); the
adapter stays unfused when loaded, so it can be trained further and saved again as an adapter.
"""

from __future__ import annotations

from pathlib import Path

WAN_LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "ffn.net.0.proj", "ffn.net.2")
LORA_FOLDER = "transformer_lora"
LORA_WEIGHTS = "pytorch_lora_weights.safetensors"  # diffusers' name, so `load_lora_adapter` reads it as is


def add_lora(transformer, rank: int, alpha: float | None = None) -> int:
    """Freeze the DiT and give it a trainable LoRA of `rank` (alpha defaults to the rank, a scale of
    1, as the released ReasonDiff code); returns the number of trainable values."""
    from peft import LoraConfig

    if rank < 1:
        raise ValueError(f"LoRA rank {rank}: must be at least 1")
    if has_lora(transformer):
        raise ValueError("this DiT already carries a LoRA; train that one further instead of adding another")
    transformer.requires_grad_(False)
    transformer.add_adapter(LoraConfig(r=rank, lora_alpha=alpha or rank, target_modules=list(WAN_LORA_TARGETS), init_lora_weights=True))
    trainable = [p for p in transformer.parameters() if p.requires_grad]
    for p in trainable:  # fp32 adapters over a bf16 base, as the released code trains them
        p.data = p.data.float()
    return sum(p.numel() for p in trainable)


def has_lora(transformer) -> bool:
    return bool(getattr(transformer, "_hf_peft_config_loaded", False))


def lora_for_training(transformer, rank: int, alpha: float | None = None) -> bool:
    """What of the DiT a training run trains. `rank` > 0: a new LoRA, the rest frozen; returns True,
    as the run's pipeline becomes a LoRA over its start. A DiT that already carries an adapter trains
    that adapter alone, whatever was frozen before. Otherwise the DiT is left as it is."""
    if rank:
        add_lora(transformer, rank, alpha)
        return True
    if has_lora(transformer):
        for name, p in transformer.named_parameters():
            p.requires_grad_(".lora_" in name)
    return False


def save_lora(transformer, folder: Path) -> None:
    """The adapter as diffusers saves a pipeline's LoRA (keys under `transformer.`, rank and alpha in
    the metadata), so that `WanPipeline.load_lora_weights` reads the file as well."""
    from diffusers import WanPipeline
    from peft.utils import get_peft_model_state_dict

    config = transformer.peft_config["default"]
    WanPipeline.save_lora_weights(folder, transformer_lora_layers=get_peft_model_state_dict(transformer), weight_name=LORA_WEIGHTS,
                                  transformer_lora_adapter_metadata=config.to_dict())  # fmt: skip


def load_lora(transformer, folder: Path) -> None:
    """Put a saved adapter on the base DiT (unfused)."""
    if not (folder / LORA_WEIGHTS).is_file():
        raise FileNotFoundError(f"{folder}: no {LORA_WEIGHTS}; pass a pipeline folder written by a LoRA run")
    transformer.load_lora_adapter(folder, prefix="transformer", weight_name=LORA_WEIGHTS, use_safetensors=True, local_files_only=True,
                                  adapter_name="default")


def base_folder(path: Path, index: dict) -> Path:
    """The folder holding a pipeline's DiT weights: its own, or for a LoRA pipeline the base it
    adapts, which must still be where it was when the adapter was trained."""
    if "base_model" not in index:
        return path
    base = Path(index["base_model"])
    if not (base / "transformer").is_dir():
        raise FileNotFoundError(f"{path} is a LoRA over {base}, which has no transformer/ folder: put the base checkpoint "
                                f"back there, or set base_model in {path / 'model_index.json'} to where it is now")  # fmt: skip
    return base
