"""The run directory: where a run's config, checkpoints, metrics and pictures live.

    runs/<method>-<dataset>-<YYYYmmdd-HHMMSS>/
        config.json            resolved RunConfig + image shape, versions, seed, device
        checkpoints/latest.pt  weights, optimiser states, RNG states, step (weights_only loadable)
        metrics.jsonl          one JSON line every log_every steps
        samples.png, traversal-<code>[-<dim>].png, info.png, summary.json
        .lock                  an OS lock (flock) held by the process training the run
        .eval.lock             the same, held by a `disentangle eval` of the run

Every write here either completes or leaves the previous file: whole files go through a temporary
file and a rename, a metrics line that cannot be appended in full is cut back off. A write that
fails (a full disk, a quota, a file-size limit) is one DisentangleError naming the file, the disk
and the space it needed.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import io
import json
import logging
import os
import platform
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

from disentangle.diskspace import DiskFull, write_error
from disentangle.errors import DisentangleError
from disentangle.training.config import RunConfig, dumps, from_json

CONFIG = "config.json"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CHECKPOINTS = "checkpoints"
LATEST = "latest.pt"
LOCK = ".lock"
EVAL_LOCK = ".eval.lock"  # eval's own: a run can be evaluated while it trains, not twice at once
TMP_SUFFIX = ".tmp"  # atomic_write's temporary files: .<name>.<pid>.tmp
DEFAULT_ROOT = Path("runs")
log = logging.getLogger("disentangle.training")


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
    """The machine, so that a figure read later from a run can be traced to what produced it.
    The CPU's instruction set is part of it: torch picks its CPU kernels by it (AVX2, AVX-512),
    and a seed's run on another set follows other losses from its first steps."""
    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    cpu = f"{cpu_name()}, torch kernels {torch.backends.cpu.get_cpu_capability()}"
    return f"{platform.platform()}; {cpu}; {os.cpu_count()} cores; {gpu}"


