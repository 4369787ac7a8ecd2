"""What `disentangle eval` shows while it works: one rich progress line per stage, on stderr.

Every stage is also timed into dicts (eval.json's `timings_s`, wall clock, and `cpu_s`, this
process's CPU time over all its threads), so the display and the recorded timings can never
disagree about where the time went. On a machine shared with other work the wall clock grows with
the load while the CPU time does not; worker processes (the probes') are not in `cpu_s`, threads
(GBT DCI's) are.
Quiet mode (`--quiet`, `--json`) keeps the timings and shows nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Stages:
    """Times named stages; with ``show=True`` also draws a bar (or a spinner) for each on stderr."""

    def __init__(self, timings: dict[str, float] | None = None, show: bool = False):
        self.timings = {} if timings is None else timings
        self.cpu: dict[str, float] = {}
        self._progress = None
        if show:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn,
                                       TextColumn, TimeElapsedColumn)

            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description:<22}"),
                                      BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                      console=Console(stderr=True))

    def __enter__(self) -> Stages:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        """Time ``name``; yields ``advance(n)`` for stages that know their ``total`` work."""
        task = None
        if self._progress is not None:
            task = self._progress.add_task(name, total=total)
        start, cpu = time.perf_counter(), time.process_time()
        try:
            if task is None:
                yield lambda n=1: None
            else:
                yield lambda n=1: self._progress.advance(task, n)
        finally:
            self.timings[name] = round(time.perf_counter() - start, 3)
            self.cpu[name] = round(time.process_time() - cpu, 3)
            if task is not None:
                done = total if total is not None else 1
                self._progress.update(task, total=done, completed=done)
