"""Training the ShapesWorld VAE (a small `AutoencoderKLWan`) on single frames.

Loss: L1 + MSE between the frame and its reconstruction from a posterior sample, plus a small KL
(the Wan VAE is a KL autoencoder; the weight keeps the latent well-behaved for the DiT without
blurring flat colours). After training, the per-channel latent mean and std over training frames
are written into the VAE config (`latents_mean`, `latents_std`), as Wan's config carries them.
"""

from __future__ import annotations

import torch


class VAETask:
    def __init__(self, kl_weight: float = 1e-6, mse_weight: float = 1.0):
        self.kl_weight, self.mse_weight = kl_weight, mse_weight

    def loss(self, vae, batch: torch.Tensor, generator: torch.Generator):
        x = batch.to(next(vae.parameters()).device)[:, :, None]  # (B, 3, 1, H, W): one-frame clips
        post = vae.encode(x).latent_dist
        eps = torch.randn(post.mean.shape, generator=generator).to(x)
        z = post.mean + post.std * eps
        rec = vae.decode(z).sample
        l1 = (rec - x).abs().mean()
        mse = ((rec - x) ** 2).mean()
        kl = post.kl().mean() / x[0].numel()
        loss = l1 + self.mse_weight * mse + self.kl_weight * kl
        return loss, {"l1": l1.item(), "mse": mse.item(), "kl": kl.item()}


@torch.no_grad()
def latent_stats(vae, images, batch_size: int = 64) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of posterior means over `images` (B, 3, H, W in [-1, 1])."""
    zs = [vae.encode(images[i : i + batch_size, :, None]).latent_dist.mean for i in range(0, len(images), batch_size)]
    z = torch.cat(zs).transpose(0, 1).flatten(1)
    return z.mean(1).tolist(), z.std(1).tolist()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2)."""
    mse = ((a.float() - b.float()) ** 2).mean().item()
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(4.0 / mse)).item()


def finish_vae(vae, train_images: torch.Tensor, heldout_images: torch.Tensor, out_dir) -> dict:
    """Write the latent statistics into the config, save the VAE (safetensors), and measure it."""
    vae.eval()
    mean, std = latent_stats(vae, train_images)
    vae.register_to_config(latents_mean=mean, latents_std=std)
    vae.save_pretrained(out_dir, safe_serialization=True)
    with torch.no_grad():
        rec = torch.cat([vae.decode(vae.encode(heldout_images[i : i + 64, :, None]).latent_dist.mode()).sample[:, :, 0]
                         for i in range(0, len(heldout_images), 64)])  # fmt: skip
    return {"heldout_psnr_db": psnr(rec.clamp(-1, 1), heldout_images), "heldout_images": len(heldout_images)}
