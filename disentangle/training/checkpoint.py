"""Checkpoints: written atomically, read without unpickling arbitrary objects.

A checkpoint holds only tensors and plain values (weights, optimiser states, RNG states, the step),
so `torch.load(..., weights_only=True)` reads it; the config lives beside it as JSON.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from disentangle.errors import DisentangleError
from disentangle.training.rundir import atomic_write

FORMAT = 1


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some platforms cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over `path`: a crash
    at any moment leaves either the old checkpoint or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda fh: torch.save({"format": FORMAT, **state}, fh))
    _fsync_dir(path.parent)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with weights_only=True: a file holding any other pickled object is
    refused."""
    path = Path(path)
    if not path.is_file():
        raise DisentangleError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = _unpickler_detail(str(exc))
        if "Unsupported global" in detail:
            raise DisentangleError(
                f"{path} holds a pickled object besides tensors and plain values ({detail}); "
                "refusing to load it (weights_only)") from None
        raise DisentangleError(f"{path} is not a readable checkpoint ({detail})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DisentangleError(f"{path} is not a readable checkpoint: {first}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT or "model" not in state:
        raise DisentangleError(f"{path} is not a disentangle checkpoint (format {FORMAT})")
    return state


def _unpickler_detail(message: str) -> str:
    """The informative line of torch's long weights_only error message."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "WeightsUnpickler error:" in line:
            rest = line.split("WeightsUnpickler error:", 1)[1].strip()
            rest = rest or (lines[i + 1] if i + 1 < len(lines) else "unknown error")
            return rest.split(". ")[0].rstrip(".")  # its first sentence
    return lines[0] if lines else "unknown error"


def rng_state(sampler: torch.Generator) -> dict[str, torch.Tensor]:
    """Every random state a run draws from: its own sampler and torch's global generators."""
    state = {"sampler": sampler.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(sampler: torch.Generator, state: dict[str, torch.Tensor]) -> None:
    sampler.set_state(state["sampler"].cpu())
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"].cpu())
