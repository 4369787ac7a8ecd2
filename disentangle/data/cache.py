"""The HDF5 cache: each dataset is converted once into plain uint8/int arrays and read back fast.

A cache file is keyed by what it was made from (source files' path, size and mtime, the
converter's version and its options). A stale or unreadable file is rebuilt; a new file is written
under a temporary name and moved into place with `os.replace`, so a crash mid-write never leaves a
broken cache behind. Arrays are stored contiguous and uncompressed, so a whole split is read back
at disk/memory speed and any array can be memory-mapped for random access (`memmap`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from disentangle.diskspace import error_number, write_error
from disentangle.errors import DisentangleError

CACHE_ENV = "DISENTANGLE_CACHE_DIR"
CACHE_FORMAT = 1  # bump when the layout written here changes; every cache is then rebuilt

log = logging.getLogger("disentangle.data")


def cache_dir(data_dir: Path) -> Path:
    """$DISENTANGLE_CACHE_DIR, else `<data_dir>/.cache`."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path(data_dir) / ".cache"


def source_identity(*paths: Path) -> list[list[Any]]:
    """[absolute path, size, mtime and ctime in ns] per file: changes when a file is replaced or
    touched, also by a copy that keeps the size and mtime (`cp -p`, `rsync -a`, `tar x`: the
    ctime is the kernel's, no tool sets it). A directory stands for every file under it: [path,
    "directory", file count, SHA-256 of each file's relative path, size, mtime and ctime], so
    replacing or touching any one of them (a CelebA image among 202,599) changes the key. A
    link to nothing counts as itself: the loader skips it as an unreadable image."""
    identity: list[list[Any]] = []
    for path in map(Path, paths):
        try:
            if path.is_dir():
                identity.append([str(path.resolve()), "directory", *_directory_identity(path)])
            else:
                stat = _stat(path)
                identity.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns,
                                 stat.st_ctime_ns])
        except OSError as exc:
            raise DisentangleError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return identity


def _directory_identity(root: Path) -> tuple[int, str]:
    sha, count, pending = hashlib.sha256(), 0, [root]
    while pending:
        directory = pending.pop()
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):  # no loops through links
                pending.append(Path(entry.path))
                continue
            stat = _stat(Path(entry.path))
            relative = os.path.relpath(entry.path, root)
            line = f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ctime_ns}\n"
            sha.update(line.encode("utf-8", "surrogateescape"))
            count += 1
    return count, sha.hexdigest()


def _stat(path: Path) -> os.stat_result:
    """The file's stat, or a dangling link's own."""
    try:
        return path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            return path.lstat()
        raise


def _key_text(key: Mapping[str, Any]) -> str:
    return json.dumps({"cache_format": CACHE_FORMAT, **key}, sort_keys=True, default=str)


def _temp_file(path: Path) -> str | None:
    """A new empty file next to `path`, or None when that directory cannot be written."""
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.open("xb").close()  # created with the usual permissions: a cache is shared like data
    except OSError as exc:
        log.warning("cannot write the cache in %s (%s); converting in memory. Set %s to a "
                    "writable directory to keep a cache.", path.parent, exc, CACHE_ENV)
        return None
    return str(tmp)


def write_cache(path: Path, key: Mapping[str, Any], build: Callable[[h5py.File], None],
                tmp: str) -> h5py.File:
    """Run `build(file)` on `tmp` (`_temp_file`'s, next to `path`), then move it into place;
    returns the new file open for reading. Opened before the move, the handle reads what this
    process wrote even if another process moves its own file onto `path` a moment later."""
    try:
        with h5py.File(tmp, "w") as f:
            build(f)
            f.attrs["key"] = _key_text(key)  # written last: a file without it is never fresh
        written = h5py.File(tmp, "r")
        try:
            os.replace(tmp, path)
        except BaseException:
            written.close()
            raise
        return written
    except (OSError, RuntimeError) as exc:  # disk full, quota: the sources were fine
        if isinstance(exc, RuntimeError) and error_number(exc) is None:
            raise  # not a failed write: a bug, keep its traceback
        written = 0
        with suppress(OSError):
            written = os.path.getsize(tmp)
        error = write_error(exc, path, written, at_least=True)
        raise type(error)(f"{error}; or set {CACHE_ENV} to a directory on another disk") \
            from None
    finally:
        with suppress(OSError):
            os.unlink(tmp)


@contextmanager
def open_cache(path: Path | None, key: Mapping[str, Any],
               build: Callable[[h5py.File], None]) -> Iterator[h5py.File]:
    """Yield the cache at `path` open for reading, (re)building it first if missing or stale.

    `build(file)` writes the arrays into an empty HDF5 file and raises DisentangleError for bad
    sources. With `path=None` (caching turned off), or when the cache directory cannot be written
    (read-only data), the arrays are built in memory instead: loading still works, only without
    the speed-up next time.
    """
    cached = _open_fresh(Path(path), key) if path is not None else None
    if cached is not None:
        log.debug("reading cache %s", path)
        with cached:
            yield cached
        return
    tmp = _temp_file(Path(path)) if path is not None else None
    if tmp is None:
        with h5py.File(f"disentangle-{uuid.uuid4().hex}.h5", "w", driver="core",
                       backing_store=False) as f:
            build(f)
            yield f
        return
    log.info("converting into cache %s", path)
    with write_cache(Path(path), key, build, tmp) as f:
        yield f


def _open_fresh(path: Path, key: Mapping[str, Any]) -> h5py.File | None:
    """`path` open for reading when it is a cache made for exactly this key, else None. The key
    is checked on the handle that is then read: checked on one opening and read through another,
    a file another process moved there in between (a cache of another data directory sharing
    the name) would be read as ours."""
    try:
        f = h5py.File(path, "r")
    except (OSError, KeyError, ValueError, TypeError):  # missing, truncated, not HDF5
        return None
    try:
        if f.attrs.get("key") == _key_text(key):
            return f
    except (OSError, KeyError, ValueError, TypeError):
        pass
    f.close()
    return None


def read_tensors(group: h5py.Group) -> dict[str, torch.Tensor]:
    """Every array directly under `group`, read fully into memory as tensors."""
    return {name: torch.from_numpy(item[()]) for name, item in group.items()
            if isinstance(item, h5py.Dataset)}


def memmap(dataset: h5py.Dataset) -> np.ndarray:
    """A read-only memory map of a contiguous, uncompressed on-disk array (else a full read)."""
    offset = dataset.id.get_offset()
    on_disk = dataset.file.driver != "core"
    if offset is None or dataset.chunks is not None or not on_disk or dataset.size == 0:
        return dataset[()]
    # through the open file, not its name: the name may hold another file by now (a cache
    # rebuilt by another process, or the temporary name this process wrote it under)
    with os.fdopen(os.dup(dataset.file.id.get_vfd_handle()), "rb") as fh:
        return np.memmap(fh, dtype=dataset.dtype, mode="r", offset=offset, shape=dataset.shape)
