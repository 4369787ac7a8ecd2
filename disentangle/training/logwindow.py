"""The open log window of a training run: what metrics.jsonl's next line will average.

The sums stay on the device, so a step never waits for the GPU to log; the loop reads them only
when a line is due. A checkpoint saves the window (`state`), so a run stopped mid-window and
resumed writes the very line an uninterrupted run writes. Its time leaves out checkpoints and
pictures (`exclude`), so images/s is the training's own rate.
"""

from __future__ import annotations

import time
from typing import Any

import torch


class LogWindow:
    def __init__(self, device: torch.device, saved: dict[str, Any] | None = None):
        """`saved`: a checkpoint's window (absent in format-1 checkpoints: it starts afresh)."""
        self.keys: list[str] | None = None  # the logged values' names, in the vectors' order
        self.sum: torch.Tensor | None = None  # (len(keys),) sums over the window's steps
        self.steps = 0
        carried = 0.0
        if isinstance(saved, dict) and saved.get("steps"):
            self.keys, self.steps = list(saved["keys"]), int(saved["steps"])
            self.sum, carried = saved["sum"].to(device), float(saved["seconds"])
        self._start, self._excluded = time.perf_counter() - carried, 0.0

    def add(self, vector: torch.Tensor) -> None:
        """One step's values. A CUDA graph's replay returns the same tensor each time, so the
        first is copied rather than kept."""
        self.sum = vector.clone() if self.sum is None else self.sum + vector
        self.steps += 1

    def exclude(self, seconds: float) -> None:
        """Time spent on something else than training (a checkpoint, pictures)."""
        self._excluded += seconds

    def seconds(self) -> float:
        return time.perf_counter() - self._start - self._excluded

    def first_not_finite(self, vector: torch.Tensor | None = None) -> str | None:
        """The name of the first value of `vector` (default: the sums) that is NaN or infinite;
        reading it waits for the device."""
        finite = torch.isfinite(self.sum if vector is None else vector)
        if bool(finite.all()):  # every step on the CPU: one op and one read
            return None
        return self.keys[int((~finite).nonzero()[0])]

    def close(self) -> tuple[dict[str, float], float, int]:
        """The window's means by name, its seconds and its step count; a new window opens."""
        means = dict(zip(self.keys, (self.sum / self.steps).tolist()))
        out = means, self.seconds(), self.steps
        self.sum, self.steps = None, 0
        self._start, self._excluded = time.perf_counter(), 0.0
        return out

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps of the window."""
        return {"keys": self.keys or [], "sum": self.sum, "steps": self.steps,
                "seconds": self.seconds()}
