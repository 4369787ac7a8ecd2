"""How many CPU threads a CPU run uses when `--threads` is not given.

Measured on the 2-core machines this project targets (docs/training.md, "Speed"): with both cores
free, two intra-op threads train the paper's MNIST networks ~1.8x faster than one (628 vs 342
images/s, medians), and faster than a plain PyTorch port at torch's default threads; with a busy
loop on one core, two threads collapse (96-162 images/s against 274-283 with one), because every
operation waits for its slowest thread. So a run looks at how busy its usable cores are while it
loads its data (other processes' CPU time, not its own) and takes as many threads as cores are
free: at least one, at most torch's default.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

TORCH_DEFAULT = torch.get_num_threads()  # before anything here changes it
MIN_SECONDS = 0.1  # the shortest look at the cores (data loading usually covers it)
STAT = Path("/proc/stat")


def usable_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def cpu_times(cpus: list[int], stat: Path = STAT) -> tuple[float, float] | None:
    """(idle, total) clock ticks summed over `cpus` from /proc/stat; None where unreadable."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    wanted = {f"cpu{c}" for c in cpus}
    idle = total = 0.0
    seen = 0
    for line in lines:
        name, *fields = line.split()
        if name in wanted:
            ticks = [float(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
            idle += ticks[3] + ticks[4]
            total += sum(ticks)
            seen += 1
    return (idle, total) if seen == len(wanted) else None


def free_cores(cpus: int, busy_ticks: float, own_ticks: float, elapsed_ticks: float) -> float:
    """Cores that other processes left idle: `busy_ticks` over all `cpus` in a window of
    `elapsed_ticks` per CPU, of which `own_ticks` were this process's."""
    others = max(0.0, busy_ticks - own_ticks)
    return max(0.0, cpus - others / max(elapsed_ticks, 1e-9))


def choose(free: float | None, most: int = TORCH_DEFAULT) -> int:
    """Threads for `free` idle cores (None: unknown, torch's default), within [1, most]."""
    if free is None:
        return max(1, most)
    return max(1, min(most, int(free + 0.5)))


@dataclass
class CoreLook:
    """Started before a run loads its data, read after: the cores' use in between."""

    cpus: list[int]
    start: tuple[float, float] | None
    own_start: float
    wall_start: float

    @classmethod
    def begin(cls) -> CoreLook:
        cpus = usable_cpus()
        return cls(cpus, cpu_times(cpus), time.process_time(), time.perf_counter())

    def threads(self) -> int:
        if self.start is None:
            return choose(None)
        time.sleep(max(0.0, MIN_SECONDS - (time.perf_counter() - self.wall_start)))
        end = cpu_times(self.cpus)
        if end is None or end[1] <= self.start[1]:
            return choose(None)
        hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        total = end[1] - self.start[1]
        busy = total - (end[0] - self.start[0])
        own = (time.process_time() - self.own_start) * hz
        return choose(free_cores(len(self.cpus), busy, own, total / len(self.cpus)))