def cpu_name() -> str:
    """The processor's model name, with its family and model numbers where Linux gives them
    (a virtual machine often says only "AMD EPYC", and the numbers tell its generation)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            head = f.read().split("\n\n", 1)[0]  # the first processor's block
    except OSError:
        return platform.processor() or platform.machine() or "unknown CPU"
    fields = dict(line.split(":", 1) for line in head.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    name = fields.get("model name") or platform.processor() or platform.machine() or "unknown CPU"
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


_together: contextvars.ContextVar[list[tuple[Path, Path]] | None] = contextvars.ContextVar(
    "atomic_writes_together", default=None)  # (temporary, final) of each write held back


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write through a temporary file in the same directory, fsync, then rename over `path`: a
    crash mid-write leaves the previous file intact, never a truncated one. The content is built
    in memory first, so a failed write (disk full) is a plain OSError with a known size, and the
    temporary file is removed. Inside `written_together` the rename waits for the block's end."""
    buffer = io.BytesIO()
    write(buffer)
    data = buffer.getbuffer()
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    held = _together.get()
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if held is not None:  # renamed at the block's end; a path written twice is held once
            if (tmp, path) not in held:
                held.append((tmp, path))
            return
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(exc, path, len(data)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def written_together() -> Iterator[None]:
    """Every `atomic_write` in the block is renamed into place only when the whole block has
    succeeded; when any write (or anything else) fails, none is and their temporary files are
    removed. Why: eval's eval.json, encoded.h5 and figures describe one measurement, and a disk
    that filled after the figures left new figures beside an old eval.json. Renames within one
    directory need no space, so they do not fail where the writes did."""
    if _together.get() is not None:  # nested: the outer block decides
        yield
        return
    held: list[tuple[Path, Path]] = []
    token = _together.set(held)
    try:
        yield
    except BaseException:
        for tmp, _ in held:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        _together.reset(token)
    for i, (tmp, path) in enumerate(held):
        try:
            os.replace(tmp, path)
        except OSError as exc:  # not space: a directory where the file goes, say
            size = tmp.stat().st_size if tmp.exists() else 0
            for left, _ in held[i:]:
                left.unlink(missing_ok=True)
            raise write_error(exc, path, size) from None


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def save_figure(fig, path: Path, dpi: float | None = None) -> Path:
    """A matplotlib figure as a PNG through `atomic_write`, at its own dpi unless given. A
    caption may name a run directory or a factor in a script the font lacks (CJK), which drew
    a warning per glyph on every picture: the boxes in the picture say enough."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font",
                                category=UserWarning)
        atomic_write(Path(path), lambda fh: fig.savefig(fh, format="png", dpi=dpi or "figure"))
    return path


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def _writer_alive(name: str) -> bool:
    """Whether the process whose pid is in a temporary file's name still runs (on this host)."""
    pid = name[: -len(TMP_SUFFIX)].rsplit(".", 1)[-1]
    if not pid.isdecimal():
        return False
    try:
        os.kill(int(pid), 0)
    except PermissionError:  # alive, someone else's
        return True
    except (OSError, OverflowError):  # ProcessLookupError: gone
        return False
    return True


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete the temporary files of writes whose process died before finishing them. Files of a
    live process (`disentangle eval` writing eval.json into the run) are left alone."""
    removed = []
    for tmp in Path(directory).glob(f".*{TMP_SUFFIX}"):
        if not _writer_alive(tmp.name):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


class RunLock:
    """An exclusive flock on <run>/.lock, held while a process trains the run (or on
    <run>/.eval.lock, while one evaluates it). The kernel drops it when the process dies, however
    it dies, so a lock left by a crash never blocks --resume; the file itself stays and only
    names the last holder. Taking it is also the first write into the run directory, so a
    directory that cannot be written is said before any work."""

    def __init__(self, run_path: Path, name: str = LOCK, busy: str = "in use by"):
        self.path = Path(run_path) / name
        self.fd: int | None = None
        if fcntl is None:  # pragma: no cover
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DisentangleError(f"cannot write into the run directory {run_path} "
                                   f"({exc.strerror or exc}): make it writable or copy the run "
                                   "to a place you can write") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                # a file system without flock (Lustre mounted without it, some NFS): run
                # unlocked rather than refuse every run there as "in use"
                os.close(fd)
                log.warning("cannot lock %s (%s): a second process on this run would not be "
                            "refused", self.path, exc.strerror or exc)
                return
            holder = _read_holder(fd)
            os.close(fd)
            raise DisentangleError(f"{run_path} is {busy} another disentangle process "
                                   f"({holder}); wait for it to finish or stop it") from None
        self.fd = fd
        with contextlib.suppress(OSError):  # only informative: a full disk must not stop us
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = os.pread(fd, 200, 0).decode("utf-8").strip()
        if text:
            return text
    return "holder unknown"


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
    def is_blank(cls, path: Path) -> bool:
        """Whether `path` holds nothing a run wrote: absent, empty, or only what a failed start or a
        killed write leaves (an empty checkpoints/, the lock file, temporary files)."""
        try:
            entries = list(Path(path).iterdir()) if Path(path).is_dir() else []
            for entry in entries:
                if entry.name == CHECKPOINTS and entry.is_dir():
                    if any(not _is_temporary(p.name) for p in entry.iterdir()):
                        return False
                elif entry.name != LOCK and not _is_temporary(entry.name):
                    return False
        except OSError as exc:
            raise DisentangleError(f"--out {path}: {exc.strerror or exc}") from None
        return True

    @classmethod
    def check_unused(cls, path: Path) -> None:
        """Refuse a file, or a directory holding anything a run wrote (see is_blank)."""
        try:
            is_file = path.exists() and not path.is_dir()
        except OSError as exc:  # a name too long, a loop of links
            raise DisentangleError(f"--out {path}: {exc.strerror or exc}") from None
        if is_file:
            raise DisentangleError(f"--out {path} is a file, not a directory")
        if not cls.is_blank(path):
            raise DisentangleError(f"--out {path} already exists and is not empty; pass --resume "
                                   "to continue that run, or choose another --out")

    @classmethod
    def create(cls, path: Path) -> tuple[RunDir, RunLock]:
        """A fresh run directory, locked; one that holds another run's files is refused (checked
        under the lock, so of two runs started into one --out, one is refused)."""
        cls.check_unused(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DisentangleError(f"cannot create run directory {path}: "
                                   f"{exc.strerror or exc}") from None
        lock = RunLock(path)
        try:
            cls.check_unused(path)
            run = cls(path)
            run.checkpoints.mkdir(exist_ok=True)
            run.remove_stale_temporaries()
        except OSError as exc:
            lock.release()
            raise DisentangleError(f"cannot create run directory {path}: "
                                   f"{exc.strerror or exc}") from None
        except BaseException:
            lock.release()
            raise
        return run, lock

    def discard(self, lock: RunLock, remove_directory: bool = True) -> None:
        """Undo a start that failed before training: remove what create() and write_config()
        made, so the same --out can be used again (anything else in it is left alone)."""
        for name in (CONFIG, LOCK):
            with contextlib.suppress(OSError):
                (self.path / name).unlink()
        lock.release()
        self.remove_stale_temporaries()
        for directory in (self.checkpoints, self.path) if remove_directory else (self.checkpoints,):
            with contextlib.suppress(OSError):
                directory.rmdir()  # only when empty

    def remove_stale_temporaries(self) -> list[Path]:
        return remove_stale_temporaries(self.path) + remove_stale_temporaries(self.checkpoints)

    def lock(self) -> RunLock:
        return RunLock(self.path)

    def eval_lock(self) -> RunLock:
        return RunLock(self.path, EVAL_LOCK, busy="being evaluated by")

    @classmethod
    def open(cls, path: Path) -> RunDir:
        """An existing run directory (one with a config.json)."""
        run = cls(Path(path))
        try:
            found = run.config.is_file()
        except OSError as exc:  # a name too long, a loop of links
            raise DisentangleError(f"{path}: {exc.strerror or exc}") from None
        if not found:
            raise DisentangleError(f"{path} is not a run directory (it has no {CONFIG})")
        return run

    # --- config.json ------------------------------------------------------------------------------

    def write_config(self, config: RunConfig, **resolved: Any) -> None:
        """The resolved config with what it resolved to (backbone, image shape, device) and the
        package versions."""
        data = {"config": config.to_dict(), "seed": config.seed, **resolved, "versions": versions(),
                "host": host(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        atomic_write_text(self.config, dumps(data))

    def read_meta(self) -> dict[str, Any]:
        try:
            data = json.loads(self.config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DisentangleError(f"{self.config} cannot be read as JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            raise DisentangleError(f"{self.config} has no 'config' table; is it a disentangle run?")
        return data

    def read_saved(self) -> tuple[RunConfig, tuple[int, int, int], dict[str, Any]]:
        """config.json read once and checked: the run's config, the (C, H, W) it was trained at
        (its networks' shape), and the whole file."""
        meta = self.read_meta()
        shape = meta.get("image_shape")
        if not (isinstance(shape, list) and len(shape) == 3
                and all(type(s) is int and s > 0 for s in shape)):
            raise DisentangleError(f"{self.config} has no valid 'image_shape' (it holds "
                                   f"{shape!r}); is it a disentangle run?")
        return from_json(meta["config"], str(self.config)), tuple(shape), meta

    # --- metrics.jsonl ----------------------------------------------------------------------------

    def read_metrics(self, strict: bool = False) -> list[dict[str, Any]]:
        """The logged records. A last line that is not JSON is one a crash cut short and is left
        out; another bad line is left out too, or with `strict` an error (before a rewrite)."""
        if not self.metrics.is_file():
            return []
        records = []
        try:
            text = self.metrics.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise DisentangleError(f"{self.metrics} cannot be read: {exc.strerror}") from None
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        for n, line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if strict and n != lines[-1][0]:
                    raise DisentangleError(
                        f"{self.metrics}: line {n} is not JSON (only a last line cut short by a "
                        "crash is expected); the log was edited or damaged: mend or delete that "
                        "line, then run again (nothing was changed)") from None
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    def truncate_metrics(self, step: int) -> None:
        """Drop lines logged after `step` (a resumed run logs them again) and a last line a crash
        cut short; a bad line elsewhere is an error, so that no record is dropped unseen."""
        if self.metrics.is_file():
            kept = [r for r in self.read_metrics(strict=True)
                    if isinstance(r.get("step"), int) and r["step"] <= step]
            atomic_write_text(self.metrics, "".join(json.dumps(r) + "\n" for r in kept))

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Append one line; if it cannot be written in full, cut the file back to where it was."""
        line = (json.dumps(record) + "\n").encode("utf-8")
        try:
            fd = os.open(self.metrics, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise write_error(exc, self.metrics, len(line)) from None
        try:
            end = os.lseek(fd, 0, os.SEEK_END)
            written = 0
            while written < len(line):
                written += os.write(fd, line[written:])
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, end)
            raise write_error(exc, self.metrics, len(line)) from None
        finally:
            os.close(fd)

    def sync_metrics(self) -> None:
        """fsync metrics.jsonl, so the lines a checkpoint follows survive a power cut with it."""
        with contextlib.suppress(FileNotFoundError), open(self.metrics, "rb") as fh:
            os.fsync(fh.fileno())


def latest_run(root: Path | str = DEFAULT_ROOT) -> Path:
    """The most recently started (or resumed) run directory under `root` with a config.json,
    a seed of a `--seeds` set (`root/SET/seed-S`) included."""
    root = Path(root)
    runs = ([p.parent for pattern in (f"*/{CONFIG}", f"*/seed-*/{CONFIG}")
             for p in root.glob(pattern)] if root.is_dir() else [])
    if not runs:
        raise DisentangleError(f"no runs under {root}/ (train one with `disentangle run infogan`)")
    return max(runs, key=lambda p: ((p / CONFIG).stat().st_mtime, p.name))
