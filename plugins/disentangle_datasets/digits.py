"""scikit-learn's 1,797 real handwritten digits (UCI), enlarged to MNIST's 28x28 layout.

Embedded: works offline with no data directory, which is why `disentangle run` uses it by default.
The 8x8 images (values 0..16) are scaled to 0..255 and resized bilinearly to 20x20, then padded
with 4 black pixels on each side, as MNIST fits its digits in a 20x20 box inside 28x28.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from disentangle.data import (
    cache_dir,
    check_image_size,
    check_split,
    open_cache,
    read_tensors,
    resolve_data_dir,
)
from disentangle.datasets import Dataset, ImageData

CONVERTER_VERSION = 1
SPLIT_SEED, TEST_SIZE = 0, 300  # a fixed split: 1,497 train, 300 test


def to_mnist_layout(images: np.ndarray) -> np.ndarray:
    """(N, 8, 8) values 0..16 -> (N, 1, 28, 28) uint8: 20x20 digit centred in a 28x28 frame."""
    x = torch.from_numpy(np.asarray(images, dtype=np.float32))[:, None] * (255.0 / 16.0)
    x = F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False, antialias=True)
    x = F.pad(x.round().clamp(0, 255), (4, 4, 4, 4))  # (N, 1, 28, 28)
    return x.to(torch.uint8).numpy()


class Digits(Dataset):
    """Handwritten digits 0-9 from 43 writers (scikit-learn `load_digits`), 1x28x28."""

    name = "digits"
    image_shape = (1, 28, 28)
    class_names = tuple(str(d) for d in range(10))
    splits = ("train", "test")
    needs_files = False

    def __init__(self, image_size: int | None = None, cache: bool = True):
        check_image_size(self.name, image_size, (28,))
        self.cache = cache  # keep the converted arrays in DATA_DIR/.cache (skips sklearn's import)

    def load(self, split: str = "train", data_dir: Path | None = None,
             download: bool = False) -> ImageData:
        check_split(self, split)

        def build(f):
            from sklearn.datasets import load_digits

            digits = load_digits()
            images, labels = to_mnist_layout(digits.images), digits.target.astype(np.int64)
            order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
            for name, rows in (("train", order[TEST_SIZE:]), ("test", order[:TEST_SIZE])):
                f.create_dataset(f"{name}/images", data=images[rows])
                f.create_dataset(f"{name}/labels", data=labels[rows])

        key = {"dataset": self.name, "version": CONVERTER_VERSION,
               "scikit-learn": metadata.version("scikit-learn")}
        path = cache_dir(resolve_data_dir(data_dir)) / "digits.h5" if self.cache else None
        with open_cache(path, key, build) as f:
            arrays = read_tensors(f[split])
        return ImageData(images=arrays["images"], labels=arrays["labels"].to(torch.int64))
