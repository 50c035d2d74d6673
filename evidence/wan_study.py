"""The shapes-wan recipe study's table and figure, from its run folders and evaluation results.

For each arm: its options (what differs from the default recipe), steps and images seen in its
budget, images per second of wall time (the median logged step), the loss over its last 50 steps,
and shapes-geneval overall, per tag and on seen / unseen compositions, then the partial credit the
ShapesWorld detector gives below GenEval's all-or-nothing rules (of the classes and colours a prompt
names, the share the image shows), which still separates arms that GenEval scores near 0 alike. The figure puts every arm's
loss curve against images seen beside the scores.

    python evidence/wan_study.py runs/study out/study --figure docs/img/wan-study.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from reasongen.methods.wan.train import WanTrainConfig

DEFAULTS = {k: v for k, v in WanTrainConfig("", "").__dict__.items()}
SKIP = {"data", "output_dir", "time_budget", "budget_clock", "init_from", "extra", "compile", "mixed_precision", "steps"}
TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")


def arm(run: Path, results: Path) -> dict | None:
    cfg = json.loads((run / "wan_config.json").read_text())
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    score_path = results / f"{run.name}.json"
    if not rows or not score_path.is_file():
        return None
    score = json.loads(score_path.read_text())
    steps = rows[-1]["step"]
    tail = [r["loss"] for r in rows if r["step"] > steps - 50]
    return {
        "name": run.name, "cfg": cfg, "rows": rows, "score": score, "steps": steps, "seen": steps * cfg["batch_size"],
        "per_s": cfg["batch_size"] / float(np.median([r["sec_per_step"] for r in rows[1:]] or [rows[0]["sec_per_step"]])),
        "loss": float(np.mean(tail)),
        "options": ", ".join(f"{k} {cfg[k]}" for k in cfg if k not in SKIP and k in DEFAULTS and cfg[k] != DEFAULTS[k]) or "the default recipe",
    }  # fmt: skip


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", type=Path, help="the folder of the arms' run folders")
    ap.add_argument("results", type=Path, help="the folder of their eval results (NAME.json)")
    ap.add_argument("--figure", type=Path)
    args = ap.parse_args()
    arms = [a for a in (arm(r, args.results) for r in sorted(args.runs.iterdir()) if (r / "wan_config.json").is_file()) if a]
    print("| arm | options | steps | images seen | images/s | last loss | overall | " + " | ".join(TAGS) + " | seen | unseen | class shown | colour shown |")
    print("| --- " * (12 + len(TAGS)) + "|")
    for a in arms:
        s = a["score"]
        comp = s.get("compositions", {})
        print(f"| {a['name']} | {a['options']} | {a['steps']:,} | {a['seen']:,} | {a['per_s']:.1f} | {a['loss']:.4f} | "
              f"**{s['overall']:.3f}** | " + " | ".join(f"{s['tags'].get(t, float('nan')):.3f}" for t in TAGS)
              + f" | {comp.get('seen', {}).get('overall', float('nan')):.3f} | {comp.get('unseen', {}).get('overall', float('nan')):.3f} | "
              + " | ".join(f"{s.get('partial', {}).get(k, float('nan')):.3f}" for k in ("class", "colour")) + " |")  # fmt: skip
    if args.figure and arms:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        for a in arms:
            x = np.array([r["step"] * a["cfg"]["batch_size"] for r in a["rows"]])
            y = np.convolve([r["loss"] for r in a["rows"]], np.ones(5) / 5, mode="valid")  # no padded ends
            left.plot(x[2 : 2 + len(y)], y, label=a["name"])
        left.set(xlabel="training images seen", ylabel="flow loss (5-record mean)", yscale="log", title="training loss, equal images per arm")
        left.legend(fontsize=8)
        names = [a["name"] for a in arms]
        right.barh(names, [a["score"]["overall"] for a in arms], color="tab:blue")
        for i, a in enumerate(arms):
            right.text(a["score"]["overall"], i, f" {a['score']['overall']:.3f}", va="center", fontsize=8)
        right.set(xlabel="shapes-geneval overall (4 images per prompt)", title="score at the end of each arm")
        right.invert_yaxis()
        fig.tight_layout()
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure, dpi=110)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
