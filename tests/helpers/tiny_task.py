"""A tiny Wan transformer, a procedural latent dataset and the flow loss, for loop tests."""

import torch

from reasongen.backbones.wan import build_transformer
from reasongen.flow import flow_loss


def tiny_model(seed: int = 0):
    torch.manual_seed(seed)
    return build_transformer("tiny")


class TinyFlowData:
    def __init__(self, n: int):
        self.n, self.seen = n, []

    def __len__(self):
        return self.n

    def batch(self, indices):
        self.seen.extend(int(i) for i in indices)
        g = torch.Generator().manual_seed(1)
        base = torch.randn(self.n, 4, 1, 8, 8, generator=g)
        ctx = torch.randn(self.n, 6, 32, generator=g)
        idx = torch.tensor(list(indices))
        return base[idx], ctx[idx]


class TinyFlowTask:
    def loss(self, model, batch, generator):
        x0, ctx = batch
        loss = flow_loss(lambda x, t: model(x, t, ctx, return_dict=False)[0], x0, generator, shift=3.0)
        return loss, {}
