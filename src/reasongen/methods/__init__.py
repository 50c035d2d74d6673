"""Generators by method id. Every method plugs into `reasongen sample geneval --method M`.

A generator is a callable `(metadata, seeds) -> [image, ...]`: one RGB uint8 array per seed, the
same seed giving the same image. It names the classes and colours it can draw (`classes`,
`colors`) so that a metadata file is checked before sampling starts.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np


class Generator(Protocol):
    name: str
    classes: Sequence[str]
    colors: Sequence[str]

    def __call__(self, metadata: dict, seeds: Sequence[int]) -> list[np.ndarray]: ...


METHODS = ("oracle", "cof")


def get_generator(method: str, size: int = 64, **options) -> Generator:
    """A generator by method id; `options` are the method's own (e.g. `model=`, `frame=` for cof)."""
    options = {k: v for k, v in options.items() if v is not None}
    if method == "oracle":
        from .oracle import OracleGenerator

        if options:
            raise ValueError(f"the oracle takes no options, got {sorted(options)}")
        return OracleGenerator(size=size)
    if method == "cof":
        from .cof import CoFGenerator

        return CoFGenerator(size=size, **options)
    raise ValueError(f"unknown method {method!r}; available: {', '.join(METHODS)}")
