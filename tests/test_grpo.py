import json

import pytest
import torch

from reasongen.rl.grpo import GRPOTask, Rollout, grpo_loss, group_advantages, k3_kl
from reasongen.train.loop import TrainConfig, train


def test_group_advantages_are_normalised_inside_each_group():
    r = torch.tensor([1.0, 2.0, 3.0, 5.0, 5.0, 5.0])
    a = group_advantages(r, 3)
    torch.testing.assert_close(a[:3], torch.tensor([-1.0, 0.0, 1.0]) / (1.0 + 1e-4))
    torch.testing.assert_close(a[3:], torch.zeros(3))  # a group that agrees teaches nothing
    with pytest.raises(ValueError, match="groups of 4"):
        group_advantages(r, 4)
    with pytest.raises(ValueError, match="at least 2"):
        group_advantages(r, 1)


def test_k3_is_nonnegative_and_zero_at_the_reference():
    logp = torch.randn(100)
    assert (k3_kl(logp, logp) == 0).all()
    assert (k3_kl(logp, logp + torch.randn(100)) >= 0).all()


def test_on_policy_loss_is_the_token_mean_policy_gradient():
    logp = torch.log(torch.tensor([[0.5, 0.2, 0.9], [0.3, 0.6, 0.1]])).requires_grad_()
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    adv = torch.tensor([1.0, -2.0])
    loss, stats = grpo_loss(logp, logp.detach(), None, mask, adv, beta=0.0)
    loss.backward()
    expected = -(adv[:, None] * mask) / mask.sum()
    torch.testing.assert_close(logp.grad, expected)
    assert stats["kl"] == 0.0


def test_clipping_stops_the_gradient_beyond_the_trust_region():
    old = torch.zeros(1, 2)
    logp = torch.tensor([[0.5, 0.05]], requires_grad=True)  # ratios e^0.5 (clipped at 1.2) and e^0.05
    loss, stats = grpo_loss(logp, old, None, torch.ones(1, 2), torch.tensor([1.0]), beta=0.0, clip_eps=0.2)
    loss.backward()
    assert logp.grad[0, 0] == 0 and logp.grad[0, 1] < 0
    assert stats["clipped"] == 0.5


class ToyPolicy(torch.nn.Module):
    """Independent categorical tokens; a rollout is T tokens per sample, its image the token list."""

    def __init__(self, length=4, vocab=5):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(length, vocab))

    def rollout(self, prompts, group_size, generator):
        n = len(prompts) * group_size
        probs = torch.softmax(self.logits, -1).expand(n, -1, -1).reshape(-1, self.logits.shape[1])
        tokens = torch.multinomial(probs, 1, generator=generator).view(n, -1)
        return Rollout([p for p in prompts for _ in range(group_size)], group_size, list(tokens), {"tokens": tokens})

    def log_probs(self, rollout):
        tokens = rollout.data["tokens"]
        logp = torch.log_softmax(self.logits, -1).expand(len(tokens), -1, -1).gather(-1, tokens[..., None])[..., 0]
        return logp, torch.ones_like(logp)


class Prompts:
    def __len__(self):
        return 8

    def batch(self, indices):
        return [{"prompt": f"p{i}"} for i in indices]


def zeros_reward(images, prompts, metadata):
    assert metadata is not None and len(metadata) == len(images)
    return torch.stack([(t == 0).float().mean() for t in images]), {}


@pytest.mark.parametrize("inner", [1, 2])
def test_grpo_through_the_training_loop_raises_the_reward(tmp_path, inner):
    torch.manual_seed(0)
    policy = ToyPolicy()
    reference = ToyPolicy()
    task = GRPOTask(lambda m: m, zeros_reward, group_size=4, beta=0.01, reference=reference, inner_iterations=inner)
    cfg = TrainConfig(str(tmp_path), steps=40, batch_size=2, lr=0.1, checkpoint_every=20, log_every=1)
    train(policy, task, Prompts(), cfg, progress=False)
    logs = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    first, last = logs[0]["reward"], sum(r["reward"] for r in logs[-5:]) / 5
    assert first < 0.45 and last > 0.8, (first, last)
    assert logs[-1]["kl"] > 0  # the policy has moved away from the reference
    assert torch.softmax(policy.logits, -1)[:, 0].min() > 0.6
