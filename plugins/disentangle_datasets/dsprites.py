"""dSprites (Matthey et al., 2017): 737,280 64x64 binary sprites, every combination of 6 factors.

There is no official split; ours is a fixed seeded permutation of the grid, 90 % train, 10 % test.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from disentangle.data import GridFileDataset, check_enumerates_grid, expect_array, load_npz
from disentangle.datasets import Factor
from disentangle.errors import DisentangleError

FILENAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"


class DSprites(GridFileDataset):
    """White sprites on black: shape, scale, orientation and position; stored as 0/255."""

    name = "dsprites"
    image_shape = (1, 64, 64)
    factors = (
        Factor("color", (1.0,)),  # one value: metrics must skip a factor that never varies
        Factor("shape", (1.0, 2.0, 3.0)),  # square, ellipse, heart
        Factor("scale", tuple(np.linspace(0.5, 1.0, 6).tolist())),
        Factor("orientation", tuple(np.linspace(0.0, 2 * np.pi, 40).tolist())),  # 0 and 2pi both
        Factor("posX", tuple(np.linspace(0.0, 1.0, 32).tolist())),
        Factor("posY", tuple(np.linspace(0.0, 1.0, 32).tolist())),
    )
    folder = "dsprites"
    filename = FILENAME
    url = f"https://github.com/deepmind/dsprites-dataset/raw/master/{FILENAME}"
    md5 = "7da33b31b13a06f4b04a70402ce90c2e"

    def read_grid(self, path: Path) -> Callable[[np.ndarray], np.ndarray]:
        arrays = load_npz(path, ["imgs", "latents_classes", "latents_values"])
        k = len(self.factors)
        imgs = expect_array(arrays["imgs"], "imgs", path, (None, 64, 64), [np.uint8])
        classes = expect_array(arrays["latents_classes"], "latents_classes", path,
                               (len(imgs), k), [np.int64, np.int32])
        expect_array(arrays["latents_values"], "latents_values", path, (len(imgs), k),
                     [np.float64, np.float32])
        check_enumerates_grid(classes, self.factors, path)
        if imgs.max(initial=0) > 1:
            raise DisentangleError(f"{path}: imgs must hold 0 and 1 only, found {imgs.max()}")
        return lambda rows: imgs[rows][:, None] * np.uint8(255)
