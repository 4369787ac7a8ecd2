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


def find_in(folders: Sequence[Path], names: Sequence[str], dataset: str, how: str) -> Path:
    """The first of `names` in the first of `folders` holding one, else an error listing all.

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
    raise DisentangleError(f"{dataset}: {' or '.join(names)} not found; tried "
                           f"{', '.join(tried)}; {how}")
