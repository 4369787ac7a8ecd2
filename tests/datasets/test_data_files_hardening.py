"""Dataset files a careless user or a broken download leaves behind: each is one clear error,
never a traceback or a huge allocation; and the cache notices any changed source file."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from disentangle.data import load_npz
from disentangle.data.cache import source_identity
from disentangle.errors import DisentangleError

from .dataset_files import cache_files, write_celeba, write_idx, write_mnist


def test_an_idx_file_with_no_images_is_refused(registry, data_dir):
    write_mnist(data_dir)
    path = write_idx(data_dir / "MNIST/raw/train-images-idx3-ubyte", np.zeros((0, 28, 28)))
    with pytest.raises(DisentangleError, match=r"promises 0 x 28 x 28 items: the file holds no "
                                               r"data") as info:
        registry.create("datasets", "mnist").load("train", data_dir)
    assert str(path) in str(info.value) and cache_files(data_dir) == []


def test_an_npz_whose_header_promises_terabytes_is_refused_without_allocating(tmp_path):
    path = tmp_path / "dsprites.npz"
    np.savez(path, imgs=np.zeros((4, 8, 8), np.uint8))
    with zipfile.ZipFile(path) as archive:
        data = archive.read("imgs.npy")
    # the same header length: 12 more digits, 12 fewer padding spaces
    damaged = data.replace(b"(4, 8, 8), }" + b" " * 12, b"(4000000, 8000000, 8), }")
    assert damaged != data
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("imgs.npy", damaged)
    with pytest.raises(DisentangleError, match=r"array 'imgs' has a damaged header: it promises "
                                               r"shape \(4000000, 8000000, 8\) of uint8 "
                                               r"\(256000000000000 bytes\) but the archive holds "
                                               r"256 bytes"):
        load_npz(path, ["imgs"])


def test_npz_arrays_with_sound_headers_still_load(tmp_path):
    path = tmp_path / "a.npz"
    arrays = {"a": np.arange(12, dtype=np.int64).reshape(3, 4), "b": np.zeros(0, np.float32)}
    np.savez_compressed(path, **arrays)
    loaded = load_npz(path, ["a", "b"])
    assert all(np.array_equal(loaded[k], arrays[k]) for k in arrays)


@pytest.mark.parametrize("count", ["²", "6.0", "-6", "٦x"])
def test_celeba_count_line_that_is_not_a_number(registry, data_dir, count):
    written = write_celeba(data_dir)
    path = written["root"] / "list_attr_celeba.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([count, *lines[1:]]) + "\n")
    with pytest.raises(DisentangleError, match="expected a count"):
        registry.create("datasets", "celeba").load("train", data_dir)


@pytest.mark.parametrize("change", ["overwrite", "touch"])
def test_changing_one_celeba_image_rebuilds_the_cache(registry, data_dir, change):
    written = write_celeba(data_dir, partition=(0, 0, 0))
    first = registry.create("datasets", "celeba").load("train", data_dir).images
    path = written["root"] / "img_align_celeba" / written["names"][1]
    before = path.stat()
    if change == "overwrite":  # same size on disk is not required: same name is the trap
        Image.new("RGB", (178, 218), (250, 0, 0)).save(path, quality=95)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
    second = registry.create("datasets", "celeba").load("train", data_dir).images
    if change == "overwrite":
        assert not torch.equal(first[1], second[1]) and torch.equal(first[0], second[0])
        assert (second[1].float().mean(dim=(1, 2)) - torch.tensor([250.0, 0, 0])).abs().max() < 3
    else:
        assert torch.equal(first, second)


def test_a_directory_source_identity_covers_every_file(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.jpg").write_bytes(b"a")
    (tmp_path / "d" / "sub" / "b.jpg").write_bytes(b"b")
    key = source_identity(tmp_path / "d")
    assert key[0][1:3] == ["directory", 2]
    b = tmp_path / "d" / "sub" / "b.jpg"
    os.utime(b, ns=(b.stat().st_atime_ns, b.stat().st_mtime_ns + 1))  # 1 ns later, nested
    assert source_identity(tmp_path / "d") != key
    assert source_identity(tmp_path / "d") == source_identity(tmp_path / "d")
