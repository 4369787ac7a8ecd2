"""The dataset interface: what a method, a metric and the CLI may rely on.

A dataset hands out whole splits as uint8 tensors held in memory, so training batches by indexing
with no per-sample work. Datasets with ground-truth factors also say how to render (or look up) an
image for any chosen factor combination, which the intervention-based metrics need.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

DATA_DIR_ENV = "DISENTANGLE_DATA_DIR"


def default_data_dir() -> Path:
    """$DISENTANGLE_DATA_DIR, else the per-user cache directory."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "disentangle" / "data"


@dataclass(frozen=True)
class Factor:
    """One ground-truth factor of variation and the values it takes, in grid order."""

    name: str
    values: tuple[float, ...]

    @property
    def size(self) -> int:
        return len(self.values)


@dataclass
class ImageData:
    """One split in memory. Factors hold indices into each Factor's values, not the values."""

    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor | None = None  # (N,) int64 class index
    factors: torch.Tensor | None = None  # (N, K) int64 index per factor
    attributes: torch.Tensor | None = None  # (N, A) uint8 in {0, 1} (CelebA attributes)

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, n: int | None, seed: int) -> ImageData:
        """n rows drawn without replacement by a seeded permutation (all of them when n is None or
        not below the size): the same seed picks the same images in every caller, so evaluation
        and `select` read one sample."""
        if n is None or n >= len(self):
            return self
        index = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        take = lambda t: None if t is None else t[index]  # noqa: E731
        return ImageData(self.images[index], take(self.labels), take(self.factors),
                         take(self.attributes))


class Dataset(ABC):
    """An image dataset registered under `name`. Subclasses set the class attributes."""

    name: str
    image_shape: tuple[int, int, int]  # (C, H, W)
    class_names: tuple[str, ...] = ()  # empty when the data has no class labels
    attribute_names: tuple[str, ...] = ()
    factors: tuple[Factor, ...] = ()  # empty when the data has no ground-truth factors
    splits: tuple[str, ...] = ("train", "test")
    # the split a method trains on; evaluation fits on "train" and scores on "test". A procedural
    # dataset can train on far more images than evaluation needs (shapes: the whole grid)
    training_split: str = "train"
    needs_files: bool = True  # False for embedded datasets that work offline with no data dir
    # Run settings to start from on this dataset (RunConfig field names, e.g. {"codes": [...],
    # "noise_dim": 62, "steps": 5000}); a TOML file and flags override them. Built-in datasets
    # keep theirs in disentangle.training.config.PRESETS.
    preset: ClassVar[dict[str, Any]] = {}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @abstractmethod
    def load(self, split: str = "train", data_dir: Path | None = None,
             download: bool = False) -> ImageData:
        """Read one split into memory, raising DisentangleError for missing or bad files."""

    def render(self, factor_indices: np.ndarray, data_dir: Path | None = None) -> torch.Tensor:
        """Images (N, C, H, W) uint8 for factor indices (N, K); only for datasets with factors."""
        raise NotImplementedError(f"dataset '{self.name}' cannot render chosen factors")
