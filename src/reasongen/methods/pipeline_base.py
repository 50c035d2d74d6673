"""What every reasongen pipeline shares, on diffusers' `ConfigMixin`.

A pipeline's settings (sampler, steps, guidance, frames, ...) are checked against its `defaults` and
registered with `register_to_config`, so `pipe.config` is diffusers' frozen config (read as
`pipe.config["guidance_scale"]` or `pipe.config.guidance_scale`; change one with
`pipe.register_to_config(guidance_scale=7.0)`), and they are written to `model_index.json` beside
`_class_name` and `_diffusers_version`, as a diffusers pipeline's index is.

Loading stays with each pipeline rather than diffusers' `DiffusionPipeline.from_pretrained`: our
folders hold parts that its component loader cannot build from `[library, class]` pairs (a VAE
shared by several pipelines through `vae_folder`, the packaged MiniLM text encoder named rather
than copied, a LoRA's base folder, AlignFormer), so each pipeline reads its index with
`read_model_index` and passes `settings_in(index)` to its constructor.
"""

from __future__ import annotations

import json
from pathlib import Path

import diffusers
from diffusers.configuration_utils import ConfigMixin

from ..locks import write_atomic


class ReasongenPipeline(ConfigMixin):
    config_name = "model_index.json"
    defaults: dict = {}  # every setting the pipeline takes, with its default

    def register_settings(self, settings: dict) -> None:
        unknown = set(settings) - set(self.defaults)
        if unknown:
            raise ValueError(f"unknown {type(self).__name__} settings {sorted(unknown)}; known: {', '.join(self.defaults)}")
        self.register_to_config(**{**self.defaults, **settings})

    @classmethod
    def settings_in(cls, index: dict) -> dict:
        """The settings a saved `model_index.json` holds (its other entries describe the folder)."""
        return {k: v for k, v in index.items() if k in cls.defaults}

    def model_index(self, **entries) -> dict:
        """This pipeline's `model_index.json`: its class, the diffusers version, its settings and
        `entries` that describe the folder (text encoder kind, LoRA base, ...)."""
        return {"_class_name": type(self).__name__, "_diffusers_version": diffusers.__version__, **dict(self.config), **entries}

    @staticmethod
    def write_model_index(path: Path, index: dict) -> None:
        """Written last and atomically: a folder with an index is a complete one."""
        write_atomic(Path(path) / "model_index.json", json.dumps(index, indent=1) + "\n")
