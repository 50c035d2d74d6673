"""The reward experts by name, as `train t2i-r1 --rewards` and `eval rewards --rewards` take them, with
the folder each needs, checked before any work. Nothing heavy is imported here: the command line
reads the names when it starts.

ShapesWorld: `detector` and `attribute` read the rule-based detector (the evaluator's own);
`learned-detector` and `learned-attribute` the same rules over the learned detector (`--detector-model`,
from `reasongen train detector`), independent of the evaluator; `judge` the trained outcome judge
(`--judge`). Real scale: `gdino`, `vqa`, `orm`, `clip`, each from a local folder (`--expert-dir`).
"""

from __future__ import annotations

from pathlib import Path

# Real-scale reward experts: name -> (module under rewards/, class), each read from a local folder.
REAL_EXPERTS = {"gdino": ("grounding", "GroundingDinoReward"), "vqa": ("vqa", "VQAReward"),
                "orm": ("orm", "OutcomeReward"), "clip": ("clip", "ClipScoreReward")}  # fmt: skip
LEARNED_DETECTOR_EXPERTS = ("learned-detector", "learned-attribute")
SHAPES_EXPERTS = ("detector", "attribute", "judge") + LEARNED_DETECTOR_EXPERTS
ALL_EXPERTS = SHAPES_EXPERTS + tuple(REAL_EXPERTS)


def _is_model_folder(path) -> bool:
    return path is not None and (Path(path) / "config.json").is_file()


def check_experts(names, judge=None, detector_model=None, expert_dirs: dict | None = None) -> None:
    """Refuse, with a one-line ValueError, unknown names and an expert without the folder it reads."""
    expert_dirs = expert_dirs or {}
    unknown = [r for r in names if r not in ALL_EXPERTS]
    if unknown or not names:
        raise ValueError(f"--rewards {','.join(names)}: choose from {', '.join(ALL_EXPERTS)}, comma-separated")
    if set(expert_dirs) - set(REAL_EXPERTS):
        raise ValueError(f"--expert-dir {sorted(expert_dirs)}: give NAME=FOLDER with NAME one of "
                         f"{', '.join(REAL_EXPERTS)}")
    for name in REAL_EXPERTS:
        if name in names and name not in expert_dirs:
            raise ValueError(f"--rewards {name} needs --expert-dir {name}=FOLDER (a local transformers checkpoint)")
    if "judge" in names and not _is_model_folder(judge):
        raise ValueError(f"--rewards judge needs --judge DIR (a folder written by `reasongen train judge`), "
                         f"got {judge}")
    learned = [n for n in names if n in LEARNED_DETECTOR_EXPERTS]
    if learned and not _is_model_folder(detector_model):
        raise ValueError(f"--rewards {learned[0]} needs --detector-model DIR (a folder written by "
                         f"`reasongen train detector`: RUN/detector), got {detector_model}")


def build_experts(names, judge=None, detector_model=None, expert_dirs: dict | None = None, device: str = "cpu") -> dict:
    """The named experts, name -> reward; the learned detector is loaded once for both its experts.
    Real-scale experts and the learned detector run on `device`; the judge on the CPU."""
    import importlib

    from .shapes import AttributeReward, DetectorReward

    check_experts(names, judge, detector_model, expert_dirs)
    learned = None

    def build(name):
        nonlocal learned
        if name in ("detector", "attribute"):
            return DetectorReward() if name == "detector" else AttributeReward()
        if name in LEARNED_DETECTOR_EXPERTS:
            if learned is None:
                from .learned_detector import load_detector

                learned = load_detector(detector_model, device=device)
            return DetectorReward(learned) if name == "learned-detector" else AttributeReward(learned)
        if name == "judge":
            from .judge import load_judge

            return load_judge(judge)
        module, cls = REAL_EXPERTS[name]
        return getattr(importlib.import_module(f"reasongen.rewards.{module}"), cls)(expert_dirs[name], device=device)

    return {name: build(name) for name in names}
