"""Where a dataset's files may be: our layout and the layouts other tools leave behind.

Users often have a dataset already, downloaded by torchvision (SVHN keeps its .mat files flat in
its root; MNIST under MNIST/raw/) or by disentanglement_lib (dsprites/, 3dshapes/). A loader
lists every folder it accepts, in order, and takes the first that holds the file; when none does,
the error lists every path it tried, so a user can see at once why their folder was not found.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from disentangle.errors import DisentangleError


FETCH = "run with --download (download=True) to fetch it"  # `fetch` for a downloadable file


class DataNotFound(DisentangleError):
    """A dataset's file is in none of the folders tried. `missing` says which file and where it
    was looked for, `how` how to put it there, `fetch` (or None) how to download it; kept apart
    so that a command that downloads no data (`eval`, `select`) can give its own advice."""

    def __init__(self, missing: str, how: str, fetch: str | None = None):
        self.missing, self.how, self.fetch = missing, how, fetch
        super().__init__(f"{missing}; {fetch}, or {how}" if fetch else f"{missing}; {how}")


def find_in(folders: Sequence[Path], names: Sequence[str], dataset: str, how: str,
            fetch: str | None = None) -> Path:
    """The first of `names` in the first of `folders` holding one, else a DataNotFound listing
    all, with `how` to place the file (and `fetch`, e.g. FETCH, where it can be downloaded).

    `folders` come in order of preference (ours first, where downloads go); within a folder
    `names` do too (e.g. a plain IDX file before its .gz).
    """
    tried = []
    for folder in dict.fromkeys(Path(f) for f in folders):  # same folder twice: try it once
        for name in names:
            path = folder / name
            if path.is_file():
                return path
            tried.append(str(path))
    raise DataNotFound(f"{dataset}: {' or '.join(names)} not found; tried {', '.join(tried)}",
                       how, fetch)
