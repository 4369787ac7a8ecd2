"""Example third-party dataset with ground-truth factors: a bar crossing, drawn on the fly.

Every image is a pure function of three factors: the row of a horizontal bar (8 values), the
column of a vertical bar (8 values) and their thickness (1 or 2 grid steps). The grid has 128
combinations, so a fixed quarter of it is the test split. docs/plugins.md walks through it.
"""

import numpy as np
import torch

from disentangle import Component, Details, hookimpl
from disentangle.data import check_image_size, check_indices, check_split, grid_factors, split_grid
from disentangle.datasets import Dataset, Factor, ImageData

FACTORS = (
    Factor("row", tuple(float(i) for i in range(8))),  # values in grid order; indices 0..7
    Factor("column", tuple(float(i) for i in range(8))),
    Factor("thickness", (1.0, 2.0)),
)


class Bars(Dataset):
    name = "bars"
    image_shape = (1, 32, 32)  # the default; Bars(image_size=16) has (1, 16, 16)
    factors = FACTORS
    splits = ("train", "test")
    needs_files = False  # drawn, not read: no data directory needed
    # Where `disentangle run METHOD --dataset bars` starts (flags and --config override it).
    preset = {"codes": ["uniform:1", "uniform:1", "categorical:2"], "noise_dim": 4,
              "backbone": "tiny", "steps": 300}

    def __init__(self, image_size=None):
        self.image_size = check_image_size(self.name, image_size, (32, 16))
        self.image_shape = (1, self.image_size, self.image_size)  # per instance

    def render(self, factor_indices, data_dir=None):
        idx = check_indices(factor_indices, self.factors, self.name)  # (N, 3) int64, checked
        step = self.image_size // 8
        images = np.zeros((len(idx), 1, self.image_size, self.image_size), dtype=np.uint8)
        for i, (row, column, thick) in enumerate(idx):
            width = (thick + 1) * max(1, step // 2)  # 2 or 4 px at 32 px
            images[i, 0, row * step: row * step + width, :] = 255
            images[i, 0, :, column * step: column * step + width] = 255
        return torch.from_numpy(images)

    def load(self, split="train", data_dir=None, download=False):
        check_split(self, split)
        total = int(np.prod([f.size for f in self.factors]))
        positions = split_grid(total, test_fraction=0.25, seed=0)[split]  # fixed, disjoint
        factors = grid_factors(positions, self.factors)  # (N, 3) indices, row-major grid
        return ImageData(images=self.render(factors), factors=torch.from_numpy(factors))


@hookimpl
def disentangle_datasets():
    yield Component("bars", Bars, "a horizontal and a vertical bar; 3 factors, 128 images",
                    details=Details(shape="1x32x32, 1x16x16", targets="3 factors", files="none"))
