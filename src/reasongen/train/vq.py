"""Training the ShapesWorld VQ image tokenizer (transformers' `JanusVQVAE`, the `shapes` Janus preset:
64 px -> 8 x 8 codes) that T2I-R1's Janus model draws with.

`JanusVQVAE.forward` decodes from the code indices, so no gradient reaches the encoder through it;
training runs the parts directly: encoder -> quant_conv -> quantizer (straight-through estimator) ->
post_quant_conv -> decoder. Loss: L1 + MSE of the reconstruction plus the quantizer's own embedding
loss (codebook term + beta x commitment term, beta from transformers: 0.25).

Codes that no input picks stop learning (the usual VQ codebook collapse). Every `restart_every`
steps, each code unused since the last restart is moved onto a random encoder output of the current
batch (dead-code restart, as Jukebox and many VQ tokenizers do); with several processes the new
codebook is broadcast from the first one so that all stay identical.
"""

from __future__ import annotations

import torch


def vq_forward(vq, x: torch.Tensor):
    """(reconstruction, embedding loss, code indices (B, h*w), pre-quantisation vectors (B*h*w, d))."""
    h = vq.quant_conv(vq.encoder(x))
    q, emb_loss, idx = vq.quantize(h)
    rec = vq.decoder(vq.post_quant_conv(q))
    return rec, emb_loss, idx.view(x.shape[0], -1), h.permute(0, 2, 3, 1).reshape(-1, h.shape[1])


class VQTask:
    def __init__(self, restart_every: int = 100):
        self.restart_every, self.step, self.usage = restart_every, 0, None

    def set_step(self, step: int) -> None:
        self.step = step

    def loss(self, vq, batch: torch.Tensor, generator: torch.Generator):
        raw = getattr(vq, "module", vq)  # the quantizer of a DDP-wrapped model
        x = batch.to(next(vq.parameters()).device)
        rec, emb_loss, idx, h = vq_forward(raw, x)
        n = raw.quantize.embedding.num_embeddings
        counts = torch.bincount(idx.flatten(), minlength=n).cpu()
        self.usage = counts if self.usage is None else self.usage + counts
        restarted = 0
        if self.restart_every and (self.step + 1) % self.restart_every == 0:
            restarted = self._restart(raw, h.detach(), generator)
        l1 = (rec - x).abs().mean()
        mse = ((rec - x) ** 2).mean()
        probs = counts.float() / counts.sum()
        perplexity = torch.exp(-(probs[probs > 0] * probs[probs > 0].log()).sum()).item()
        return l1 + mse + emb_loss, {"l1": l1.item(), "mse": mse.item(), "emb": emb_loss.item(),
                                     "perplexity": perplexity, "restarted": restarted}  # fmt: skip

    @torch.no_grad()
    def _restart(self, vq, h: torch.Tensor, generator: torch.Generator) -> int:
        dead = torch.nonzero(self.usage == 0).squeeze(1)
        self.usage = None
        if dead.numel():
            weight = vq.quantize.embedding.weight
            pick = torch.randint(len(h), (dead.numel(),), generator=generator)
            weight[dead.to(weight.device)] = h[pick.to(h.device)].to(weight.dtype)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.broadcast(vq.quantize.embedding.weight.data, src=0)
        return int(dead.numel())


@torch.no_grad()
def roundtrip(vq, images: torch.Tensor, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (B, 3, H, W) in [-1, 1] through the tokenizer: reconstructions and code indices."""
    recs, codes = [], []
    for i in range(0, len(images), batch_size):
        out = vq.encode(images[i : i + batch_size])
        idx = out.image_tokens.view(len(images[i : i + batch_size]), -1)
        recs.append(vq.decode(idx).clamp(-1, 1))
        codes.append(idx)
    return torch.cat(recs), torch.cat(codes)


def finish_vq(vq, heldout: torch.Tensor, out_dir) -> dict:
    """Save the tokenizer (safetensors) and measure it on held-out images."""
    from .vae import psnr

    vq.eval()
    vq.save_pretrained(out_dir, safe_serialization=True)
    rec, codes = roundtrip(vq, heldout)
    counts = torch.bincount(codes.flatten(), minlength=vq.quantize.embedding.num_embeddings).float()
    probs = counts / counts.sum()
    return {
        "heldout_psnr_db": psnr(rec, heldout), "heldout_images": len(heldout),
        "codes_used": int((counts > 0).sum()), "codebook": len(counts),
        "perplexity": float(torch.exp(-(probs[probs > 0] * probs[probs > 0].log()).sum())),
    }  # fmt: skip


def build_vq(preset: str = "shapes"):
    """A randomly initialised `JanusVQVAE` of a Janus preset (its `vq_config`)."""
    from transformers.models.janus.modeling_janus import JanusVQVAE

    from ..backbones.janus import janus_config
    from ..backbones.text import shapes_tokenizer

    return JanusVQVAE(janus_config(preset, shapes_tokenizer()).vq_config)


def load_vq(path):
    from transformers.models.janus.modeling_janus import JanusVQVAE

    return JanusVQVAE.from_pretrained(path, local_files_only=True, use_safetensors=True).eval()

