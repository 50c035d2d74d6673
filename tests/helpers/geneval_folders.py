"""Generators that stand at the two ends of shapes-geneval, for tests that compare scored folders:
the oracle (every sample right) and a blank one (the empty ground: every sample wrong)."""

import numpy as np

from reasongen.methods.oracle import OracleGenerator
from reasongen.methods.sampling import write_geneval_samples
from reasongen.world.prompts import metadata_for_prompt


class BlankGenerator:
    """Draws the empty ground: every sample fails."""

    name = "blank"

    def __call__(self, metadata, seeds):
        return [np.full((64, 64, 3), 128, np.uint8) for _ in seeds]


def write_oracle_and_blank(root, prompts: list[str], n: int = 2) -> None:
    """root/oracle and root/blank: the same prompts, n samples each, in GenEval's layout."""
    records = [metadata_for_prompt(p) for p in prompts]
    write_geneval_samples(records, OracleGenerator(), root / "oracle", n=n, progress=False)
    write_geneval_samples(records, BlankGenerator(), root / "blank", n=n, progress=False)
