"""Factor grids: datasets whose images enumerate every combination of their factors.

dSprites, 3D Shapes and the procedural `shapes` all store (or generate) image number
`ravel_multi_index(factor_indices, sizes)` for a factor combination: row-major order, the last
factor varying fastest. These helpers convert between the two and check what users pass in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import h5py
import numpy as np

import torch

from disentangle.data.cache import cache_dir, memmap, open_cache, source_identity
from disentangle.data.files import fetch
from disentangle.data.layout import FETCH, find_in
from disentangle.data.options import check_image_size, check_split, resolve_data_dir
from disentangle.datasets import Dataset, Factor, ImageData
from disentangle.errors import DisentangleError


def grid_sizes(factors: Sequence[Factor]) -> tuple[int, ...]:
    return tuple(f.size for f in factors)


def check_indices(factor_indices: object, factors: Sequence[Factor], dataset: str) -> np.ndarray:
    """(N, K) int64 factor indices, each inside its factor's range, or a DisentangleError."""
    idx = np.asarray(factor_indices)
    if idx.ndim == 1 and idx.shape[0] == len(factors):
        idx = idx[None]
    if idx.ndim != 2 or idx.shape[1] != len(factors):
        raise DisentangleError(f"{dataset}: factor indices must be (N, {len(factors)}) for "
                               f"{', '.join(f.name for f in factors)}; got shape {idx.shape}")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        if not np.array_equal(idx, np.round(idx)):
            raise DisentangleError(f"{dataset}: factor indices must be integers, got {idx.dtype}")
    idx = idx.astype(np.int64)
    sizes = np.array(grid_sizes(factors))
    bad = (idx < 0) | (idx >= sizes)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DisentangleError(f"{dataset}: factor '{factors[col].name}' index {idx[row, col]} "
                               f"is outside 0..{sizes[col] - 1}")
    return idx


def grid_index(factor_indices: np.ndarray, factors: Sequence[Factor]) -> np.ndarray:
    """Row-major position in the full grid of each row of (N, K) factor indices."""
    idx = np.asarray(factor_indices, dtype=np.int64)
    if idx.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    return np.ravel_multi_index(tuple(idx.T), grid_sizes(factors)).astype(np.int64)


def grid_factors(index: np.ndarray, factors: Sequence[Factor]) -> np.ndarray:
    """(N, K) factor indices of row-major grid positions."""
    return np.stack(np.unravel_index(np.asarray(index, dtype=np.int64), grid_sizes(factors)),
                    axis=1).astype(np.int64)


def check_enumerates_grid(factor_indices: np.ndarray, factors: Sequence[Factor],
                          path: Path) -> None:
    """Error unless the rows are exactly the full grid in row-major order (as distributed)."""
    sizes = grid_sizes(factors)
    total = int(np.prod(sizes))
    if factor_indices.shape[0] != total:
        raise DisentangleError(
            f"{path}: {factor_indices.shape[0]} rows, expected {total:,} (every combination of "
            + ", ".join(f"{f.name} {f.size}" for f in factors) + ")")
    if not np.array_equal(grid_index(factor_indices, factors), np.arange(total)):
        raise DisentangleError(f"{path}: rows do not enumerate the factor grid in row-major "
                               "order, as the original file does")


def values_to_indices(values: np.ndarray, factors: Sequence[Factor], path: Path) -> np.ndarray:
    """(N, K) float factor values -> indices of the nearest grid values; off-grid is an error."""
    values = np.asarray(values, dtype=np.float64)
    out = np.empty(values.shape, dtype=np.int64)
    for k, factor in enumerate(factors):
        grid = np.asarray(factor.values, dtype=np.float64)
        distance = np.abs(values[:, k, None] - grid[None, :])  # (N, size)
        out[:, k] = np.argmin(distance, axis=1)
        step = np.min(np.diff(np.sort(grid))) if len(grid) > 1 else 1.0
        off = distance[np.arange(len(values)), out[:, k]] > 1e-3 * step
        if off.any():
            row = int(np.argmax(off))
            raise DisentangleError(f"{path}: row {row} has {factor.name} = "
                                   f"{float(values[row, k])!r}, which is not one of its "
                                   f"{factor.size} grid values")
    return out


