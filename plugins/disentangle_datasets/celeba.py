"""CelebA aligned faces: centre-cropped and resized to 32 or 64 pixels, with 40 attributes.

The files cannot be downloaded here (Google Drive quotas); place them by hand under
DATA_DIR/celeba/ as torchvision lays them out (or point the data dir at that folder itself).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from disentangle.data import (
    cache_dir,
    check_image_size,
    check_split,
    find_in,
    open_cache,
    read_rgb,
    read_tensors,
    resolve_data_dir,
    source_identity,
)
from disentangle.datasets import Dataset, ImageData
from disentangle.errors import DisentangleError
from disentangle_datasets.folder import centre_square

CONVERTER_VERSION = 1
HOMEPAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
ALIGNED_SIZE = (178, 218)  # width, height of img_align_celeba/*.jpg
CROP = 140  # centre square kept before resizing: the face without most of the background
ATTR_FILE, PARTITION_FILE, IMAGE_DIR = "list_attr_celeba.txt", "list_eval_partition.txt", \
    "img_align_celeba"
SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}
ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup",
    "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns",
    "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)


def read_attributes(path: Path) -> tuple[list[str], np.ndarray]:
    """list_attr_celeba.txt -> (file names, (N, 40) uint8 in {0, 1})."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DisentangleError(f"{path}: not a readable text file ({exc})") from exc
    if len(lines) < 2 or not lines[0].strip().isdecimal():  # isdigit() takes '²'
        raise DisentangleError(f"{path}: expected a count, then the 40 attribute names, then "
                               "one line per image")
    count = int(lines[0])
    if tuple(lines[1].split()) != ATTRIBUTES:
        raise DisentangleError(f"{path}: the second line must name CelebA's 40 attributes")
    rows = [line.split() for line in lines[2:] if line.strip()]
    if len(rows) != count:
        raise DisentangleError(f"{path}: the header promises {count} images, the file lists "
                               f"{len(rows)}")
    bad = next((i for i, r in enumerate(rows) if len(r) != 41), None)
    if bad is not None:
        raise DisentangleError(f"{path}: line {bad + 3} has {len(rows[bad]) - 1} values, "
                               "expected a file name and 40 values")
    try:
        values = np.array([r[1:] for r in rows], dtype=np.int64).reshape(len(rows), 40)
    except ValueError as exc:
        raise DisentangleError(f"{path}: attribute values must be -1 or 1 ({exc})") from exc
    if not np.isin(values, (-1, 1)).all():
        raise DisentangleError(f"{path}: attribute values must be -1 or 1")
    return [r[0] for r in rows], (values > 0).astype(np.uint8)


def read_partition(path: Path) -> dict[str, int]:
    """list_eval_partition.txt -> file name: 0 train / 1 valid / 2 test."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DisentangleError(f"{path}: not a readable text file ({exc})") from exc
    partition = {}
    for number, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise DisentangleError(f"{path}: line {number} must be '<file name> <0|1|2>', "
                                   f"found {line.strip()!r}")
        partition[parts[0]] = int(parts[1])
    return partition


class CelebA(Dataset):
    """202,599 aligned celebrity faces in the official train/valid/test partition; no classes."""

    name = "celeba"
    image_shape = (3, 32, 32)  # the default; an instance made with image_size=64 has (3, 64, 64)
    attribute_names = ATTRIBUTES
    splits = ("train", "valid", "test")
    folder = "celeba"

    def __init__(self, image_size: int | None = None):
        self.image_size = check_image_size(self.name, image_size, (32, 64))
        self.image_shape = (3, self.image_size, self.image_size)

    def load(self, split: str = "train", data_dir: Path | None = None,
             download: bool = False) -> ImageData:
        check_split(self, split)
        data_dir = resolve_data_dir(data_dir)
        root = data_dir / self.folder
        how = (f"CelebA cannot be downloaded automatically (it is shared through Google Drive): "
               f"get img_align_celeba.zip, {ATTR_FILE} and {PARTITION_FILE} from {HOMEPAGE}, "
               f"unzip the images into {root / IMAGE_DIR}/ and put the two text files in {root}/")
        # ours and torchvision's: DATA_DIR/celeba/; also DATA_DIR itself being that folder
        attr_path = find_in([root, data_dir], [ATTR_FILE], self.name, how)
        root = attr_path.parent
        part_path = find_in([root], [PARTITION_FILE], self.name, how)
        image_dir = root / IMAGE_DIR
        if not image_dir.is_dir():
            raise DisentangleError(f"{self.name}: {IMAGE_DIR}/ not found in {root}; {how}")

        def build(f):
            names, attributes = read_attributes(attr_path)
            partition = read_partition(part_path)
            row_of = {n: i for i, n in enumerate(names)}
            unknown = [n for n in partition if n not in row_of]
            if unknown:
                raise DisentangleError(f"{part_path} lists {unknown[0]}, which {attr_path} "
                                       "does not")
            for split_name, code in SPLIT_CODES.items():
                files = [n for n, c in partition.items() if c == code]
                self._write_split(f.create_group(split_name), image_dir, files,
                                  attributes[[row_of[n] for n in files]])

        key = {"dataset": self.name, "size": self.image_size, "crop": CROP,
               "version": CONVERTER_VERSION,
               "sources": source_identity(attr_path, part_path, image_dir)}
        path = cache_dir(data_dir) / f"{self.name}-{self.image_size}px.h5"
        with open_cache(path, key, build) as f:
            arrays = read_tensors(f[split])
        return ImageData(images=arrays["images"], attributes=arrays["attributes"])

    def _write_split(self, group, image_dir: Path, files: list[str], attributes: np.ndarray,
                     block: int = 2048) -> None:
        size = self.image_size
        images = group.create_dataset("images", shape=(len(files), 3, size, size), dtype=np.uint8)
        group.create_dataset("attributes", data=attributes)

        def convert(name: str) -> np.ndarray:
            path = image_dir / name
            if not path.is_file():
                raise DisentangleError(f"{self.name}: {name} is listed in {PARTITION_FILE} but "
                                       f"missing from {image_dir}")
            image = read_rgb(path)
            if image.size != ALIGNED_SIZE:
                raise DisentangleError(f"{path}: {image.size[0]}x{image.size[1]} pixels, "
                                       f"expected the aligned {ALIGNED_SIZE[0]}x"
                                       f"{ALIGNED_SIZE[1]}")
            return centre_square(image, size, side=CROP)  # the 140x140 face

        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            for start in range(0, len(files), block):
                chunk = list(pool.map(convert, files[start: start + block]))
                if chunk:
                    images[start: start + len(chunk)] = np.stack(chunk)
