"""How long scoring the 2,212 images of shapes-geneval takes with the ShapesWorld detector.

Renders the oracle samples (4 per prompt) into a temporary folder, untimed, then times
`evaluate_folder` (layout checks, PNG decoding, detection, GenEval's rules) with one worker (the
baseline) and with `--workers` workers, in the same run.

    python benchmarks/bench_eval_geneval.py --size 64 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

from reasongen.eval.layout import read_metadata
from reasongen.eval.run import evaluate_folder
from reasongen.methods import get_generator
from reasongen.methods.sampling import write_geneval_samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args()

    gen = get_generator("oracle", size=args.size)
    records = read_metadata("shapes-geneval", gen.classes, gen.colors)
    with tempfile.TemporaryDirectory() as tmp:
        write_geneval_samples(records, gen, tmp, n=4, progress=False)
        timings = {}
        for workers in sorted({1, args.workers}):
            start = time.perf_counter()
            rows, summary = evaluate_folder(tmp, workers=workers, progress=False)
            timings[workers] = time.perf_counter() - start
    result = {
        "images": len(rows),
        "size": args.size,
        "overall": summary["overall"],
        "seconds": {str(w): round(t, 2) for w, t in timings.items()},
        "images_per_second": {str(w): round(len(rows) / t, 1) for w, t in timings.items()},
        "speedup_vs_1_worker": round(timings[1] / timings[args.workers], 2),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
