"""Two factor datasets for tests: a dot on an 8x8 grid (`dots`), and the same with a leading
factor that takes one value (`dots-colour`, as dSprites' colour). Loaded by the CLI through
DISENTANGLE_PLUGINS=dots_plugin with this folder on PYTHONPATH."""

import torch

from disentangle import Component, Details, hookimpl
from disentangle.data import check_image_size, check_indices, check_split, grid_factors, split_grid
from disentangle.datasets import Dataset, Factor, ImageData

GRID = tuple(float(i) for i in range(8))


class Dots(Dataset):
    name = "dots"
    image_shape = (1, 16, 16)
    factors = (Factor("x", GRID), Factor("y", GRID))
    splits = ("train", "test")
    needs_files = False
    preset = {"codes": ["uniform:1", "uniform:1"], "noise_dim": 2, "backbone": "tiny"}

    def __init__(self, image_size=None):
        check_image_size(self.name, image_size, (16,))

    def render(self, factor_indices, data_dir=None):
        idx = check_indices(factor_indices, self.factors, self.name)  # (N, K)
        images = torch.zeros(len(idx), 1, 16, 16, dtype=torch.uint8)
        for i, (x, y) in enumerate(idx[:, -2:]):
            images[i, 0, 2 * y:2 * y + 2, 2 * x:2 * x + 2] = 255
        return images

    def load(self, split="train", data_dir=None, download=False):
        check_split(self, split)
        factors = grid_factors(split_grid(64, test_fraction=0.25, seed=0)[split], self.factors)
        return ImageData(images=self.render(factors), factors=torch.from_numpy(factors))


class DotsWithColour(Dots):
    name = "dots-colour"
    factors = (Factor("colour", (1.0,)), *Dots.factors)


@hookimpl
def disentangle_datasets():
    for cls in (Dots, DotsWithColour):
        yield Component(cls.name, cls, "a dot on an 8x8 grid",
                        details=Details(shape="1x16x16", targets="factors", files="none"))
