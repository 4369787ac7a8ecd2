"""3D Shapes (Burgess & Kim, 2018): 480,000 64x64 renders of every combination of 6 factors.

There is no official split; ours is a fixed seeded permutation of the grid, 90 % train, 10 % test.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from disentangle.data import (
    GridFileDataset,
    check_enumerates_grid,
    expect_array,
    h5_array,
    open_h5,
    read_h5,
    values_to_indices,
)
from disentangle.datasets import Factor
from disentangle.errors import DisentangleError

HUES = tuple(np.round(np.arange(10) / 10, 1).tolist())  # 0.0, 0.1, ..., 0.9


class Shapes3D(GridFileDataset):
    """Floor, wall and object hue, scale, shape and orientation of a rendered 3D object."""

    name = "shapes3d"
    image_shape = (3, 64, 64)
    factors = (
        Factor("floor_hue", HUES),
        Factor("wall_hue", HUES),
        Factor("object_hue", HUES),
        Factor("scale", tuple(np.linspace(0.75, 1.25, 8).tolist())),
        Factor("shape", (0.0, 1.0, 2.0, 3.0)),  # cube, cylinder, sphere, capsule
        Factor("orientation", tuple(np.linspace(-30.0, 30.0, 15).tolist())),  # degrees
    )
    folder = "3dshapes"
    filename = "3dshapes.h5"
    url = "https://storage.googleapis.com/3d-shapes/3dshapes.h5"
    md5 = "099a2078d58cec4daad0702c55d06868"

    def read_grid(self, path: Path) -> Callable[[np.ndarray], np.ndarray]:
        with open_h5(path) as source:
            images = expect_array(h5_array(source, "images", path), "images", path,
                                  (None, 64, 64, 3), [np.uint8])
            labels = expect_array(h5_array(source, "labels", path), "labels", path,
                                  (None, len(self.factors)), [np.float64, np.float32])
            if labels.shape[0] != images.shape[0]:
                raise DisentangleError(f"{path}: {images.shape[0]} images but {labels.shape[0]} "
                                       "label rows")
            check_enumerates_grid(values_to_indices(read_h5(labels, path), self.factors, path),
                                  self.factors, path)
            pixels = read_h5(images, path)  # (N, 64, 64, 3): the whole file in memory, once
        return lambda rows: pixels[rows].transpose(0, 3, 1, 2)
