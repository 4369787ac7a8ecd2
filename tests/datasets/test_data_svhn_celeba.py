"""SVHN (.mat) and CelebA (JPEG folder + text files): exact contents and every bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from disentangle.errors import DisentangleError

from .dataset_files import write_celeba, write_svhn

# --- SVHN ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("split", ["train", "test", "extra"])
def test_svhn_pixels_and_labels(registry, data_dir, split):
    _, arrays = write_svhn(data_dir, split)
    data = registry.create("datasets", "svhn").load(split, data_dir)
    x, y = arrays["X"], arrays["y"][:, 0]
    assert data.images.shape == (9, 3, 32, 32) and data.images.dtype == torch.uint8
    for n in range(9):  # X[row, col, channel, n] -> images[n, channel, row, col]
        assert np.array_equal(data.images[n].numpy(), x[..., n].transpose(2, 0, 1))
    assert data.labels.tolist() == [0 if v == 10 else int(v) for v in y]


def test_svhn_label_10_is_digit_0(registry, data_dir):
    write_svhn(data_dir, y=np.array([[10], [1], [9], [10]], np.uint8),
               X=np.zeros((32, 32, 3, 4), np.uint8))
    assert registry.create("datasets", "svhn").load("train", data_dir).labels.tolist() == \
        [0, 1, 9, 0]


def test_svhn_missing_file(registry, data_dir):
    with pytest.raises(DisentangleError) as err:
        registry.create("datasets", "svhn").load("test", data_dir)
    assert "test_32x32.mat" in str(err.value) and str(data_dir / "SVHN") in str(err.value)
    assert "--download" in str(err.value)


@pytest.mark.parametrize(("corrupt", "expected"), [
    (lambda p: p.write_text("hello, I am text\n" * 20), "not a readable MATLAB .mat file"),
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
     "not a readable MATLAB .mat file"),
    (lambda p: p.write_bytes(b""), "not a readable MATLAB .mat file"),
], ids=["text", "truncated", "empty"])
def test_svhn_broken_file(registry, data_dir, corrupt, expected):
    path, _ = write_svhn(data_dir)
    corrupt(path)
    with pytest.raises(DisentangleError, match=expected) as err:
        registry.create("datasets", "svhn").load("train", data_dir)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(("override", "expected"), [
    ({"y": None}, "no variable 'y'"),
    ({"X": np.zeros((32, 32, 3, 9), np.float64)}, "X is float64, expected uint8"),
    ({"X": np.zeros((28, 28, 3, 9), np.uint8)},
     r"X has shape \(28, 28, 3, 9\), expected \(32, 32, 3, N\)"),
    ({"y": np.ones((8, 1), np.uint8)}, r"y has shape \(8,\), expected \(9\)"),
    ({"y": np.zeros((9, 1), np.uint8)}, "labels 1..10"),
    ({"y": np.full((9, 1), 11.0)}, "labels 1..10"),
], ids=["no-y", "float-X", "small-X", "short-y", "label-0", "label-11"])
def test_svhn_wrong_contents(registry, data_dir, override, expected):
    write_svhn(data_dir, **override)
    with pytest.raises(DisentangleError, match=expected):
        registry.create("datasets", "svhn").load("train", data_dir)


# --- CelebA -------------------------------------------------------------------------------------

def expected_face(path, size):
    """What the loader should make of one file: the centre 140x140, resized with PIL bilinear."""
    with Image.open(path) as image:
        face = image.convert("RGB").crop((19, 39, 159, 179)).resize((size, size), Image.BILINEAR)
    return np.asarray(face).transpose(2, 0, 1)


@pytest.mark.parametrize("size", [32, 64])
def test_celeba_splits_pixels_attributes(registry, data_dir, size):
    written = write_celeba(data_dir)
    dataset = registry.create("datasets", "celeba", image_size=size)
    assert dataset.image_shape == (3, size, size) and dataset.splits == ("train", "valid", "test")
    for code, split in enumerate(("train", "valid", "test")):
        data = dataset.load(split, data_dir)
        rows = np.flatnonzero(written["partition"] == code)
        assert data.images.shape == (len(rows), 3, size, size)
        assert data.labels is None and data.factors is None
        assert data.attributes.dtype == torch.uint8
        assert np.array_equal(data.attributes.numpy(), written["attributes"][rows])
        for image, row in zip(data.images.numpy(), rows):
            path = written["root"] / "img_align_celeba" / written["names"][row]
            assert np.array_equal(image, expected_face(path, size))


def test_celeba_default_size_is_32(registry):
    assert registry.create("datasets", "celeba").image_shape == (3, 32, 32)
    with pytest.raises(DisentangleError, match="32 or 64 pixels, not 48"):
        registry.create("datasets", "celeba", image_size=48)


def test_celeba_solid_colour_survives(registry, data_dir):
    written = write_celeba(data_dir, partition=(0,))
    path = written["root"] / "img_align_celeba" / written["names"][0]
    Image.new("RGB", (178, 218), (200, 30, 90)).save(path, quality=95)
    image = registry.create("datasets", "celeba").load("train", data_dir).images[0]
    assert (image.float().mean(dim=(1, 2)) - torch.tensor([200.0, 30.0, 90.0])).abs().max() < 3


@pytest.mark.parametrize("download", [False, True])
def test_celeba_missing_files_explain_manual_placement(registry, data_dir, download):
    with pytest.raises(DisentangleError) as err:
        registry.create("datasets", "celeba").load("train", data_dir, download=download)
    message = str(err.value)
    assert "list_attr_celeba.txt" in message and str(data_dir / "celeba") in message
    assert "Google Drive" in message and "img_align_celeba" in message


def test_celeba_missing_image_folder(registry, data_dir):
    written = write_celeba(data_dir)
    for p in (written["root"] / "img_align_celeba").iterdir():
        p.unlink()
    (written["root"] / "img_align_celeba").rmdir()
    with pytest.raises(DisentangleError, match="img_align_celeba/ not found"):
        registry.create("datasets", "celeba").load("train", data_dir)


def test_celeba_missing_image(registry, data_dir):
    written = write_celeba(data_dir)
    (written["root"] / "img_align_celeba" / "000003.jpg").unlink()
    with pytest.raises(DisentangleError, match="000003.jpg is listed .* but missing"):
        registry.create("datasets", "celeba").load("train", data_dir)


@pytest.mark.parametrize(("corrupt", "expected"), [
    (lambda p: p.write_text("not a jpeg"), "not a readable image"),
    (lambda p: p.write_bytes(p.read_bytes()[:300]), "not a readable image"),
    (lambda p: Image.new("RGB", (64, 64)).save(p), "64x64 pixels, expected the aligned 178x218"),
], ids=["text", "truncated", "wrong-size"])
def test_celeba_bad_image(registry, data_dir, corrupt, expected):
    written = write_celeba(data_dir)
    path = written["root"] / "img_align_celeba" / "000002.jpg"
    corrupt(path)
    with pytest.raises(DisentangleError, match=expected) as err:
        registry.create("datasets", "celeba").load("train", data_dir)
    assert "000002.jpg" in str(err.value)


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda t: t.replace(" 1", " 2", 1), "must be -1 or 1"),
    (lambda t: "\n".join(t.splitlines()[:-1]), "promises 6 images, the file lists 5"),
    (lambda t: t.replace("Young", "Old"), "40 attributes"),
    (lambda t: "\n".join(line + " 1" if i == 4 else line for i, line in
                         enumerate(t.splitlines())), "line 5 has 41 values"),
    (lambda t: "garbage", "expected a count"),
], ids=["value-2", "short", "names", "long-line", "garbage"])
def test_celeba_bad_attribute_file(registry, data_dir, edit, expected):
    written = write_celeba(data_dir)
    path = written["root"] / "list_attr_celeba.txt"
    path.write_text(edit(path.read_text()))
    with pytest.raises(DisentangleError, match=expected) as err:
        registry.create("datasets", "celeba").load("train", data_dir)
    assert str(path) in str(err.value)


def test_celeba_bad_partition_file(registry, data_dir):
    written = write_celeba(data_dir)
    path = written["root"] / "list_eval_partition.txt"
    path.write_text(path.read_text().replace(" 2\n", " 7\n", 1))
    with pytest.raises(DisentangleError, match="line 4 must be"):
        registry.create("datasets", "celeba").load("train", data_dir)
    path.write_text("999999.jpg 0\n")
    with pytest.raises(DisentangleError, match="lists 999999.jpg"):
        registry.create("datasets", "celeba").load("train", data_dir)
