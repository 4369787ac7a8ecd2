"""Failed writes as one clear line: which file, which disk, how much space the write needed.

A full disk, a quota or a file-size limit (`ulimit -f`) surface as OSError (ENOSPC, EDQUOT, EFBIG),
from h5py sometimes as an OSError or RuntimeError whose text holds the errno; either way the user
should learn where space ran out and how much was wanted, not read a traceback.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

from disentangle.errors import DisentangleError

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class DiskFull(DisentangleError):
    """A write failed for lack of space, a quota or a file-size limit."""


def size_text(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def mount_point(path: Path) -> Path:
    """The mount point holding `path` (or its nearest existing parent)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def error_number(exc: BaseException) -> int | None:
    """The errno of an OSError, or the one h5py writes into its messages ('errno = 28')."""
    number = getattr(exc, "errno", None)
    if isinstance(number, int):
        return number
    found = re.search(r"errno = (\d+)", str(exc))
    return int(found.group(1)) if found else None


def write_error(exc: BaseException, path: Path, needed: int, at_least: bool = False
                ) -> DisentangleError:
    """One line for a failed write of `needed` bytes to `path`. `at_least`: the size is what was
    written when the write failed, a lower bound."""
    amount = ("more than " if at_least else "") + size_text(needed)
    number = error_number(exc)
    if number == errno.EFBIG:
        return DiskFull(f"cannot write {path}: it needs {amount}, more than this process may "
                        "write to one file (`ulimit -f`); raise the limit and try again")
    if number in NO_SPACE:
        mount = mount_point(Path(path).parent)
        try:
            free = f"{size_text(shutil.disk_usage(mount).free)} free"
        except OSError:
            free = "free space unknown"
        quota = " (or your quota there is used up)" if number == errno.EDQUOT else ""
        return DiskFull(f"no space left on {mount}{quota} to write {path}: it needs {amount}, "
                        f"{free}; free some space (nothing was half-written)")
    reason = (getattr(exc, "strerror", None)
              or (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200])
    return DisentangleError(f"cannot write {path}: {reason}")
