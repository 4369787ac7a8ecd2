"""Checks every dataset makes on what it is asked for: the data directory, a split, a size."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from disentangle.datasets import Dataset, default_data_dir
from disentangle.errors import DisentangleError


def resolve_data_dir(data_dir: Path | str | None) -> Path:
    """The directory given, else `default_data_dir()` ($DISENTANGLE_DATA_DIR or the user cache)."""
    return Path(data_dir).expanduser() if data_dir is not None else default_data_dir()


def check_split(dataset: Dataset, split: str) -> str:
    if split not in dataset.splits:
        raise DisentangleError(f"dataset '{dataset.name}' has no split '{split}' "
                               f"(splits: {', '.join(dataset.splits)})")
    return split


def check_image_size(dataset: str, image_size: int | None, sizes: Sequence[int]) -> int:
    """`image_size`, or the first (default) of `sizes` when None; other sizes are errors."""
    if image_size is None:
        return sizes[0]
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size not in sizes:
        offered = " or ".join(str(s) for s in sizes)
        raise DisentangleError(f"dataset '{dataset}' comes in {offered} pixels, not "
                               f"{image_size!r}: set --image-size to "
                               f"{' or '.join(str(s) for s in sizes)}, or leave it out")
    return image_size
