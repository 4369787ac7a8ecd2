"""Your own pictures: any folder of PNG and JPEG files, searched recursively, as a dataset.

Like torchvision's ImageFolder, a folder whose images all sit in sub-folders gets class labels
from them (`DIR/cat/…`, `DIR/dog/…`: classes "cat" and "dog", the first level only). Every
image is cropped to its centre square and resized to --image-size (default 32) in RGB, then
cached in HDF5 like the other datasets, with a 90/10 train/test split by a hash of each path. A
file that cannot be decoded is skipped and reported by name on the `disentangle.data` logger,
one line each, then a count; no readable image at all is an error. The first conversion shows
a bar on stderr counting the files (`disentangle run`, unless --quiet).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from disentangle.data import (
    cache_dir,
    check_split,
    open_cache,
    progress,
    read_rgb,
    read_tensors,
    source_identity,
)
from disentangle.datasets import Dataset, ImageData
from disentangle.errors import DisentangleError

CONVERTER_VERSION = 2  # 2: the split by each path's hash
EXTENSIONS = (".png", ".jpg", ".jpeg")
DEFAULT_SIZE = 32
TEST_FRACTION = 0.1
BLOCK = 1024  # images decoded (in threads) and written per block

log = logging.getLogger("disentangle.data")


def find_images(root: Path) -> list[Path]:
    """PNG and JPEG files under `root`, recursively, sorted; hidden files and folders (the
    .cache/ inside the folder, for one) are left out. Links to folders are followed, as
    torchvision's ImageFolder follows them (a class folder linked in from elsewhere), each
    folder once: a link back up does not loop."""
    found, seen = [], set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        stat = os.stat(folder)
        if (stat.st_dev, stat.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((stat.st_dev, stat.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(folder) / f for f in files
                  if not f.startswith(".") and f.lower().endswith(EXTENSIONS)]
    return sorted(found)


def class_labels(root: Path, files: list[Path]) -> tuple[tuple[str, ...], np.ndarray | None]:
    """ImageFolder's rule: when no image sits directly in `root`, each first-level sub-folder
    is a class (sorted names, indices in that order); otherwise there are no labels."""
    tops = [f.relative_to(root).parts[0] if len(f.relative_to(root).parts) > 1 else None
            for f in files]
    if not files or None in tops:
        return (), None
    names = tuple(sorted(set(tops)))
    index = {name: i for i, name in enumerate(names)}
    return names, np.array([index[t] for t in tops], dtype=np.int64)


def centre_square(image, size: int, side: int | None = None) -> np.ndarray:
    """A PIL RGB image -> (3, size, size) uint8: the centre square of `side` pixels (default: its
    shorter side), resized with PIL's bilinear (antialiased) filter."""
    from PIL import Image

    width, height = image.size
    side = min(width, height) if side is None else side
    left, top = (width - side) // 2, (height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    square = square.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(square, dtype=np.uint8).transpose(2, 0, 1)


def split_by_name(names: list[str]) -> dict[str, np.ndarray]:
    """Indices of `names` (relative paths) in each split: `test` is the 10 % (at least one image
    when there are two) whose paths have the lowest SHA-256. Why not a seeded permutation of the
    sorted list: adding one file that sorts first moved most test images into train (88 of 100
    with 1,000 images). Ranked by a hash of its own path, an image keeps its side as the folder
    grows, except that each image the test split gains (one per ten added) may be an old one."""
    n = len(names)
    test = max(1, round(n * TEST_FRACTION)) if n >= 2 else 0
    digests = [hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest() for name in names]
    order = np.array(sorted(range(n), key=digests.__getitem__), dtype=np.int64)
    return {"train": np.sort(order[test:]), "test": np.sort(order[:test])}


class Folder(Dataset):
    """The PNG and JPEG images under --data-dir; classes from sub-folders when all images sit in
    them."""

    name = "folder"
    image_shape = (3, DEFAULT_SIZE, DEFAULT_SIZE)  # an instance has (3, image_size, image_size)

    def __init__(self, image_size: int | None = None):
        size = DEFAULT_SIZE if image_size is None else image_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 4:
            raise DisentangleError(f"dataset 'folder': --image-size must be a whole number of at "
                                   f"least 4 pixels, got {image_size!r}")
        self.image_size = size
        self.image_shape = (3, size, size)

    def load(self, split: str = "train", data_dir: Path | None = None,
             download: bool = False) -> ImageData:
        check_split(self, split)
        if data_dir is None:
            raise DisentangleError("dataset 'folder' reads the images under --data-dir DIR "
                                   "(data_dir= in Python); give the folder that holds them")
        root = Path(data_dir).expanduser()
        if not root.is_dir():
            raise DisentangleError(f"folder: {root} is not a directory; --data-dir must be the "
                                   "folder that holds your PNG or JPEG images")
        files = find_images(root)
        if not files:
            raise DisentangleError(f"folder: no PNG or JPEG images in {root} (searched "
                                   "recursively); --data-dir must be the folder that holds them")
        identity = json.dumps(source_identity(*files)).encode()
        key = {"dataset": self.name, "root": str(root.resolve()), "size": self.image_size,
               "version": CONVERTER_VERSION, "split": ["sha256", TEST_FRACTION],
               "images": len(files), "sources": hashlib.sha256(identity).hexdigest()}
        place = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]
        path = cache_dir(root) / f"folder-{place}-{self.image_size}px.h5"
        with open_cache(path, key, lambda f: self._build(f, root, files)) as f:
            self.class_names = tuple(json.loads(f.attrs["class_names"]))
            arrays = read_tensors(f[split])
        if len(arrays["images"]) == 0:
            raise DisentangleError(f"folder: the {split} split of {root} is empty; it needs at "
                                   "least two readable images")
        labels = arrays.get("labels")
        return ImageData(images=arrays["images"],
                         labels=labels.to(torch.int64) if labels is not None else None)

    def _build(self, f, root: Path, files: list[Path]) -> None:
        names, labels = class_labels(root, files)
        size = self.image_size
        images = np.empty((len(files), 3, size, size), dtype=np.uint8)
        good = np.zeros(len(files), dtype=bool)

        def convert(path: Path) -> np.ndarray | None:
            try:
                return centre_square(read_rgb(path), size)
            except DisentangleError as exc:
                log.warning("%s; skipped", exc)  # names the file and why, one line
                return None

        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool, \
                progress(len(files), f"folder: reading {root.name}/") as advance:
            for start in range(0, len(files), BLOCK):
                for i, image in enumerate(pool.map(convert, files[start:start + BLOCK]), start):
                    if image is not None:
                        images[i], good[i] = image, True
                    advance(1)
        bad = len(files) - int(good.sum())
        if bad:
            log.warning("folder: %d of %d images in %s could not be read and were skipped",
                        bad, len(files), root)
        if not good.any():
            raise DisentangleError(f"folder: none of the {len(files)} images in {root} could be "
                                   "read (see the lines above)")
        kept = np.flatnonzero(good)
        paths = [files[i].relative_to(root).as_posix() for i in kept]
        for split, rows in split_by_name(paths).items():
            group = f.create_group(split)
            group.create_dataset("images", data=images[kept[rows]])
            if labels is not None:
                group.create_dataset("labels", data=labels[kept[rows]])
        f.attrs["class_names"] = json.dumps(list(names))
