"""The settings of `shapes-wan` pretraining (`train.py`), each with its command-line help.

A field's `help` is what `reasongen train wan --help` shows: the command's options are generated
from these fields (`cli/common.py: config_options`), so a setting is declared once; fields without
one (the preset, the VAE, prompt dropout, logging) are the Python API's only. `path`: given as a path
on the command line. What the papers leave to the scale (patch size, width and depth, learning rate,
noise-level sampling and loss weighting, batch, curriculum, the text side) is a field, so the recipe
study (docs/foundation.md) runs every arm through one function. This module imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _help(text: str, **more) -> dict:
    return {"help": text, **more}


@dataclass
class WanTrainConfig:
    data: str = field(metadata=_help("Folder from `reasongen wan data`.", path=True))
    output_dir: str = field(metadata=_help("Run folder: checkpoints/, log.jsonl, wan_config.json, pipeline/.", path=True))
    preset: str = "shapes"
    patch: int = field(default=2, metadata=_help("Spatial patch on the latents: 2 (64 tokens) or 1 (256 tokens)."))
    num_layers: int | None = field(default=None, metadata=_help("Transformer blocks (default: the preset's)."))
    num_heads: int | None = field(default=None, metadata=_help("Attention heads (default: the preset's)."))
    head_dim: int | None = field(default=None, metadata=_help("Width of a head (default: the preset's)."))
    ffn_dim: int | None = field(default=None, metadata=_help("Feed-forward width (default: the preset's)."))
    steps: int = field(default=1_000_000, metadata=_help("Steps of the whole run (an upper bound when legs end on time)."))
    time_budget: float | None = None  # seconds for this leg (the command takes minutes)
    budget_clock: str = "wall"  # "cpu": count the budget in the process's CPU seconds
    batch_size: int = field(default=64, metadata=_help("Global batch."))
    lr: float = field(default=1e-3, metadata=_help("Peak learning rate (AdamW)."))
    warmup_steps: int = field(default=200, metadata=_help("Linear warm-up steps."))
    lr_decay: str = field(default="constant", metadata=_help("constant or cosine (over --steps)."))
    cooldown_steps: int = field(default=0, metadata=_help(
        "The last N of --steps cool the rate down to zero (1 - sqrt). --steps and this may change between legs, so a cool-down "
        "can branch off a copy of a long run's folder."))
    timesteps: str = field(default="logit_normal", metadata=_help("Noise-level sampling: logit_normal or uniform."))
    weighting: str = field(default="object", metadata=_help(
        "Loss weighting: object (latent cells an object covers weigh --object-weight), none or min_snr."))
    object_weight: float = field(default=4.0, metadata=_help(
        "With --weighting object: the weight of latent cells an object covers (ground: 1)."))
    curriculum_steps: int = field(default=0, metadata=_help("First train this many steps on one-object scenes."))
    clips: str | None = field(default=None, metadata=_help(
        "Clips folder from `reasongen wan data --clips N`: train text-to-video beside text-to-image (with --clips-per-step). "
        "It and --clips-per-step may change between legs, so clips can join an image run.", path=True))
    clips_per_step: int = field(default=0, metadata=_help(
        "With --clips: clips added to each step's image batch (on each process), e.g. 2; the loss is the image loss plus the clip loss."))
    drop_prob: float = 0.1  # prompts dropped for classifier-free guidance
    ema_decay: float | None = field(default=0.999, metadata=_help("EMA decay of the saved weights.", flag="--ema"))
    mixed_precision: str = field(default="bf16", metadata=_help("no or bf16 (autocast). It and --compile may change between legs (the machine may)."))
    compile: bool = field(default=False, metadata=_help("torch.compile the DiT's forward.", flag="--compile/--no-compile"))
    seed: int = field(default=0, metadata=_help("Seed."))
    checkpoint_every: int = field(default=250, metadata=_help("Checkpoint every N steps."))
    log_every: int = 10
    vae: str | None = None  # None: the shipped ShapesWorld VAE
    init_from: str | None = field(default=None, metadata=_help(
        "A saved pipeline to start from when --output-dir has no checkpoint (a warm restart after the run folder was lost: weights "
        "kept, optimiser afresh, logged). With a larger --num-layers the model grows: the saved blocks first, the added ones "
        "starting as identities.", path=True))
    text_encoder: str = field(default="minilm", metadata=_help(
        "minilm (the frozen embedded MiniLM) or words (ShapesWorld's own word encoder, trained with the DiT and saved in the pipeline)."))
    text_max_length: int = field(default=64, metadata=_help(
        "Text positions the DiT attends to (the world's prompts are at most 11 word tokens)."))
    extra: dict = field(default_factory=dict)

    def check(self) -> None:
        """Refuse a setting the run could not use, before anything is written."""
        if self.patch not in (1, 2):
            raise ValueError(f"--patch {self.patch}: use 1 or 2 (the latents are 16 x 16)")
        if self.text_encoder not in ("minilm", "words"):
            raise ValueError(f"unknown text encoder {self.text_encoder!r}; use minilm (frozen) or words (trained with the DiT)")
        if self.weighting not in ("none", "min_snr", "object"):
            raise ValueError(f"unknown loss weighting {self.weighting!r}; use none, min_snr or object")
        if not 0 <= self.cooldown_steps <= self.steps:
            raise ValueError(f"--cooldown-steps {self.cooldown_steps}: give 0 to --steps ({self.steps})")
        if (self.clips is None) != (self.clips_per_step == 0) or self.clips_per_step < 0:
            raise ValueError(f"--clips {self.clips} --clips-per-step {self.clips_per_step}: give both (a clips folder and 1 or more "
                             "clips a step) or neither")  # fmt: skip
        if not 1 <= self.text_max_length <= 512:
            raise ValueError(f"text_max_length {self.text_max_length}: give 1 to 512 text positions")

    def transformer_overrides(self) -> dict:
        o = {"patch_size": (1, self.patch, self.patch)}
        for key, name in (("num_layers", "num_layers"), ("num_heads", "num_attention_heads"),
                          ("head_dim", "attention_head_dim"), ("ffn_dim", "ffn_dim")):  # fmt: skip
            if getattr(self, key) is not None:
                o[name] = getattr(self, key)
        return o
