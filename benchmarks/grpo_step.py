"""Time and peak memory of one BiCoT-GRPO step (T2I-R1) on ShapesWorld, split into sampling (G CoTs
and G images per prompt), reward (the ensemble) and update (log-probs of policy and reference,
backward, AdamW), as `reasongen train t2i-r1 --stage grpo` runs it.

    python benchmarks/grpo_step.py --model runs/bicot-sft/pipeline [--prompts 4] [--group 8] [--steps 3]

With no --model the `shapes` preset is built with random weights: the update and reward costs are the
same, but an untrained model writes CoTs of arbitrary length, so sampling times differ. Peak memory
is the process's peak resident set (ru_maxrss) after each phase, which only grows.
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import statistics
import time

import torch

from reasongen.backbones.janus import JanusT2I, build_janus
from reasongen.backbones.text import shapes_tokenizer
from reasongen.methods.t2i_r1.format import SequenceFormat
from reasongen.methods.t2i_r1.policy import BiCoTPolicy
from reasongen.rewards import RewardEnsemble
from reasongen.rewards.shapes import AttributeReward, DetectorReward
from reasongen.rl.grpo import group_advantages, grpo_loss
from reasongen.world.benchmarks import shipped_path


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None, help="a BiCoT pipeline folder (default: the shapes preset, random weights)")
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    if args.model:
        from reasongen.methods.t2i_r1.pipeline import T2IR1Pipeline

        pipe = T2IR1Pipeline.from_pretrained(args.model)
        model, tokenizer, kind = pipe.model, pipe.tokenizer, pipe.config["format"]
    else:
        tokenizer, kind = shapes_tokenizer(), "plain"
        model = build_janus("shapes", tokenizer)
    fmt = SequenceFormat(tokenizer, kind)
    for part in ("vqmodel", "vision_model", "aligner", "generation_embeddings", "generation_aligner", "generation_head"):
        getattr(model.model, part).requires_grad_(False)
    reference = BiCoTPolicy(JanusT2I(copy.deepcopy(model).eval(), tokenizer), fmt)
    policy = BiCoTPolicy(JanusT2I(model, tokenizer), fmt)
    rewards = RewardEnsemble({"detector": DetectorReward(), "attribute": AttributeReward()})
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    records = [json.loads(line) for line in shipped_path("shapes-geneval").read_text().splitlines()[: args.prompts]]
    times = {"sampling": [], "reward": [], "update": []}
    memory = {}
    g = torch.Generator().manual_seed(0)
    for _ in range(args.steps):
        t0 = time.perf_counter()
        with torch.no_grad():
            rollout = policy.rollout([r["prompt"] for r in records], args.group, g)
        rollout.metadata = [r for r in records for _ in range(args.group)]
        t1 = time.perf_counter()
        memory["sampling"] = peak_mib()
        scores, _ = rewards(rollout.images, rollout.prompts, rollout.metadata)
        adv = group_advantages(torch.as_tensor(scores, dtype=torch.float32), args.group)
        t2 = time.perf_counter()
        memory["reward"] = peak_mib()
        with torch.no_grad():
            ref = reference.log_probs(rollout)[0]
        logp, mask = policy.log_probs(rollout)
        loss, _ = grpo_loss(logp, logp.detach(), ref, mask, adv, 0.01, None)
        loss.backward()
        opt.step()
        opt.zero_grad()
        t3 = time.perf_counter()
        memory["update"] = peak_mib()
        for k, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
            times[k].append(dt)
    n = args.prompts * args.group
    print(f"GRPO step, {args.prompts} prompts x {args.group} samples = {n}, {torch.get_num_threads()} threads, "
          f"{'model ' + args.model if args.model else 'shapes preset, random weights'}; median of {args.steps} steps:")  # fmt: skip
    for k, ts in times.items():
        print(f"  {k:9s} {statistics.median(ts):6.2f} s   peak RSS after it {memory[k]:7.0f} MiB")
    print(f"  total     {sum(statistics.median(ts) for ts in times.values()):6.2f} s")


if __name__ == "__main__":
    main()
