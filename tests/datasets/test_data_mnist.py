"""MNIST and Fashion-MNIST from IDX files, gzipped or not, and every way such a file goes bad."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from disentangle.errors import DisentangleError

from .dataset_files import idx_bytes, write_idx, write_mnist

FAMILY = [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(("name", "folder"), FAMILY)
def test_loads_pixels_and_labels_exactly(registry, data_dir, name, folder, gz):
    written = write_mnist(data_dir, folder, gz=gz)
    dataset = registry.create("datasets", name)
    for split in ("train", "test"):
        data = dataset.load(split, data_dir)
        images, labels = written[split]
        assert data.images.dtype == torch.uint8 and data.images.shape == (len(images), 1, 28, 28)
        assert torch.equal(data.images[:, 0], torch.from_numpy(images))
        assert data.labels.dtype == torch.int64
        assert torch.equal(data.labels, torch.from_numpy(labels.astype(np.int64)))
        assert data.factors is None and data.attributes is None


def test_plain_file_wins_over_gzip(registry, data_dir):
    """torchvision leaves both the .gz and its extracted copy; both hold the same data."""
    written = write_mnist(data_dir, gz=True)
    write_mnist(data_dir, gz=False)
    data = registry.create("datasets", "mnist").load("train", data_dir)
    assert torch.equal(data.images[:, 0], torch.from_numpy(written["train"][0]))


def test_missing_file_names_file_directory_and_remedy(registry, data_dir):
    with pytest.raises(DisentangleError) as err:
        registry.create("datasets", "mnist").load("train", data_dir)
    message = str(err.value)
    assert "train-images-idx3-ubyte" in message
    assert str(data_dir / "MNIST" / "raw") in message
    assert "--download" in message


def test_missing_labels_only(registry, data_dir):
    write_mnist(data_dir)
    (data_dir / "MNIST/raw/t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DisentangleError, match="t10k-labels-idx1-ubyte"):
        registry.create("datasets", "mnist").load("test", data_dir)


def raw(data_dir):
    return data_dir / "MNIST" / "raw"


@pytest.mark.parametrize(("corrupt", "expected"), [
    (lambda p: p.write_bytes(idx_bytes(np.zeros(5, np.uint8))),
     r"not an IDX image file .*0x00000801"),
    (lambda p: p.write_text("this is not an IDX file\n"), "not an IDX image file"),
    (lambda p: p.write_bytes(b""), r"not an IDX image file \(magic number nothing"),
    (lambda p: p.write_bytes(p.read_bytes()[:-100]), "truncated"),
    (lambda p: p.write_bytes(p.read_bytes()[:10]), "truncated"),
    (lambda p: p.write_bytes(p.read_bytes() + b"extra"), "trailing bytes"),
    (lambda p: write_idx(p, np.zeros((3, 32, 32), np.uint8)), "expected 28x28"),
], ids=["labels-magic", "text", "empty", "truncated", "header-only", "trailing", "wrong-size"])
def test_bad_image_file(registry, data_dir, corrupt, expected):
    write_mnist(data_dir)
    path = raw(data_dir) / "train-images-idx3-ubyte"
    corrupt(path)
    with pytest.raises(DisentangleError, match=expected) as err:
        registry.create("datasets", "mnist").load("train", data_dir)
    assert str(path) in str(err.value)


def test_bad_gzip(registry, data_dir):
    write_mnist(data_dir, gz=True)
    path = raw(data_dir) / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DisentangleError, match="cannot be read as a gzip file") as err:
        registry.create("datasets", "mnist").load("train", data_dir)
    assert str(path) in str(err.value)


def test_truncated_gzip(registry, data_dir):
    write_mnist(data_dir, gz=True)
    path = raw(data_dir) / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DisentangleError, match=str(path)):
        registry.create("datasets", "mnist").load("train", data_dir)


def test_label_file_with_image_magic(registry, data_dir):
    write_mnist(data_dir)
    path = raw(data_dir) / "train-labels-idx1-ubyte"
    write_idx(path, np.zeros((12, 28, 28), np.uint8))
    with pytest.raises(DisentangleError, match="not an IDX label file"):
        registry.create("datasets", "mnist").load("train", data_dir)


def test_label_count_must_match(registry, data_dir):
    write_mnist(data_dir)
    write_idx(raw(data_dir) / "train-labels-idx1-ubyte", np.zeros(11, np.uint8))
    with pytest.raises(DisentangleError, match="11 labels but .* 12 images"):
        registry.create("datasets", "mnist").load("train", data_dir)


def test_labels_must_be_classes(registry, data_dir):
    write_mnist(data_dir)
    write_idx(raw(data_dir) / "train-labels-idx1-ubyte", np.full(12, 10, np.uint8))
    with pytest.raises(DisentangleError, match="label 10 is not a class"):
        registry.create("datasets", "mnist").load("train", data_dir)


def test_gzip_payload_checked_like_plain(registry, data_dir):
    write_mnist(data_dir, gz=True)
    path = raw(data_dir) / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-1]))
    with pytest.raises(DisentangleError, match="truncated"):
        registry.create("datasets", "mnist").load("train", data_dir)


def test_unknown_split_and_size(registry, data_dir):
    with pytest.raises(DisentangleError, match="no split 'valid'"):
        registry.create("datasets", "mnist").load("valid", data_dir)
    with pytest.raises(DisentangleError,
                       match="28 pixels, not 32: set --image-size to 28, or leave it out"):
        registry.create("datasets", "mnist", image_size=32)
    assert registry.create("datasets", "mnist", image_size=28).image_shape == (1, 28, 28)
