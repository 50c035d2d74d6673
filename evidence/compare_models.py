"""Do two model folders of one method draw the same? Pixels and the ShapesWorld evaluator's verdicts.

Used to check that storing the shipped weights in fp16 (and decoding through the shared VAE) keeps
what the models draw: each image method draws the first N shapes-geneval prompts (one seed each)
with both folders; ReasonDiff draws N unpaired video cases with the world's narrator.

    python evidence/compare_models.py --method cof --a OLD_FOLDER --b NEW_FOLDER --n 40
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch


def image_method(method: str, folder: str, records: list[dict]) -> list[np.ndarray]:
    from reasongen.methods import get_generator
    from reasongen.methods.sampling import sample_seeds

    gen = get_generator(method, model=folder)
    return [gen(meta, sample_seeds(0, i, 1))[0] for i, meta in enumerate(records)]


def reasondiff(folder: str, n: int) -> list[np.ndarray]:
    from reasongen.methods.reasondiff.bench import make_narrator
    from reasongen.world.benchmarks import read_video_cases
    from reasongen.methods.reasondiff.pipeline import ReasonDiffPipeline

    pipe = ReasonDiffPipeline.from_pretrained(folder)
    narrate = make_narrator("world")
    cases = read_video_cases("shapes-video-unpaired")[:n]
    out = []
    for i, case in enumerate(cases):
        clip = pipe(case.image(), narrate(case), generator=torch.Generator().manual_seed(i)).frames
        out.append(np.asarray(clip))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", required=True, choices=["cof", "fox", "t2i-r1", "reasondiff"])
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--n", type=int, default=40)
    args = ap.parse_args()
    if args.method == "reasondiff":
        a, b = reasondiff(args.a, args.n), reasondiff(args.b, args.n)
        verdicts = None
    else:
        from reasongen.eval.run import score_image
        from reasongen.eval.shapes_detector import ShapesDetector
        from reasongen.world.benchmarks import shipped_path

        records = [json.loads(line) for line in shipped_path("shapes-geneval").read_text().splitlines()][: args.n]
        a, b = image_method(args.method, args.a, records), image_method(args.method, args.b, records)
        det = ShapesDetector()
        va = [score_image(det, x, m)["correct"] for x, m in zip(a, records)]
        vb = [score_image(det, x, m)["correct"] for x, m in zip(b, records)]
        verdicts = {"same_verdict": sum(x == y for x, y in zip(va, vb)), "correct_a": sum(va), "correct_b": sum(vb)}
    diff = [np.abs(x.astype(np.int16) - y.astype(np.int16)) for x, y in zip(a, b)]
    print(json.dumps({"method": args.method, "n": len(a), "mean_abs_pixel_diff": float(np.mean([d.mean() for d in diff])),
                      "max_abs_pixel_diff": int(max(d.max() for d in diff)),
                      "identical": sum(int(d.max() == 0) for d in diff), **(verdicts or {})}))


if __name__ == "__main__":
    main()
