"""reasongen: reasoning-enhanced visual generation (CoF-T2I, T2I-R1, FoX, ReasonDiff) on shared backbones."""

__version__ = "0.1.0"
