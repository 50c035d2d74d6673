"""Does a sampled clip show the condition image at the very frame the narrator chose, or at a
neighbour? Frame-packed latents hold four frames per latent frame, so a model that knows only the
anchor's latent frame draws the image somewhere among those four.

Per case, over the pixels where the condition image is not background: the mean absolute error of
each frame of the anchor's latent frame against the image. It reports how often the anchor itself is
the closest of them or ties with it (1/4 by chance for anchors past frame 0; frame 0 is alone in its
latent frame, so it always counts), the mean distance from the anchor to the closest, the error at
the anchor, and (anchors past frame 0) the mean error at the other three frames of its latent frame:
in the true clips those differ from the image by a step of the event, so a model that draws the
event frame by frame shows them further off than the anchor.

    python evidence/anchor_frame_offset.py out/rd1-oracle out/rd1-world

With `--pairs DIR` (a folder from `reasongen reasondiff data`) it also says how often a training
pair's condition image is, pixel for pixel, its anchor frame, per stride: the rest show a state
between two kept frames (the paper's widened intervals).

    python evidence/anchor_frame_offset.py out/rd1b-world --pairs runs/rd-data-packed
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from reasongen.methods.reasondiff.bench import read_strip
from reasongen.world.benchmarks import read_video_cases
from reasongen.methods.reasondiff.data import latent_index

TEMPORAL = 4


def folder_offsets(folder: Path) -> dict:
    cases = read_video_cases(json.loads((folder / "info.json").read_text())["benchmark"])
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    hits, offsets, errors, neighbours = [], [], [], []
    for r in records:
        case, anchor = cases[r["index"]], r["anchor"]
        frames = read_strip(folder / f"{r['index']:04d}.png", len(case.clip)).astype(np.float32) / 255
        want = case.image(frames.shape[1]).astype(np.float32) / 255
        objects = np.abs(want - want[0, 0]).max(-1) > 0.1  # off the background (a corner is background)
        if not objects.any():
            continue
        latent = latent_index(anchor, TEMPORAL)
        group = [0] if latent == 0 else list(range(TEMPORAL * latent - TEMPORAL + 1, TEMPORAL * latent + 1))
        error = {f: float(np.abs(frames[f] - want)[objects].mean()) for f in group}
        closest = [f for f in group if error[f] <= min(error.values()) + 1e-6]  # ties: a state that lasts
        hits.append(anchor in closest)
        offsets.append(min(abs(f - anchor) for f in closest))
        errors.append(error[anchor])
        if anchor:
            neighbours.append(np.mean([error[f] for f in group if f != anchor]))
    return {"cases": len(hits), "anchor_closest": float(np.mean(hits)), "mean_offset": float(np.mean(offsets)),
            "error_at_anchor": float(np.mean(errors)), "error_at_neighbours": float(np.mean(neighbours))}  # fmt: skip


def pairs_on_frame(data: Path) -> dict:
    from safetensors import safe_open

    meta = json.loads((data / "pairs.json").read_text())
    anchors, strides = np.array(meta["anchors"]), np.array(meta["strides"])
    with safe_open(data / "pairs.safetensors", "pt") as f:  # one frame a pair, not every clip's frames
        frames, condition = f.get_slice("frames"), f.get_tensor("condition").numpy()
        same = np.array([np.array_equal(frames[i, int(a)].numpy(), condition[i]) for i, a in enumerate(anchors)])
    return {"all": (float(same.mean()), len(same)), **{f"stride {k}": (float(same[strides == k].mean()), int((strides == k).sum()))
                                                          for k in sorted(set(strides.tolist()))}}  # fmt: skip


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="+", type=Path, help="Folders written by `reasongen sample video`.")
    ap.add_argument("--pairs", type=Path, help="A training-data folder: how often the condition image is its anchor frame.")
    args = ap.parse_args()
    if args.pairs:
        print(f"training pairs whose condition image is its anchor frame ({args.pairs.name}):")
        for name, (share, n) in pairs_on_frame(args.pairs).items():
            print(f"  {name}: {share:.3f} of {n}")
    print("| folder | cases | anchor is the closest frame | mean offset (frames) | object-pixel error at the anchor | at its latent frame's other frames |")
    print("| --- | --- | --- | --- | --- | --- |")
    for folder in args.folders:
        r = folder_offsets(folder)
        print(f"| {folder.name} | {r['cases']} | {r['anchor_closest']:.3f} | {r['mean_offset']:.2f} | {r['error_at_anchor']:.3f} | {r['error_at_neighbours']:.3f} |")


if __name__ == "__main__":
    main()
