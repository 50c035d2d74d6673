"""`shapes-wan`: the plain Wan2.1-style text-to-image-and-video base, pretrained on ShapesWorld, from
which CoF-T2I and ReasonDiff are fine-tuned as their papers fine-tune Wan2.1."""

from __future__ import annotations

from ..cof import CoFGenerator

SHIPPED = "shapes-wan"


class WanGenerator(CoFGenerator):
    """`sample geneval --method wan`: the plain base draws the image in one frame, no chain. It runs
    a one-frame pipeline (`reasongen train wan` writes one); a CoF chain model is refused. `sample
    video` draws clips from its `pipe` (text-to-video: T frame-wise latent frames)."""

    name = "wan"

    def __init__(self, model: str | None = None, steps: int | None = None, guidance: float | None = None,
                 size: int | None = None, device: str = "cpu", batch_size: int = 32):  # fmt: skip
        from .. import model_path

        path = model_path(model, SHIPPED, "reasongen train wan")
        super().__init__(str(path), -1, steps, guidance, size, device, batch_size)
        if self.num_frames != 1:
            raise ValueError(f"{path} draws a chain of {self.num_frames} frames: it is a CoF model, not the plain wan base "
                             "(sample its images with --method cof)")  # fmt: skip
