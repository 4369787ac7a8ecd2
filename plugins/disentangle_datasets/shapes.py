"""`shapes`: a procedural stand-in for dSprites, rendered on the fly, no files needed.

White binary sprites on black, on dSprites' factor grid: shape (square, ellipse, heart), scale
(6 values, 0.5..1), orientation (40 values over [0, 2pi); dSprites repeats 0 as 2pi), posX and
posY (32 values each, 0..1): 737,280 combinations. Any of them can be rendered exactly with
`render`. Splits: `test` is a fixed seeded sample of 5,000 grid images; `train` a disjoint seeded
sample of 20,000 (what evaluation fits its probes and metrics on; both cached); `grid` is every
grid image not in `test` (732,280), rendered in memory when loaded (about 1 s per 50,000 images at
64 px, 3 GB; 0.75 GB at 32 px) and never cached. Training uses `grid`, as dSprites training uses
its whole train split.

Geometry, in units of the image side (the same picture at 32 and 64 pixels): a square at scale 1
is 0.3125 wide (20 px at 64), the ellipse is as wide and half as tall, the heart fits the same
box; positions 0..1 move the centre from 0.2 to 0.8 of the image. Pixels are white when their
centre lies inside the shape (no anti-aliasing), so images depend only on the factors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from disentangle.data import (
    cache_dir,
    check_image_size,
    check_indices,
    check_split,
    grid_factors,
    open_cache,
    read_tensors,
    resolve_data_dir,
)
from disentangle.datasets import Dataset, Factor, ImageData
from disentangle.errors import DisentangleError

RENDER_VERSION = 1
SIDE = 0.3125  # square side at scale 1, in image widths
POS_LOW, POS_SPAN = 0.2, 0.6  # posX/posY 0..1 -> centre at 0.2..0.8 of the image
HEART_FIT, HEART_SHIFT = 1.14, 0.118  # the heart curve spans x in +-1.14, y in -1..1.24

FACTORS = (
    Factor("shape", (1.0, 2.0, 3.0)),  # square, ellipse, heart (dSprites' values)
    Factor("scale", tuple(np.linspace(0.5, 1.0, 6).tolist())),
    Factor("orientation", tuple(np.linspace(0.0, 2 * np.pi, 40, endpoint=False).tolist())),
    Factor("posX", tuple(np.linspace(0.0, 1.0, 32).tolist())),
    Factor("posY", tuple(np.linspace(0.0, 1.0, 32).tolist())),
)
GRID_SIZE = int(np.prod([f.size for f in FACTORS]))  # 737,280
# Per-factor value tables, computed once so that every image is a pure function of its indices.
_SCALE = np.array(FACTORS[1].values, dtype=np.float32)
_COS = np.cos(np.array(FACTORS[2].values)).astype(np.float32)
_SIN = np.sin(np.array(FACTORS[2].values)).astype(np.float32)
_POS = (np.array(FACTORS[3].values) * POS_SPAN + POS_LOW).astype(np.float32)


def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether points (u, v), in the shape's own frame (half-side 1), are inside it."""
    if shape == 0:  # square
        return np.maximum(np.abs(u), np.abs(v)) <= 1
    if shape == 1:  # ellipse, half as tall as wide
        return u * u + 4 * (v * v) <= 1
    x, y = u * np.float32(HEART_FIT), v * np.float32(HEART_FIT) + np.float32(HEART_SHIFT)
    r = x * x + y * y - 1  # heart: (x^2 + y^2 - 1)^3 <= x^2 y^3
    return r * r * r <= x * x * (y * y * y)


