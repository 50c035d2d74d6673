"""`shapes-wan`: the plain Wan2.1-style text-to-image-and-video base, pretrained on ShapesWorld, from
which CoF-T2I and ReasonDiff are fine-tuned as their papers fine-tune Wan2.1."""
