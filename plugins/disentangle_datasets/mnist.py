"""MNIST and Fashion-MNIST from their IDX files, laid out as torchvision does (ROOT/MNIST/raw/),
or directly in ROOT/MNIST/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from disentangle.data import (
    FETCH,
    cache_dir,
    check_image_size,
    check_split,
    fetch,
    find_in,
    open_cache,
    read_idx,
    read_tensors,
    resolve_data_dir,
    source_identity,
)
from disentangle.datasets import Dataset, ImageData
from disentangle.errors import DisentangleError

CONVERTER_VERSION = 1


class MNIST(Dataset):
    """LeCun et al.'s 70,000 handwritten digits: 60,000 train, 10,000 test, 28x28 grey."""

    name = "mnist"
    image_shape = (1, 28, 28)
    class_names = tuple(str(d) for d in range(10))
    splits = ("train", "test")
    folder = "MNIST"
    homepage = "http://yann.lecun.com/exdb/mnist/"
    torchvision_class = "MNIST"  # where the download URLs and MD5 sums come from

    def __init__(self, image_size: int | None = None):
        check_image_size(self.name, image_size, (28,))

    def raw_dir(self, data_dir: Path) -> Path:
        return data_dir / self.folder / "raw"

    def folders(self, data_dir: Path) -> list[Path]:
        """Where the IDX files may be: ROOT/MNIST/raw/ (ours and torchvision's), ROOT/MNIST/."""
        return [self.raw_dir(data_dir), data_dir / self.folder]

    def _file(self, data_dir: Path, stem: str, download: bool) -> Path:
        names = (stem, f"{stem}.gz")
        how = (f"place the IDX files from {self.homepage} (gzipped or not) in "
               f"{self.raw_dir(data_dir)}")
        try:
            return find_in(self.folders(data_dir), names, self.name, how, FETCH)
        except DisentangleError:
            if not download:
                raise
        self.download(data_dir)
        return find_in(self.folders(data_dir), names, self.name, how, FETCH)

    def download(self, data_dir: Path) -> None:
        """Fetch the four gzipped IDX files from torchvision's mirrors, checking their MD5."""
        import torchvision.datasets as tvd

        source = getattr(tvd, self.torchvision_class)
        raw = self.raw_dir(Path(data_dir))
        for filename, md5 in source.resources:
            if not (raw / filename).is_file() and not (raw / filename[:-3]).is_file():
                fetch([m + filename for m in source.mirrors], raw / filename, md5)

    def load(self, split: str = "train", data_dir: Path | None = None,
             download: bool = False) -> ImageData:
        check_split(self, split)
        data_dir = resolve_data_dir(data_dir)
        prefix = "train" if split == "train" else "t10k"
        images_path = self._file(data_dir, f"{prefix}-images-idx3-ubyte", download)
        labels_path = self._file(data_dir, f"{prefix}-labels-idx1-ubyte", download)

        def build(f):
            images = read_idx(images_path, 3)
            labels = read_idx(labels_path, 1)
            if images.shape[1:] != (28, 28):
                raise DisentangleError(f"{images_path}: images are {images.shape[1]}x"
                                       f"{images.shape[2]}, expected 28x28")
            if len(labels) != len(images):
                raise DisentangleError(f"{labels_path} holds {len(labels)} labels but "
                                       f"{images_path} holds {len(images)} images")
            if len(labels) and labels.max() >= len(self.class_names):
                raise DisentangleError(f"{labels_path}: label {labels.max()} is not a class "
                                       f"index 0..{len(self.class_names) - 1}")
            f.create_dataset("images", data=images[:, None])
            f.create_dataset("labels", data=labels.astype(np.int64))

        key = {"dataset": self.name, "split": split, "version": CONVERTER_VERSION,
               "sources": source_identity(images_path, labels_path)}
        with open_cache(cache_dir(data_dir) / f"{self.name}-{split}.h5", key, build) as f:
            arrays = read_tensors(f)
        return ImageData(images=arrays["images"], labels=arrays["labels"].to(torch.int64))


class FashionMNIST(MNIST):
    """Zalando's 70,000 clothing images in MNIST's format and layout."""

    name = "fashion-mnist"
    class_names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
    folder = "FashionMNIST"
    homepage = "https://github.com/zalandoresearch/fashion-mnist"
    torchvision_class = "FashionMNIST"
