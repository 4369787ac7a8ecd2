"""Writers of small files in exactly each dataset's published format (shared by the tests)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import h5py
import numpy as np

from disentangle.datasets import Factor


def cache_files(data_dir: Path) -> list[str]:
    folder = data_dir / ".cache"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# --- IDX ----------------------------------------------------------------------------------------

def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    magic = (0x08 << 8) | array.ndim if magic is None else magic
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = False, magic: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array, magic)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def write_mnist(data_dir: Path, folder: str = "MNIST", gz: bool = False, n_train: int = 12,
                n_test: int = 5, seed: int = 0) -> dict:
    """Both splits of an MNIST-format dataset; returns the arrays written."""
    rng = np.random.default_rng(seed)
    raw = data_dir / folder / "raw"
    written = {}
    for prefix, split, n in (("train", "train", n_train), ("t10k", "test", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images, gz)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, gz)
        written[split] = (images, labels)
    return written


# --- small factor grids -------------------------------------------------------------------------

DSPRITES_SMALL = (
    Factor("color", (1.0,)),
    Factor("shape", (1.0, 2.0, 3.0)),
    Factor("scale", (0.5, 1.0)),
    Factor("orientation", (0.0, np.pi)),
    Factor("posX", (0.0, 1.0)),
    Factor("posY", (0.0, 0.5, 1.0)),
)  # 72 combinations

SHAPES3D_SMALL = (
    Factor("floor_hue", (0.0, 0.1)),
    Factor("wall_hue", (0.0, 0.1, 0.2)),
    Factor("object_hue", (0.5,)),
    Factor("scale", (0.75, 1.25)),
    Factor("shape", (0.0, 3.0)),
    Factor("orientation", (-30.0, 0.0, 30.0)),
)  # 72 combinations


def grid_rows(factors) -> np.ndarray:
    """Every combination of factor indices, row-major (the last factor fastest)."""
    sizes = [f.size for f in factors]
    return np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)


def grid_values(factors, rows: np.ndarray) -> np.ndarray:
    return np.stack([np.asarray(f.values)[rows[:, k]] for k, f in enumerate(factors)], axis=1)


def write_dsprites(data_dir: Path, factors=DSPRITES_SMALL, seed: int = 0, **override) -> dict:
    from disentangle_datasets.dsprites import FILENAME

    rows = grid_rows(factors)
    rng = np.random.default_rng(seed)
    arrays = {
        "imgs": rng.integers(0, 2, (len(rows), 64, 64), dtype=np.uint8),
        "latents_classes": rows.astype(np.int64),
        "latents_values": grid_values(factors, rows),
        **override,
    }
    folder = data_dir / "dsprites"
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / FILENAME, **{k: v for k, v in arrays.items() if v is not None})
    return arrays


def write_shapes3d(data_dir: Path, factors=SHAPES3D_SMALL, seed: int = 0, **override) -> dict:
    rows = grid_rows(factors)
    rng = np.random.default_rng(seed)
    arrays = {
        "images": rng.integers(0, 256, (len(rows), 64, 64, 3), dtype=np.uint8),
        "labels": grid_values(factors, rows),
        **override,
    }
    folder = data_dir / "3dshapes"
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / "3dshapes.h5", "w") as f:
        for key, value in arrays.items():
            if value is not None:
                f.create_dataset(key, data=value, compression="gzip")
    return arrays


# --- SVHN ---------------------------------------------------------------------------------------

def write_svhn(data_dir: Path, split: str = "train", n: int = 9, seed: int = 0, **override):
    import scipy.io

    rng = np.random.default_rng(seed)
    arrays = {
        "X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
        "y": rng.integers(1, 11, (n, 1)).astype(np.uint8),
        **override,
    }
    folder = data_dir / "SVHN"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{split}_32x32.mat"
    scipy.io.savemat(path, {k: v for k, v in arrays.items() if v is not None})
    return path, arrays


# --- CelebA -------------------------------------------------------------------------------------

def write_celeba(data_dir: Path, partition=(0, 0, 1, 2, 2, 0), seed: int = 0) -> dict:
    """JPEGs of the aligned size, the attribute and the partition file, as distributed."""
    from PIL import Image

    from disentangle_datasets.celeba import ATTRIBUTES

    rng = np.random.default_rng(seed)
    root = data_dir / "celeba"
    (root / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    names = [f"{i + 1:06d}.jpg" for i in range(len(partition))]
    yy, xx = np.mgrid[0:218, 0:178]
    for i, name in enumerate(names):
        base = rng.integers(0, 256, 3)
        pixels = (base + np.stack([xx, yy, xx + yy], -1) * (i + 1)) % 256
        Image.fromarray(pixels.astype(np.uint8)).save(root / "img_align_celeba" / name,
                                                      quality=95)
    attributes = rng.choice([-1, 1], (len(names), 40))
    lines = [str(len(names)), " ".join(ATTRIBUTES) + " "]
    lines += [name + " " + " ".join(f"{v:2d}" for v in row) for name, row in zip(names, attributes)]
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (root / "list_eval_partition.txt").write_text(
        "".join(f"{name} {p}\n" for name, p in zip(names, partition)))
    return {"root": root, "names": names, "partition": np.array(partition),
            "attributes": (attributes > 0).astype(np.uint8)}
