"""Training the ShapesWorld VQ image tokenizer (transformers' `JanusVQVAE`, the `shapes` Janus preset:
64 px -> 8 x 8 codes) that T2I-R1's Janus model draws with.

`JanusVQVAE.forward` decodes from the code indices, so no gradient reaches the encoder through it;
training runs the parts directly: encoder -> quant_conv -> quantizer (straight-through estimator) ->
post_quant_conv -> decoder. Loss: L1 + MSE of the reconstruction plus the quantizer's embedding loss
(codebook term + beta x commitment term, beta 0.25).

The quantizer is LlamaGen's (`codebook_l2_norm`, the VQ Janus took): encoder outputs and codes are
both l2-normalised before the nearest code is found. transformers' `JanusVQVAE` decodes through
`get_codebook_entry`, which normalises the code, while its `quantize.forward` does not; training with
the raw codes (as that forward does) left the decoder fed vectors it never saw at inference: 8 images
overfit to 35.8 dB on the training path and 26.0 dB through `encode`/`decode`. The saved codebook is
stored normalised, so that transformers' unnormalised `encode` (argmin |z|^2 + 1 - 2 z.e = argmax of
the cosine) picks the same codes as training.

Trained plainly from a random start, the tokenizer sits at the mean image for hundreds of steps (its
GroupNorms, like the Wan VAE's RMS norms, make the input-independent part of the features win:
docs/cof.md). It takes the VAE's recipe (`train/vae.py`): biases and the decoder's output conv at
zero, then a teacher warm-up in which the encoder regresses, and the decoder decodes, the unit-norm
patch-PCA code of each 8 x 8 patch (the direction the quantiser will keep). Two `train vq` runs of
the `shapes` preset (batch 32, lr 1e-3) at steps 460-500: training MSE 0.023 without it, 0.0072 with
400 warm-up steps; the grey mean image scores 0.030 (docs/t2i-r1.md).

Codes that no input picks stop learning (the usual VQ codebook collapse). Every `restart_every`
steps, each code unused since the last restart is moved onto a random (normalised) encoder output of
the current batch, before that step's forward (dead-code restart, as Jukebox and many VQ tokenizers
do); with several processes the new codebook is broadcast from the first one so that all stay
identical. The usage counts since the last restart are part of the checkpoint (`VQTask.state_dict`):
a run resumed between two restarts restarts the same codes as the uninterrupted run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def quantize(vq, h: torch.Tensor):
    """Nearest unit-norm code to each unit-normalised vector of h (B, d, H, W): (quantised h with
    straight-through gradients, embedding loss, indices (B*H*W,), normalised vectors (B*H*W, d))."""
    with torch.autocast(h.device.type, enabled=False):  # nearest codes in float32, also under bf16 autocast
        return _quantize(vq, h.float())


def _quantize(vq, h: torch.Tensor):
    z = F.normalize(h.permute(0, 2, 3, 1), dim=-1)
    flat = z.reshape(-1, z.shape[-1])
    codes = F.normalize(vq.quantize.embedding.weight, dim=-1)
    idx = (flat @ codes.T).argmax(1)
    q = codes[idx].view(z.shape)
    emb_loss = ((q - z.detach()) ** 2).mean() + vq.quantize.beta * ((q.detach() - z) ** 2).mean()
    q = z + (q - z).detach()
    return q.permute(0, 3, 1, 2), emb_loss, idx, flat


def vq_forward(vq, x: torch.Tensor):
    """(reconstruction, embedding loss, code indices (B, h*w), normalised pre-quantisation vectors (B*h*w, d))."""
    q, emb_loss, idx, z = quantize(vq, vq.quant_conv(vq.encoder(x)))
    rec = vq.decoder(vq.post_quant_conv(q))
    return rec, emb_loss, idx.view(x.shape[0], -1), z


class VQTask:
    def __init__(self, restart_every: int = 100, teacher=None, teacher_steps: int = 0):
        if teacher_steps and teacher is None:
            raise ValueError("teacher_steps > 0 needs a teacher code (train.vae.PatchPCA)")
        self.restart_every, self.step, self.usage = restart_every, 0, None
        self.teacher, self.teacher_steps = teacher, teacher_steps

    def set_step(self, step: int) -> None:
        self.step = step

    def state_dict(self) -> dict:
        """The code-usage counts since the last restart, which decide the next one: saved with each
        checkpoint (train/loop.py), so a resumed run restarts the codes the uninterrupted run does."""
        return {"usage": None if self.usage is None else self.usage.tolist()}

    def load_state_dict(self, state: dict) -> None:
        usage = state.get("usage")
        self.usage = None if usage is None else torch.tensor(usage, dtype=torch.int64)

    def loss(self, vq, batch: torch.Tensor, generator: torch.Generator):
        raw = getattr(vq, "module", vq)  # the quantizer of a DDP-wrapped model
        x = batch.to(next(vq.parameters()).device)
        if self.step < self.teacher_steps:
            return self._teacher_loss(raw, x)
        restarted = 0
        if self.restart_every and (self.step + 1) % self.restart_every == 0 and self.usage is not None:
            # before the forward: the codebook is in this step's graph and must not change under it
            with torch.no_grad():
                z = quantize(raw, raw.quant_conv(raw.encoder(x)))[3]
            restarted = self._restart(raw, z, generator)
        rec, emb_loss, idx, _ = vq_forward(raw, x)
        counts = torch.bincount(idx.flatten(), minlength=raw.quantize.embedding.num_embeddings).cpu()
        self.usage = counts if self.usage is None else self.usage + counts
        l1 = (rec - x).abs().mean()
        mse = ((rec - x) ** 2).mean()
        probs = counts.float() / counts.sum()
        perplexity = torch.exp(-(probs[probs > 0] * probs[probs > 0].log()).sum()).item()
        return l1 + mse + emb_loss, {"l1": l1.item(), "mse": mse.item(), "emb": emb_loss.item(),
                                     "perplexity": perplexity, "restarted": restarted}  # fmt: skip

    def _teacher_loss(self, vq, x: torch.Tensor):
        code = F.normalize(self.teacher.encode(x).to(x), dim=1)
        h = F.normalize(vq.quant_conv(vq.encoder(x)), dim=1)
        rec = vq.decoder(vq.post_quant_conv(code))
        l1, mse, code_mse = (rec - x).abs().mean(), ((rec - x) ** 2).mean(), ((h - code) ** 2).mean()
        return l1 + mse + code_mse, {"l1": l1.item(), "mse": mse.item(), "code_mse": code_mse.item()}

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
    with torch.no_grad():  # unit-norm codes: transformers' encode then agrees with training (module docstring)
        vq.quantize.embedding.weight.copy_(F.normalize(vq.quantize.embedding.weight, dim=-1))
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

