"""The run directory: where a run's config, checkpoints, metrics and pictures live.

    runs/<method>-<dataset>-<YYYYmmdd-HHMMSS>/
        config.json            resolved RunConfig + image shape, versions, seed, device
        checkpoints/latest.pt  weights, optimiser states, RNG states, step (weights_only loadable)
        metrics.jsonl          one JSON line every log_every steps
        samples.png, traversal-<code>[-<dim>].png, info.png, summary.json
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

from disentangle.errors import DisentangleError
from disentangle.training.config import RunConfig, dumps, from_json, to_json

CONFIG = "config.json"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CHECKPOINTS = "checkpoints"
LATEST = "latest.pt"
DEFAULT_ROOT = Path("runs")


def versions() -> dict[str, str | None]:
    """Versions that change results: MI-based scores move with scikit-learn, for one."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("torch", "disentangle", "scikit-learn", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def host() -> str:
    """The machine, so that a figure read later from a run can be traced to what produced it."""
    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{platform.platform()}; {os.cpu_count()} cores; {gpu}"


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write through a temporary file in the same directory, fsync, then rename over `path`: a
    crash mid-write leaves the previous file intact, never a truncated one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def latest(self) -> Path:
        return self.checkpoints / LATEST

    # --- creating and opening --------------------------------------------------------------------

    @classmethod
    def default_path(cls, config: RunConfig, root: Path = DEFAULT_ROOT) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = root / f"{config.method}-{config.dataset}-{stamp}"
        suffix = 2
        while path.exists():  # two runs started in the same second
            path = root / f"{config.method}-{config.dataset}-{stamp}-{suffix}"
            suffix += 1
        return path

    @classmethod
    def create(cls, path: Path) -> RunDir:
        """A fresh run directory; an existing non-empty one is refused."""
        if path.exists() and not path.is_dir():
            raise DisentangleError(f"--out {path} is a file, not a directory")
        if path.is_dir() and any(path.iterdir()):
            raise DisentangleError(f"--out {path} already exists and is not empty; pass --resume "
                                   "to continue that run, or choose another --out")
        try:
            (path / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DisentangleError(f"cannot create run directory {path}: {exc}") from None
        return cls(path)

    @classmethod
    def open(cls, path: Path) -> RunDir:
        """An existing run directory (one with a config.json)."""
        run = cls(Path(path))
        if not run.config.is_file():
            raise DisentangleError(f"{path} is not a run directory (it has no {CONFIG})")
        return run

    # --- config.json ------------------------------------------------------------------------------

    def write_config(self, config: RunConfig, **resolved: Any) -> None:
        """The resolved config with what it resolved to (backbone, image shape, device) and the
        package versions."""
        data = {"config": to_json(config), "seed": config.seed, **resolved, "versions": versions(),
                "host": host(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        atomic_write_text(self.config, dumps(data))

    def read_meta(self) -> dict[str, Any]:
        try:
            data = json.loads(self.config.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DisentangleError(f"{self.config} cannot be read: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            raise DisentangleError(f"{self.config} has no 'config' table; is it a disentangle run?")
        return data

    def read_config(self) -> RunConfig:
        return from_json(self.read_meta()["config"], str(self.config))

    # --- metrics.jsonl ----------------------------------------------------------------------------

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics.is_file():
            return []
        records = []
        for line in self.metrics.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:  # a line cut short by a crash
                    continue
        return records

    def truncate_metrics(self, step: int) -> None:
        """Drop lines logged after `step` (a resumed run logs them again)."""
        if self.metrics.is_file():
            kept = [r for r in self.read_metrics() if r.get("step", 0) <= step]
            atomic_write_text(self.metrics, "".join(json.dumps(r) + "\n" for r in kept))

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.metrics, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


def latest_run(root: Path | str = DEFAULT_ROOT) -> Path:
    """The most recently started (or resumed) run directory under `root` with a config.json."""
    root = Path(root)
    runs = [p.parent for p in root.glob(f"*/{CONFIG}")] if root.is_dir() else []
    if not runs:
        raise DisentangleError(f"no runs under {root}/ (train one with `disentangle run infogan`)")
    return max(runs, key=lambda p: ((p / CONFIG).stat().st_mtime, p.name))