def split_grid(total: int, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """A fixed train/test split of grid positions: a seeded permutation, the last part is test.

    Each split keeps the permuted order, so any prefix of a split is a uniform random sample.
    """
    perm = np.random.default_rng(seed).permutation(total)
    n_test = int(round(total * test_fraction))
    return {"train": perm[: total - n_test], "test": perm[total - n_test:]}


# --- a factor grid in the HDF5 cache ------------------------------------------------------------

def write_grid_splits(f: h5py.File, rows: Callable[[np.ndarray], np.ndarray],
                      image_shape: tuple[int, int, int], factors: Sequence[Factor],
                      splits: dict[str, np.ndarray], block: int = 8192) -> None:
    """Write each split of a full factor grid into an open cache file.

    `rows(grid_positions)` returns those grid images as uint8 (B, C, H, W). Per split the file holds
    `<split>/images` in the split's order, `<split>/factors` and `<split>/index` (grid positions);
    `grid/split` and `grid/position` say where each grid image went, for `GridLookup`.
    """
    total = int(np.prod(grid_sizes(factors)))
    which = np.full(total, 255, dtype=np.uint8)
    position = np.zeros(total, dtype=np.int64)
    for s, (name, order) in enumerate(splits.items()):
        order = np.asarray(order, dtype=np.int64)
        group = f.create_group(name)
        images = group.create_dataset("images", shape=(len(order), *image_shape), dtype=np.uint8)
        for start in range(0, len(order), block):
            chunk = order[start: start + block]
            images[start: start + len(chunk)] = rows(chunk)
        group.create_dataset("factors", data=grid_factors(order, factors).astype(np.int32))
        group.create_dataset("index", data=order)
        which[order] = s
        position[order] = np.arange(len(order))
    if (which == 255).any():
        raise ValueError("the splits do not cover the whole grid")
    f.create_dataset("grid/split", data=which)
    f.create_dataset("grid/position", data=position)
    f["grid"].attrs["splits"] = list(splits)


class GridLookup:
    """Images of any grid positions, read from the cache through memory maps (no full load)."""

    def __init__(self, f: h5py.File):
        self.splits = [str(s) for s in f["grid"].attrs["splits"]]
        self.which = f["grid/split"][()]
        self.position = f["grid/position"][()]
        self.images = [memmap(f[name]["images"]) for name in self.splits]

    def __call__(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        first = self.images[0]
        out = np.empty((len(index), *first.shape[1:]), dtype=np.uint8)
        which, position = self.which[index], self.position[index]
        for s, images in enumerate(self.images):
            mask = which == s
            if mask.any():
                out[mask] = images[position[mask]]
        return out


class GridFileDataset(Dataset):
    """A dataset shipped as one file holding every factor combination in row-major order.

    Subclasses set `factors`, `image_shape`, `folder`, `filename`, `url` (and `md5` when known)
    and implement `read_grid`. The first load converts the file into the cache with a fixed seeded
    train/test split of the grid; `render` then looks images up there by grid position.
    """

    folder: str
    filename: str
    url: str
    md5: str | None = None
    splits = ("train", "test")
    split_seed = 0
    test_fraction = 0.1
    converter_version = 1

    def __init__(self, image_size: int | None = None):
        check_image_size(self.name, image_size, (self.image_shape[1],))
        self._lookup: dict[Path, GridLookup] = {}

    def read_grid(self, path: Path) -> Callable[[np.ndarray], np.ndarray]:
        """Check the file; return `rows(grid_positions)` -> uint8 (B, C, H, W) images."""
        raise NotImplementedError

    def source(self, data_dir: Path, download: bool = False) -> Path:
        """The file in DATA_DIR/<folder>/ (ours and disentanglement_lib's) or flat in DATA_DIR."""
        folder = data_dir / self.folder
        folders = [folder, data_dir]
        if download and not any((f / self.filename).is_file() for f in folders):
            fetch(self.url, folder / self.filename, self.md5)
        return find_in(folders, [self.filename], self.name,
                       f"place it in {folder} from {self.url}", FETCH)

    def _open(self, data_dir: Path, download: bool):
        path = self.source(data_dir, download)
        total = int(np.prod(grid_sizes(self.factors)))

        def build(f: h5py.File) -> None:
            rows = self.read_grid(path)
            splits = split_grid(total, self.test_fraction, self.split_seed)
            write_grid_splits(f, rows, self.image_shape, self.factors, splits)

        key = {"dataset": self.name, "version": self.converter_version, "seed": self.split_seed,
               "test_fraction": self.test_fraction, "grid": list(grid_sizes(self.factors)),
               "sources": source_identity(path)}
        return open_cache(cache_dir(data_dir) / f"{self.name}.h5", key, build)

    def load(self, split: str = "train", data_dir: Path | None = None,
             download: bool = False) -> ImageData:
        check_split(self, split)
        data_dir = resolve_data_dir(data_dir)
        self._lookup.pop(data_dir, None)  # the cache may be rebuilt now: render must follow it
        with self._open(data_dir, download) as f:
            images = torch.from_numpy(f[split]["images"][()])
            factors = torch.from_numpy(f[split]["factors"][()]).to(torch.int64)
        return ImageData(images=images, factors=factors)

    def render(self, factor_indices: np.ndarray, data_dir: Path | None = None) -> torch.Tensor:
        idx = check_indices(factor_indices, self.factors, self.name)
        data_dir = resolve_data_dir(data_dir)
        if data_dir not in self._lookup:
            with self._open(data_dir, download=False) as f:
                self._lookup[data_dir] = GridLookup(f)
        return torch.from_numpy(self._lookup[data_dir](grid_index(idx, self.factors)))
