"""Group-relative policy optimisation (GRPO), written once for any generator that can sample and
score its own samples, as T2I-R1's official trainer does it (BiCoT-GRPO).

A policy implements two methods:

- `rollout(prompts, group_size, generator) -> Rollout`: `group_size` samples for each prompt, drawn
  without gradients, each with the images a reward reads (and whatever the policy needs later);
- `log_probs(rollout) -> (logp, mask)`: the per-token log-probabilities (N, T) of the sampled tokens
  under the current weights, with gradients, and the mask (N, T) of the tokens that count. A
  policy with two levels (T2I-R1's CoT tokens then image tokens) concatenates them here, so one
  loss trains both.

One GRPO step: rollout -> rewards -> advantages inside each group, A = (R - mean) / (std + 1e-4)
(unbiased std, as torch.std) -> per-token loss -(r A) + beta KL, with r = exp(logp - logp_old) and
KL the k3 estimator exp(ref - logp) - (ref - logp) - 1 against a frozen reference, averaged over
every counted token of the batch (the official "token mean": long image-token sequences weigh more
than short CoTs). With one inner iteration (the official setting) logp_old is logp itself
(detached), so r = 1 in value and the gradient is the plain policy gradient; with several,
PPO's clipping by `clip_eps` applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch


@dataclass
class Rollout:
    prompts: list[str]  # one per sample (each prompt repeated group_size times, groups contiguous)
    group_size: int
    images: list[Any]  # what the rewards read, one per sample
    data: dict = field(default_factory=dict)  # the policy's own record of what it sampled
    texts: list[str] | None = None  # a sample's text (e.g. its CoT), for logs and rewards
    metadata: list[dict] | None = None  # each sample's prompt record, for rewards that read it

    def __len__(self) -> int:
        return len(self.prompts)


class Policy(Protocol):
    def rollout(self, prompts: list[str], group_size: int, generator: torch.Generator) -> Rollout: ...
    def log_probs(self, rollout: Rollout) -> tuple[torch.Tensor, torch.Tensor]: ...


def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-4) -> torch.Tensor:
    """(R - group mean) / (group std + eps) for rewards laid out group after group."""
    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    if group_size < 2:
        raise ValueError(f"group size {group_size}: GRPO needs at least 2 samples per prompt to compare")
    r = rewards.float().view(-1, group_size)
    return ((r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + eps)).view(-1)


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """The k3 estimator of KL(policy || reference) per token: exp(d) - d - 1 with d = ref - logp (>= 0)."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1


def grpo_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor | None, mask: torch.Tensor,
              advantages: torch.Tensor, beta: float = 0.01, clip_eps: float | None = None) -> tuple[torch.Tensor, dict]:  # fmt: skip
    """The token-mean GRPO loss over (N, T) log-probs; `advantages` (N,) is one scalar per sample."""
    mask = mask.float()
    ratio = torch.exp(logp - old_logp)
    adv = advantages[:, None].to(logp)
    pg = -ratio * adv
    if clip_eps is not None:
        pg = torch.maximum(pg, -torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv)
    per_token = pg
    kl = torch.zeros_like(logp)
    if ref_logp is not None and beta:
        kl = k3_kl(logp, ref_logp)
        per_token = per_token + beta * kl
    denom = mask.sum().clamp(min=1)
    loss = (per_token * mask).sum() / denom
    stats = {"kl": float((kl.detach() * mask).sum() / denom),
             "clipped": float((((ratio - 1).abs() > clip_eps).float() * mask).sum() / denom) if clip_eps else 0.0}  # fmt: skip
    return loss, stats


class GRPOTask:
    """GRPO as a task of the project's training loop (`train/loop.py`): a batch is a list of prompts,
    or of GenEval-style records (dicts with "prompt") that rewards then receive as metadata; each
    loop step is one optimiser step. With `inner_iterations` = mu > 1, a rollout is drawn at every
    mu-th step and reused by the next mu - 1 steps (PPO-style, clipped); checkpoints must then fall on
    multiples of mu so that a resumed run draws its rollout afresh.

    `reward_fn(images, prompts, metadata) -> (rewards (N,), {name: mean})`, e.g. a `RewardEnsemble`.
    `reference` is a frozen copy of the initial policy (None, or beta = 0: no KL term)."""

    def __init__(self, policy_of, reward_fn, group_size: int = 8, beta: float = 0.01, reference=None,
                 inner_iterations: int = 1, clip_eps: float = 0.2):  # fmt: skip
        if group_size < 2:
            raise ValueError(f"group_size {group_size}: GRPO compares samples within a group; use 2 or more")
        if inner_iterations < 1:
            raise ValueError(f"inner_iterations {inner_iterations}: use 1 (on-policy, the official setting) or more")
        self.policy_of, self.reward_fn, self.group_size, self.beta = policy_of, reward_fn, group_size, beta
        self.reference, self.inner_iterations, self.clip_eps = reference, inner_iterations, clip_eps
        self.step, self._cached = 0, None

    def set_step(self, step: int) -> None:
        self.step = step

    def loss(self, model, batch, generator):
        policy = self.policy_of(model)
        fresh = self._cached is None or self.step % self.inner_iterations == 0
        if fresh:
            records = list(batch)
            prompts = [r["prompt"] if isinstance(r, dict) else r for r in records]
            with torch.no_grad():
                rollout = policy.rollout(prompts, self.group_size, generator)
                if isinstance(records[0], dict):
                    rollout.metadata = [r for r in records for _ in range(self.group_size)]
                rewards, reward_logs = self.reward_fn(rollout.images, rollout.prompts, rollout.metadata)
                rewards = torch.as_tensor(rewards, dtype=torch.float32)
                adv = group_advantages(rewards, self.group_size)
                ref_logp = None
                if self.reference is not None and self.beta:
                    ref_logp = self.reference.log_probs(rollout)[0].detach()
            self._cached = dict(rollout=rollout, rewards=rewards, adv=adv, ref=ref_logp, logs=reward_logs, old=None)
        c = self._cached
        logp, mask = policy.log_probs(c["rollout"])
        if c["old"] is None or self.inner_iterations == 1:
            c["old"] = logp.detach()
        clip = self.clip_eps if self.inner_iterations > 1 else None
        loss, stats = grpo_loss(logp, c["old"], c["ref"], mask, c["adv"].to(logp.device), self.beta, clip)
        logs = {"reward": float(c["rewards"].mean()), "reward_std": float(c["rewards"].std()), **c["logs"], **stats}
        return loss, logs
