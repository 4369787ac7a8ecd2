"""SVHN (Street View House Numbers), cropped 32x32 digits, from the original MATLAB files, in
DATA_DIR/SVHN/ or, as torchvision keeps them, directly in DATA_DIR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from disentangle.data import (
    FETCH,
    cache_dir,
    check_image_size,
    check_split,
    expect_array,
    fetch,
    find_in,
    load_mat,
    open_cache,
    read_tensors,
    resolve_data_dir,
    source_identity,
)
from disentangle.datasets import Dataset, ImageData
from disentangle.errors import DisentangleError

CONVERTER_VERSION = 1
HOMEPAGE = "http://ufldl.stanford.edu/housenumbers/"


class SVHN(Dataset):
    """73,257 train, 26,032 test (and 531,131 'extra') colour digits; label 10 in the files is 0."""

    name = "svhn"
    image_shape = (3, 32, 32)
    class_names = tuple(str(d) for d in range(10))
    splits = ("train", "test", "extra")
    folder = "SVHN"

    def __init__(self, image_size: int | None = None):
        check_image_size(self.name, image_size, (32,))

    def load(self, split: str = "train", data_dir: Path | None = None,
             download: bool = False) -> ImageData:
        check_split(self, split)
        data_dir = resolve_data_dir(data_dir)
        folder = data_dir / self.folder
        filename = f"{split}_32x32.mat"
        # ours: ROOT/SVHN/; torchvision keeps the .mat files flat in its root
        folders = [folder, data_dir]
        how = f"place {filename} from {HOMEPAGE} there"
        if download and not any((f / filename).is_file() for f in folders):
            from torchvision.datasets import SVHN as Source

            url, name, md5 = Source.split_list[split]
            fetch(url, folder / name, md5)
        path = find_in(folders, [filename], self.name, how, f"{FETCH} into {folder}")

        def build(f):
            arrays = load_mat(path, ["X", "y"])
            x = expect_array(arrays["X"], "X", path, (32, 32, 3, None), [np.uint8])
            n = x.shape[3]
            y = arrays["y"]
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
            y = expect_array(y, "y", path, (n,))
            if not np.issubdtype(y.dtype, np.number) or n and (
                    y.min() < 1 or y.max() > 10 or not np.array_equal(y, np.round(y))):
                raise DisentangleError(f"{path}: y must hold the labels 1..10 (10 for the digit "
                                       "0)")
            f.create_dataset("images", data=np.ascontiguousarray(x.transpose(3, 2, 0, 1)))
            f.create_dataset("labels", data=(y.astype(np.int64) % 10))

        key = {"dataset": self.name, "split": split, "version": CONVERTER_VERSION,
               "sources": source_identity(path)}
        with open_cache(cache_dir(data_dir) / f"{self.name}-{split}.h5", key, build) as f:
            arrays = read_tensors(f)
        return ImageData(images=arrays["images"], labels=arrays["labels"].to(torch.int64))
