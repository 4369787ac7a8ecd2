"""Option types shared by several commands, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
# eval and select: a run's data read from another folder than the one its config.json saved
DataDir = Annotated[Path | None, typer.Option(
    help="Read the run's dataset files from PATH instead of the data_dir saved in its "
         "config.json (the --data-dir it was trained with): for data that moved. Embedded "
         "datasets (digits, shapes) read no files; for them it only places the cache.",
    show_default=False)]
