"""Reading dataset files so that every failure is one clear DisentangleError.

Each reader names the file and what was expected of it; library exceptions (gzip, zip, MATLAB,
HDF5, JPEG) never escape raw. `find_file` and `fetch` cover the step before: locating a file, and
downloading it only when the user asked for it.
"""

from __future__ import annotations

import gzip
import math
import os
import tempfile
import zlib
from collections.abc import Iterable, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from disentangle.errors import DisentangleError


# --- locating and downloading ------------------------------------------------------------------

def fetch(urls: str | Sequence[str], dest: Path, md5: str | None = None) -> Path:
    """Download `dest` from the first URL that works, checking its MD5 when one is known."""
    from torchvision.datasets.utils import check_integrity, download_url

    urls = [urls] if isinstance(urls, str) else list(urls)
    dest = Path(dest)
    if check_integrity(str(dest), md5):  # already there and intact
        return dest
    errors = []
    for url in urls:
        try:
            download_url(url, root=str(dest.parent), filename=dest.name, md5=md5)
        except Exception as exc:  # URLError, HTTPError, checksum mismatch
            errors.append(f"{url}: {exc}")
            continue
        if check_integrity(str(dest), md5):
            return dest
        errors.append(f"{url}: downloaded file fails its MD5 check ({md5})")
    with suppress(OSError):
        dest.unlink()  # whatever a failed attempt left behind is not the file
    raise DisentangleError(f"could not download {dest.name} into {dest.parent}: "
                           + "; ".join(errors))


# --- checking arrays ----------------------------------------------------------------------------

def expect_array(array: Any, what: str, path: Path, shape: Sequence[int | None],
                 dtypes: Iterable[Any] | None = None) -> Any:
    """`array` if it has this shape (None: any size) and one of `dtypes`, else an error.

    Works on anything with `.shape` and `.dtype` (an HDF5 dataset is checked without reading it).
    """
    arr = array if hasattr(array, "shape") and hasattr(array, "dtype") else np.asarray(array)
    want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
    ok = len(arr.shape) == len(shape) and all(s is None or s == a
                                               for s, a in zip(shape, arr.shape))
    if not ok:
        raise DisentangleError(f"{path}: {what} has shape {tuple(arr.shape)}, expected {want}")
    if dtypes is not None:
        allowed = [np.dtype(d) for d in dtypes]
        if np.dtype(arr.dtype) not in allowed:
            names = " or ".join(str(d) for d in allowed)
            raise DisentangleError(f"{path}: {what} is {arr.dtype}, expected {names}")
    return arr


# --- IDX (MNIST family) -------------------------------------------------------------------------

_IDX_UBYTE = 0x08


