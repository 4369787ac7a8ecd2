"""Checkpoints: written atomically, read without unpickling arbitrary objects, verified by checksum.

A checkpoint holds only tensors and plain values (weights, optimiser states, RNG states, the step,
the open log window's sums), so `torch.load(..., weights_only=True)` reads it and nothing in the
file can run code; the config lives beside it as JSON. PyTorch's zip reader does not check the
archive's CRCs, so a flipped byte in a weight would load silently: every checkpoint therefore
carries a SHA-256 of its own payload, checked on load.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from disentangle.errors import DisentangleError
from disentangle.training.rundir import atomic_write

FORMAT = 2  # 2 adds "checksum" and the log window; format 1 files (no checksum) are still read
READABLE_FORMATS = (1, 2)
ZIP_MAGIC = b"PK\x03\x04"  # torch.save's archive format; anything else is not ours
RESUME_KEYS = {"optimizers": dict, "rng": dict, "wall_seconds": (int, float),
               "train_seconds": (int, float)}


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


def digest(state: Any) -> str:
    """SHA-256 over every tensor's dtype, shape and bytes and every plain value, in order."""
    sha = hashlib.sha256()
    _feed(sha, state)
    return sha.hexdigest()


def _feed(sha: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        sha.update(f"T{t.dtype}{tuple(t.shape)}:".encode())
        sha.update(t.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(obj, dict):
        sha.update(f"d{len(obj)}:".encode())
        for key, value in obj.items():
            _feed(sha, key)
            _feed(sha, value)
    elif isinstance(obj, (list, tuple)):
        sha.update(f"{type(obj).__name__}{len(obj)}:".encode())
        for value in obj:
            _feed(sha, value)
    else:  # str, int, float, bool, None, bytes: repr is exact for all of them
        sha.update(f"{type(obj).__name__}:{obj!r};".encode())


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over `path`: a crash
    at any moment leaves either the old checkpoint or the new one, never half of one. A full disk
    is a DiskFull error and leaves the old checkpoint in place."""
    payload = {"format": FORMAT, **state}
    payload["checksum"] = digest(payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda fh: torch.save(payload, fh))
    _fsync_dir(path.parent)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and verify a checkpoint: a torch zip archive, loaded with weights_only=True (a file
    holding any other pickled object is refused), whose checksum matches its content and which
    has an integer 'step' and a 'model' of tensors. Every failure is one DisentangleError."""
    path = Path(path)
    if not path.is_file():
        raise DisentangleError(f"no checkpoint at {path}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(ZIP_MAGIC))
    except OSError as exc:
        raise DisentangleError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if head != ZIP_MAGIC:
        raise DisentangleError(f"{path} is not a disentangle checkpoint (not a PyTorch zip "
                               "archive); it is damaged or another kind of file")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on odd files
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = _unpickler_detail(str(exc))
        if "Unsupported global" in detail:
            raise DisentangleError(
                f"{path} holds a pickled object besides tensors and plain values ({detail}); "
                "refusing to load it (weights_only)") from None
        raise DisentangleError(f"{path} is not a readable checkpoint ({detail})") from None
    except Exception as exc:  # nothing from the file ran (weights_only): it is damaged
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        first = first.split(". ")[0].rstrip(".")  # torch's own advice after it does not apply
        raise DisentangleError(f"{path} is not a readable checkpoint, damaged or cut short "
                               f"({type(exc).__name__}: {first[:160]}); restore it from a copy "
                               "or train the run again") from None
    _check(state, path)
    return state


def checkpoint_step(path: Path) -> int | None:
    """The step a checkpoint is at, without reading its tensors (memory-mapped, and not checked
    against the checksum: `load_checkpoint` does that before anything uses the weights); None
    when there is no checkpoint or it cannot be read. A 9.3 MB 64-px InfoGAN-CR checkpoint: 16
    ms, against 32 ms for `load_checkpoint` (this 2-core CPU, means of 20 and 5 calls)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # missing, damaged, not ours: there is no step to report
        return None
    step = state.get("step") if isinstance(state, dict) else None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def _check(state: Any, path: Path) -> None:
    if not isinstance(state, dict) or "format" not in state:
        raise DisentangleError(f"{path} is not a disentangle checkpoint (no 'format')")
    fmt = state["format"]
    if fmt not in READABLE_FORMATS:
        raise DisentangleError(f"{path} has checkpoint format {fmt!r}; this disentangle reads "
                               f"formats {', '.join(map(str, READABLE_FORMATS))}")
    if fmt >= 2 or "checksum" in state:
        stored = state.pop("checksum", None)
        if not isinstance(stored, str) or digest(state) != stored:
            raise DisentangleError(f"{path} fails its checksum: the file changed or was damaged "
                                   "after it was written; restore it from a copy")
    step = state.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise DisentangleError(f"{path} has no valid 'step' (found {step!r}); it was not "
                               "written by `disentangle run`")
    model = state.get("model")
    if not isinstance(model, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()):
        raise DisentangleError(f"{path} has no 'model' of named tensors; it was not written by "
                               "`disentangle run`")


def check_resumable(state: dict[str, Any], path: Path) -> None:
    """What --resume needs beyond the weights: optimiser and RNG states, the clocks."""
    for key, kind in RESUME_KEYS.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            raise DisentangleError(f"{path} has no valid '{key}', which --resume needs; it was "
                                   "not written by `disentangle run`")


def _unpickler_detail(message: str) -> str:
    """The informative sentence of torch's long weights_only error message, without its advice
    to load the file with weights_only=False (which would run whatever the file holds)."""
    marker = "WeightsUnpickler error:"
    if marker in message:
        rest = message.split(marker, 1)[1].strip()
        first = rest.splitlines()[0] if rest else ""
        return first.split(". ")[0].rstrip(".").strip() or "unknown error"
    line = next((ln.strip() for ln in message.splitlines() if ln.strip()), "")
    if not line or "weights_only" in line.lower() or "weights only" in line.lower():
        return "torch's weights_only reader refused it"
    return line[:200]


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