def render_sprites(factor_indices: np.ndarray, size: int, chunk: int = 2048) -> np.ndarray:
    """(N, 5) factor indices -> (N, 1, size, size) uint8 images in {0, 255}.

    Only a window around each sprite is evaluated (the largest sprite's radius plus a margin);
    every pixel outside it is black whatever the factors, so the result is the same as testing
    the whole image, and each image depends on its own factors only, not on its batch.
    """
    idx = np.asarray(factor_indices, dtype=np.int64).reshape(-1, 5)
    out = np.zeros((len(idx), 1, size, size), dtype=np.uint8)
    reach = int(np.ceil(np.sqrt(2) * SIDE / 2 * float(_SCALE.max()) * size + 1.5)) + 1
    window = np.arange(2 * reach)  # pixel offsets of the window from its corner
    for shape in range(3):
        rows = np.flatnonzero(idx[:, 0] == shape)
        for start in range(0, len(rows), chunk):
            part = rows[start: start + chunk]
            _, scale, angle, x, y = idx[part].T
            half = _SCALE[scale] * np.float32(SIDE / 2)
            a, b = (_COS[angle] / half)[:, None], (_SIN[angle] / half)[:, None]  # (B, 1)
            cx, cy = _POS[x], _POS[y]  # sprite centre, in image widths
            col = np.floor(cx * size).astype(np.int64)[:, None] - reach + window  # (B, 2R)
            row = np.floor(cy * size).astype(np.int64)[:, None] - reach + window  # (B, 2R)
            dx = (col + np.float32(0.5)).astype(np.float32) / size - cx[:, None]  # rightwards
            dy = cy[:, None] - (row + np.float32(0.5)).astype(np.float32) / size  # upwards
            u = (dx * a)[:, None, :] + (dy * b)[:, :, None]  # (B, 2R, 2R): pixels in the
            v = (dy * a)[:, :, None] - (dx * b)[:, None, :]  # sprite's frame, turned anticlockwise
            canvas = np.zeros((len(part), size + 2 * reach, size + 2 * reach), dtype=np.uint8)
            batch = np.arange(len(part))[:, None, None]
            canvas[batch, row[:, :, None] + reach, col[:, None, :] + reach] = \
                _inside(shape, u, v).astype(np.uint8) * np.uint8(255)
            out[part, 0] = canvas[:, reach: reach + size, reach: reach + size]
    return out


class Shapes(Dataset):
    """dSprites-style sprites rendered procedurally at 64 (default) or 32 pixels."""

    name = "shapes"
    image_shape = (1, 64, 64)  # the default; an instance made with image_size=32 has (1, 32, 32)
    factors = FACTORS
    splits = ("train", "grid", "test")
    training_split = "grid"
    needs_files = False

    def __init__(self, image_size: int | None = None, train_size: int = 20_000,
                 test_size: int = 5_000, seed: int = 0, cache: bool = True):
        self.image_size = check_image_size(self.name, image_size, (64, 32))
        self.image_shape = (1, self.image_size, self.image_size)
        for label, value, low in (("train_size", train_size, 1), ("test_size", test_size, 1),
                                  ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                kind = "a positive integer" if low else "a non-negative integer"
                raise DisentangleError(f"dataset 'shapes': {label} must be {kind}, not {value!r}")
        if train_size + test_size > GRID_SIZE:
            raise DisentangleError(f"dataset 'shapes': train_size + test_size is at most "
                                   f"{GRID_SIZE:,}, the size of the factor grid")
        self.train_size, self.test_size, self.seed = train_size, test_size, seed
        self.cache = cache  # keep rendered splits in DATA_DIR/.cache

    def grid_positions(self, split: str) -> np.ndarray:
        """The fixed sample of grid positions making up `train` or `test` (disjoint)."""
        chosen = np.random.default_rng(self.seed).choice(
            GRID_SIZE, self.train_size + self.test_size, replace=False)
        return chosen[: self.train_size] if split == "train" else chosen[self.train_size:]

    def load(self, split: str = "train", data_dir: Path | None = None,
             download: bool = False) -> ImageData:
        check_split(self, split)
        if split == "grid":
            positions = np.setdiff1d(np.arange(GRID_SIZE), self.grid_positions("test"))
            factors = grid_factors(positions, self.factors)
            return ImageData(images=torch.from_numpy(render_sprites(factors, self.image_size)),
                             factors=torch.from_numpy(factors))

        def build(f):
            factors = grid_factors(self.grid_positions(split), self.factors)
            f.create_dataset("images", data=render_sprites(factors, self.image_size))
            f.create_dataset("factors", data=factors.astype(np.int32))

        key = {"dataset": self.name, "version": RENDER_VERSION, "size": self.image_size,
               "split": split, "train_size": self.train_size, "test_size": self.test_size,
               "seed": self.seed}
        path = None
        if self.cache:
            path = cache_dir(resolve_data_dir(data_dir)) / f"shapes-{self.image_size}px-{split}.h5"
        with open_cache(path, key, build) as f:
            arrays = read_tensors(f)
        return ImageData(images=arrays["images"], factors=arrays["factors"].to(torch.int64))

    def render(self, factor_indices: np.ndarray, data_dir: Path | None = None) -> torch.Tensor:
        idx = check_indices(factor_indices, self.factors, self.name)
        return torch.from_numpy(render_sprites(idx, self.image_size))
