"""Training machinery every method shares: the accelerate loop, checkpoints, and the VAE and VQ recipes."""
