"""The `reasongen` command line: one typer app; each module adds its commands to it."""

from . import harness, benchmarks, generate, wan, vae, reasondiff, cof, fox, t2i_r1, demo, report  # noqa: I001  (the order commands are listed in)
from .common import app

COMMAND_MODULES = (harness, benchmarks, generate, wan, vae, reasondiff, cof, fox, t2i_r1, demo, report)  # importing each adds its commands to `app`


def main() -> None:
    app()


if __name__ == "__main__":
    main()