def _read_bytes(path: Path) -> bytes:
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DisentangleError(f"{path}: cannot be read as "
                               f"{'a gzip file' if path.name.endswith('.gz') else 'a file'} "
                               f"({exc}); delete it and download it again") from exc


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """A uint8 IDX file (gzipped or not) with `ndim` dimensions, as a numpy array.

    The header is checked here (magic 0x0000080<ndim>, sizes matching the payload exactly); the
    payload is then decoded by torchvision's MNIST reader.
    """
    from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor

    path = Path(path)
    data = _read_bytes(path)
    magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    expected = (_IDX_UBYTE << 8) | ndim
    kind = {1: "an IDX label file", 3: "an IDX image file"}.get(ndim, f"a {ndim}-d IDX file")
    if magic != expected:
        found = "nothing" if magic is None else f"0x{magic:08X}"
        raise DisentangleError(f"{path}: not {kind} (magic number {found}, expected "
                               f"0x{expected:08X})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DisentangleError(f"{path}: truncated IDX header ({len(data)} bytes)")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    if 0 in dims:
        raise DisentangleError(f"{path}: the header promises {' x '.join(map(str, dims))} "
                               "items: the file holds no data")
    payload, promised = len(data) - header, math.prod(dims)
    if payload != promised:
        state = "truncated" if payload < promised else "has trailing bytes"
        raise DisentangleError(f"{path}: {state}: the header promises {' x '.join(map(str, dims))}"
                               f" = {promised} bytes of data, the file holds {payload}")
    if path.name.endswith(".gz"):  # torchvision reads a plain file: give it the decompressed one
        fd, tmp = tempfile.mkstemp(suffix=".idx")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            tensor = read_sn3_pascalvincent_tensor(tmp, strict=True)
        finally:
            os.unlink(tmp)
    else:
        tensor = read_sn3_pascalvincent_tensor(str(path), strict=True)
    return tensor.numpy().reshape(dims)


# --- MATLAB, npz, HDF5, images ------------------------------------------------------------------

def load_mat(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Arrays `keys` of a MATLAB (v4-v7.2) .mat file."""
    import scipy.io

    path = Path(path)
    try:
        contents = scipy.io.loadmat(path, variable_names=list(keys))
    except NotImplementedError as exc:  # MATLAB v7.3 files are HDF5
        raise DisentangleError(f"{path}: a MATLAB v7.3 file; expected the original v5 .mat "
                               "file as distributed") from exc
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, zlib.error, ...
        raise DisentangleError(f"{path}: not a readable MATLAB .mat file ({exc}); delete it and "
                               "download it again") from exc
    missing = [k for k in keys if k not in contents]
    if missing:
        raise DisentangleError(f"{path}: no variable {', '.join(map(repr, missing))} "
                               f"(expected {', '.join(keys)})")
    return {k: contents[k] for k in keys}


def load_npz(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Arrays `keys` of a NumPy .npz archive (never unpickling anything)."""
    import zipfile

    path = Path(path)
    try:
        with open(path, "rb") as handle:  # ours to close even when numpy fails half-way
            archive = np.load(handle, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise DisentangleError(f"{path}: a single .npy array, expected an .npz archive "
                                       f"with {', '.join(keys)}")
            with archive:
                missing = [k for k in keys if k not in archive.files]
                if missing:
                    raise DisentangleError(f"{path}: no array {', '.join(map(repr, missing))} "
                                           f"(found {', '.join(archive.files) or 'none'}, "
                                           f"expected {', '.join(keys)})")
                for k in keys:
                    _check_npy_header(archive, k, path)
                return {k: archive[k] for k in keys}
    except DisentangleError:
        raise
    except (OSError, ValueError, EOFError, MemoryError, zipfile.BadZipFile, zlib.error) as exc:
        raise DisentangleError(f"{path}: not a readable .npz archive ({exc}); delete it and "
                               "download it again") from exc


def _check_npy_header(archive: Any, key: str, path: Path) -> None:
    """Compare an array's header with the bytes the archive holds for it, before numpy allocates
    what the header promises (a damaged header can promise terabytes)."""
    names = archive.zip.namelist()
    info = archive.zip.getinfo(f"{key}.npy" if f"{key}.npy" in names else key)
    with archive.zip.open(info) as member:
        version = np.lib.format.read_magic(member)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read(member)
        holds = info.file_size - member.tell()
    promised = math.prod(shape) * dtype.itemsize
    if not dtype.hasobject and promised != holds:
        raise DisentangleError(f"{path}: array '{key}' has a damaged header: it promises shape "
                               f"{tuple(shape)} of {dtype} ({promised} bytes) but the archive "
                               f"holds {holds} bytes for it; delete it and download it again")


@contextmanager
def open_h5(path: Path):
    """An HDF5 file open for reading; a file of another format or a broken one is an error."""
    import h5py

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DisentangleError(f"{path}: not a readable HDF5 file ({exc}); delete it and "
                               "download it again") from exc
    with f:
        yield f


def h5_array(f: Any, name: str, path: Path) -> Any:
    """The dataset `name` of an open HDF5 file, or an error naming what is missing."""
    import h5py

    item = f.get(name)
    if not isinstance(item, h5py.Dataset):
        found = ", ".join(f.keys()) or "none"
        raise DisentangleError(f"{path}: no dataset '{name}' (found {found})")
    return item


def read_h5(dataset: Any, path: Path, selection: Any = ()) -> np.ndarray:
    """Read (part of) an HDF5 dataset; decompression or truncation errors become one error."""
    try:
        return dataset[selection]
    except (OSError, ValueError, RuntimeError) as exc:
        raise DisentangleError(f"{path}: cannot read '{dataset.name}' ({exc}); the file is "
                               "damaged: delete it and download it again") from exc


WIDE_GREY = ("I;16", "I;16B", "I;16L", "I")  # Pillow's modes of a 16-bit greyscale PNG


def read_rgb(path: Path) -> Any:
    """A PIL image converted to RGB, fully decoded (so truncation shows here), turned upright
    as its EXIF orientation says (a phone's portrait photo is stored sideways; viewers, and so
    the user, see it upright). A 16-bit greyscale image is scaled to 8 bits first: Pillow's own
    conversion clips every value above 255, which turned all but the darkest pixels white."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            if image.mode in WIDE_GREY:
                wide = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
                image = Image.fromarray((wide >> 8).astype(np.uint8), "L")
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise DisentangleError(f"{path}: not a readable image ({exc})") from exc
