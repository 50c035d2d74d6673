"""Training the ShapesWorld VAE (a small `AutoencoderKLWan`) on single frames, and fine-tuning it on
clips.

Trained from scratch the Wan VAE collapses to the mean image on ShapesWorld (docs/cof.md): the
frames are mostly flat background, and its per-pixel RMS norms blow up the input-independent part
of the features until the output no longer depends on the input. Two measures avoid it:

1. `init_for_training`: conv biases at zero (so flat input gives zero features rather than a
   constant that the norms amplify) and the decoder's output conv at zero (the first output is the
   grey background instead of noise, so shrinking the output is not the quickest way down).
2. A teacher warm-up: for the first `teacher_steps` steps the decoder learns to decode, and the
   encoder learns to produce, a fixed linear code of the frame (PCA of its f x f x 3 pixel patches,
   z channels, where f is the VAE's spatial factor). Neither half can collapse, since both have a
   fixed target. After it, the usual end-to-end reconstruction loss takes over.

Loss: L1 + MSE between the frame and its reconstruction from the posterior mean (the CoF data and
pipeline encode with the mean too), plus an optional KL. After training, the per-channel latent
mean and std over training frames are written into the VAE config (`latents_mean`, `latents_std`),
as Wan's config carries them.

Trained on single frames, the VAE has only ever run its first-frame path: the causal temporal
downsampling that folds each later group of 4 frames into one latent frame is untrained (17-frame
clips through it come back at 17.0 dB, against 45.1 dB frame by frame: `eval vae --clips 16`).
ReasonDiff needs clips, so `VAETask` also takes batches of clips (B, T, 3, H, W), encoded and
decoded as whole clips; the video VAE is the image VAE fine-tuned that way (`reasongen train vae
--clip-frames 17 --init-from ...`).

Fine-tuned freely, the clip path overwrites the weights a single frame shares with it (1,200 steps:
single frames 45.1 -> 36.3 dB, docs/reasondiff.md). `keep_frame_path` trains only what a single
frame never touches. A one-frame clip meets each causal 3-D conv through its last temporal tap alone
(the earlier taps see the zero padding), and skips the resample layers' `time_conv`; so training only
the earlier taps and the `time_conv`s leaves every single-frame encoding and decoding, and the first
frame of every clip, exactly as they were.

`freeze_encoder` trains the decoder alone (`--decoder-only`): every latent stays exactly what it
was, so the models trained in the VAE's latent space (CoF, ReasonDiff) keep working with the
improved decoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..world.vocab import GROUND


def init_for_training(vae) -> None:
    """The initialisation that keeps the Wan VAE (and the VQ tokenizer, train/vq.py) out of the
    mean-image collapse (see above)."""
    with torch.no_grad():
        for name, p in vae.named_parameters():
            if name.endswith("bias"):
                p.zero_()
        vae.decoder.conv_out.weight.zero_()


def keep_frame_path(vae) -> int:
    """Freeze everything a single frame passes through (see above); returns the number of values
    left to train. The frozen taps get zero gradients, so they stay put only without weight decay
    (`reasongen train vae` uses none). Call again on a fresh model: the gradient hooks are not saved."""
    trainable = 0
    for name, p in vae.named_parameters():
        if ".time_conv." in name:
            trainable += p.numel()
        elif p.dim() == 5 and p.shape[2] > 1:
            keep = torch.ones_like(p)
            keep[:, :, -1] = 0  # the tap a lone frame reads
            p.register_hook(lambda grad, keep=keep: grad * keep)
            trainable += p[:, :, :-1].numel()
        else:
            p.requires_grad_(False)
    return trainable


def freeze_encoder(vae) -> int:
    """Freeze the encoder and its `quant_conv`, so every latent (and the latent statistics) stays
    as it was; returns the number of values left to train (the decoder's)."""
    for name, p in vae.named_parameters():
        if name.startswith(("encoder.", "quant_conv.")):
            p.requires_grad_(False)
    return sum(p.numel() for p in vae.parameters() if p.requires_grad)


class PatchPCA:
    """A fixed linear code: the top-z principal directions of f x f x 3 pixel patches."""

    def __init__(self, images: torch.Tensor, factor: int, z_dim: int):
        patches = F.pixel_unshuffle(images.float(), factor).permute(0, 2, 3, 1).reshape(-1, 3 * factor * factor)
        if z_dim > patches.shape[1]:
            raise ValueError(f"z_dim {z_dim} exceeds the {patches.shape[1]} values of a {factor}x{factor} patch")
        # Uncentred: the background (0 in [-1, 1]) stays the zero code.
        _, _, v = torch.linalg.svd(patches, full_matrices=False)
        self.factor, self.basis = factor, v[:z_dim].T.contiguous()  # (3 f f, z)

    def encode(self, images: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, z, H/f, W/f)
        return torch.einsum("bchw,cz->bzhw", F.pixel_unshuffle(images.float(), self.factor), self.basis)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(torch.einsum("bzhw,cz->bchw", z, self.basis), self.factor)


def _as_clips(images: torch.Tensor) -> torch.Tensor:
    """Frames (B, 3, H, W) or clips (B, T, 3, H, W) in [-1, 1] -> the VAE's (B, 3, T, H, W)."""
    return images.transpose(1, 2) if images.dim() == 5 else images[:, :, None]


class VAETask:
    def __init__(self, teacher: PatchPCA | None = None, teacher_steps: int = 0, kl_weight: float = 0.0, object_weight: float = 0.0):
        if teacher_steps and teacher is None:
            raise ValueError("teacher_steps > 0 needs a teacher code")
        if object_weight < 0:
            raise ValueError(f"object_weight={object_weight}: need 0 (plain) or more")
        self.teacher, self.teacher_steps, self.kl_weight = teacher, teacher_steps, kl_weight
        self.object_weight = object_weight
        self.step = 0

    def set_step(self, step: int) -> None:
        self.step = step

    def loss(self, vae, batch: torch.Tensor, generator: torch.Generator):
        x = _as_clips(batch.to(next(vae.parameters()).device))  # a frame is a one-frame clip; clips go whole
        if self.step < self.teacher_steps and x.shape[2] > 1:
            raise ValueError("the teacher warm-up trains the first-frame path; fine-tune on clips from a trained VAE with teacher_steps=0")
        post = vae.encode(x).latent_dist
        logs = {}
        if self.step < self.teacher_steps:
            code = self.teacher.encode(batch).to(x)[:, :, None]
            rec = vae.decode(code).sample
            code_mse = ((post.mean - code) ** 2).mean()
            logs["code_mse"] = code_mse.item()
            extra = code_mse
        else:
            rec = vae.decode(post.mean).sample
            extra = self.kl_weight * post.kl().mean() / x[0].numel() if self.kl_weight else 0.0
        l1 = (rec - x).abs().mean()
        mse = ((rec - x) ** 2).mean()
        logs.update(l1=l1.item(), mse=mse.item())
        if self.object_weight:
            l1, mse = reconstruction_loss(rec, x, self.object_weight)
        return l1 + mse + extra, logs


def reconstruction_loss(rec: torch.Tensor, x: torch.Tensor, object_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """L1 and MSE with every pixel off the grey ground weighted 1 + object_weight. Objects cover a few
    percent of a ShapesWorld frame, so a plain mean lets a clip decoder drop small moving shapes
    and still score well; the weights make losing them cost. x, rec: (B, 3, T, H, W) in [-1, 1]."""
    ground = torch.tensor(GROUND, dtype=x.dtype, device=x.device).div(127.5).sub(1.0).view(1, 3, 1, 1, 1)
    on_object = ((x - ground).abs().amax(dim=1, keepdim=True) > 0.05).to(x.dtype)
    w = 1 + object_weight * on_object
    norm = w.mean()
    return ((rec - x).abs() * w).mean() / norm, (((rec - x) ** 2) * w).mean() / norm


@torch.no_grad()
def latent_stats(vae, images, batch_size: int = 64) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of posterior means over `images` (frames or clips, in [-1, 1])."""
    zs = [vae.encode(_as_clips(images[i : i + batch_size])).latent_dist.mean for i in range(0, len(images), batch_size)]
    z = torch.cat(zs).transpose(0, 1).flatten(1)
    return z.mean(1).tolist(), z.std(1).tolist()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2)."""
    mse = ((a.float() - b.float()) ** 2).mean().item()
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(4.0 / mse)).item()


def finish_vae(vae, train_images: torch.Tensor, heldout_images: torch.Tensor, out_dir, keep_latent_stats: bool = False) -> dict:
    """Write the latent statistics into the config, save the VAE (safetensors), and measure it.
    `keep_latent_stats`: a VAE whose encoder did not train keeps the statistics it came with, which
    models trained on its normalised latents expect (a new sample of frames would shift them)."""
    vae.eval()
    if not keep_latent_stats:
        mean, std = latent_stats(vae, train_images)
        vae.register_to_config(latents_mean=mean, latents_std=std)
    vae.save_pretrained(out_dir, safe_serialization=True)
    with torch.no_grad():
        rec = torch.cat([vae.decode(vae.encode(_as_clips(heldout_images[i : i + 64])).latent_dist.mode()).sample
                         for i in range(0, len(heldout_images), 64)])  # fmt: skip
    rec = rec.transpose(1, 2) if heldout_images.dim() == 5 else rec[:, :, 0]
    return {"heldout_psnr_db": psnr(rec.clamp(-1, 1), heldout_images), "heldout_images": len(heldout_images)}
