"""A progress bar for a slow dataset conversion (decoding thousands of image files, say), on
stderr with rich.

It is off unless a command turns it on: `disentangle run` does, unless --quiet or --json (and only
on torchrun's rank 0). Python callers stay silent, and `disentangle eval`, which draws its own
stage bars, leaves it off: rich shows one live display at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

_shown = False


def show_progress(on: bool) -> None:
    """Turn conversion bars on or off for this process."""
    global _shown
    _shown = bool(on)


@contextlib.contextmanager
def progress(total: int, what: str) -> Iterator[Callable[[int], None]]:
    """Yields `advance(n)`; draws `what` with a count to `total` while the block runs, when on."""
    if not _shown:
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    bar = Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True))
    task = bar.add_task(what, total=total)
    with bar:
        yield lambda n=1: bar.advance(task, n)
