"""Option types shared by several commands, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from disentangle.errors import DisentangleError

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
# eval and select: a run's data read from another folder than the one its config.json saved
DataDir = Annotated[Path | None, typer.Option(
    help="Read the run's dataset files from PATH instead of the data_dir saved in its "
         "config.json (the --data-dir it was trained with): for data that moved. Embedded "
         "datasets (digits, shapes) read no files; for them it only places the cache.",
    show_default=False)]


def named_once(runs: list[Path], command: str) -> None:
    """Run directories given to `compare` or `select`, each once: two names of one run would be
    two columns of the same numbers (one key in --json) or a run scored against itself."""
    seen: dict[Path, Path] = {}
    for run in runs:
        first = seen.setdefault(run.resolve(), run)
        if first is not run:
            which = f"'{run}'" if str(first) == str(run) else f"'{first}' (as '{run}')"
            raise DisentangleError(f"{command}: run {which} is named twice; name each run once")
