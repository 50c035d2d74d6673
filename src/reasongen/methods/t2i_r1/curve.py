"""Reward curves of GRPO runs beside an independent score, so that reward hacking would show.

The training reward is read from a run's `log.jsonl`. The independent score is `shapes-geneval` (or
any metadata file) sampled from each kept checkpoint of the run and scored by the evaluator, a
different judge from the reward experts that trained it; its prompts of held-out compositions, which
no training record and so no GRPO prompt holds, are drawn apart (dashed). Step 0 is the model the run
started from.
Scores are cached in `RUN/curve/scores.json`, and samples in `RUN/curve/step-XXXXXXXX/`, so rerunning
after more checkpoints only samples the new ones.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file

from ...locks import write_atomic
from ...train.checkpoint import STEP_DIR, list_checkpoints


def read_log(run: str | Path) -> list[dict]:
    path = Path(run) / "log.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training log; pass a folder written by `reasongen train t2i-r1 --stage grpo`")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def checkpoint_scores(run: str | Path, init_from: str | Path, metadata: str = "shapes-geneval", n: int = 1, seed: int = 0,
                      cot: bool | None = None, progress: bool = True, start: dict | None = None) -> dict[int, dict]:  # fmt: skip
    """{step: evaluator summary} for step 0 (`init_from`) and every checkpoint kept under RUN/checkpoints.
    `start`, step 0's summary from another run with the same start and settings, saves sampling it again
    (sampling is seeded, so it would come out the same)."""
    from ...eval.layout import read_metadata
    from ...eval.run import evaluate_folder
    from ..sampling import write_geneval_samples
    from . import T2IR1Generator

    run = Path(run)
    cache_path = run / "curve" / "scores.json"
    key = {"init_from": str(init_from), "metadata": str(metadata), "n": n, "seed": seed, "cot": cot}
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    if cache.get("key") != key:
        cache = {"key": key, "scores": {}}
    if start is not None:
        cache["scores"].setdefault("0", start)
    points = [(0, None)] + [(int(STEP_DIR.fullmatch(p.name).group(1)), p) for p in list_checkpoints(run / "checkpoints")]
    for step, ckpt in points:
        if str(step) in cache["scores"]:
            continue
        generator = T2IR1Generator(str(init_from), cot=cot)
        if ckpt is not None:
            missing, unexpected = generator.pipe.model.load_state_dict(load_file(ckpt / "model.safetensors"), strict=False)
            if unexpected:
                raise ValueError(f"{ckpt}: weights {unexpected[:3]}... are not in {init_from}; is it the model this run started from?")
        records = read_metadata(metadata, generator.classes, generator.colors)
        outdir = run / "curve" / f"step-{step:08d}"
        write_geneval_samples(records, generator, outdir, n=n, seed=seed, progress=progress)
        _, summary = evaluate_folder(outdir, progress=progress)
        cache["scores"][str(step)] = summary
        write_atomic(cache_path, json.dumps(cache, indent=1) + "\n")  # a killed run never leaves a cache it cannot read
    return {int(k): v for k, v in cache["scores"].items()}


def run_curves(runs: list[str | Path], init_from: str | Path, metadata: str = "shapes-geneval", n: int = 1,
               labels: list[str] | None = None, seed: int = 0, say=print) -> dict[str, dict]:  # fmt: skip
    """{label: {"log": training log, "scores": checkpoint_scores}} for GRPO runs that all started from
    `init_from` (step 0 is sampled once); each run's scores are said as they come."""
    curves, start = {}, None
    for run, name in zip(runs, labels or [Path(r).name for r in runs]):
        scores = checkpoint_scores(run, init_from, metadata, n, seed, start=start)
        start = scores[0]  # every run starts from --init-from: sample step 0 once
        curves[name] = {"log": read_log(run), "scores": scores}
        say(f"{name}: " + ", ".join(f"step {s} {v['overall']:.3f}" + (f" (unseen {u:.3f})" if (u := unseen(v)) is not None else "")
                                    for s, v in sorted(scores.items())))  # fmt: skip
    return curves


def unseen(summary: dict) -> float | None:
    """The score on the held-out compositions' prompts, where the benchmark has any."""
    part = summary.get("compositions", {}).get("unseen")
    return None if part is None else part["overall"]


def plot_curves(runs: dict[str, dict], out: str | Path) -> Path:
    """One figure: the training reward of each run (left) and its independent score per checkpoint
    (right). `runs` maps a label to {"log": [...], "scores": {step: summary}}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, run in runs.items():
        steps = [r["step"] for r in run["log"]]
        left.plot(steps, [r["reward"] for r in run["log"]], label=label)
        points = sorted(run["scores"].items())
        line = right.plot([s for s, _ in points], [v["overall"] for _, v in points], marker="o", label=label)[0]
        held = [(s, unseen(v)) for s, v in points if unseen(v) is not None]
        if held:
            right.plot([s for s, _ in held], [u for _, u in held], marker="x", linestyle="--", color=line.get_color(),
                       label=f"{label}: unseen compositions")  # fmt: skip
    left.set(xlabel="GRPO step", ylabel="training reward (mean of 10 steps)", title="reward the run optimises")
    right.set(xlabel="GRPO step", ylabel="overall score", title="independent: the evaluator on a benchmark")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
