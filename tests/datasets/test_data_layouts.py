"""Every file-based dataset reads our folder layout and the one torchvision (or
disentanglement_lib) leaves behind, and a missing file's error lists every path it tried."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from disentangle.errors import DisentangleError

from .dataset_files import write_celeba, write_dsprites, write_mnist, write_shapes3d, write_svhn


def flatten(data_dir, folder):
    """Move everything in DATA_DIR/folder/ up into DATA_DIR itself."""
    for item in (data_dir / folder).iterdir():
        shutil.move(str(item), str(data_dir / item.name))
    (data_dir / folder).rmdir()


def load_all(dataset, data_dir, splits=("train", "test")):
    return {split: dataset.load(split, data_dir) for split in splits}


def same(a, b):
    for split in a:
        assert torch.equal(a[split].images, b[split].images)
        for key in ("labels", "factors", "attributes"):
            x, y = getattr(a[split], key), getattr(b[split], key)
            assert (x is None and y is None) or torch.equal(x, y)


@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_family_in_torchvision_raw_and_in_its_folder(registry, tmp_path, name, folder):
    ours, plain = tmp_path / "ours", tmp_path / "plain"
    write_mnist(ours, folder)  # ROOT/MNIST/raw/: ours and torchvision's
    write_mnist(plain, folder)
    flatten(plain / folder, "raw")  # ROOT/MNIST/ with the IDX files directly in it
    dataset = registry.create("datasets", name)
    same(load_all(dataset, ours), load_all(dataset, plain))


def test_svhn_flat_as_torchvision_keeps_it(registry, tmp_path):
    ours, torchvision = tmp_path / "ours", tmp_path / "torchvision"
    for root in (ours, torchvision):
        for split in ("train", "test"):
            write_svhn(root, split)
    flatten(torchvision, "SVHN")  # torchvision: ROOT/train_32x32.mat
    dataset = registry.create("datasets", "svhn")
    same(load_all(dataset, ours), load_all(dataset, torchvision))


def test_celeba_in_its_folder_or_as_the_data_dir_itself(registry, tmp_path):
    ours, inside = tmp_path / "ours", tmp_path / "inside"
    write_celeba(ours)  # ROOT/celeba/: ours and torchvision's
    write_celeba(inside)
    flatten(inside, "celeba")
    dataset = registry.create("datasets", "celeba")
    splits = ("train", "valid", "test")
    same(load_all(dataset, ours, splits), load_all(dataset, inside, splits))


@pytest.mark.parametrize(("name", "folder", "write", "fixture"), [
    ("dsprites", "dsprites", write_dsprites, "small_dsprites"),
    ("shapes3d", "3dshapes", write_shapes3d, "small_shapes3d"),
])
def test_grid_files_in_their_folder_or_flat(registry, tmp_path, request, name, folder, write,
                                            fixture):
    request.getfixturevalue(fixture)
    ours, flat = tmp_path / "ours", tmp_path / "flat"
    write(ours)  # ROOT/dsprites/, ROOT/3dshapes/: ours and disentanglement_lib's
    write(flat)
    flatten(flat, folder)
    dataset = registry.create("datasets", name)
    a, b = load_all(dataset, ours), load_all(dataset, flat)
    same(a, b)
    rows = b["test"].factors[:3].numpy()
    assert torch.equal(dataset.render(rows, flat), b["test"].images[:3])


@pytest.mark.parametrize(("name", "tried"), [
    ("mnist", ["MNIST/raw/train-images-idx3-ubyte", "MNIST/raw/train-images-idx3-ubyte.gz",
               "MNIST/train-images-idx3-ubyte", "MNIST/train-images-idx3-ubyte.gz"]),
    ("svhn", ["SVHN/train_32x32.mat", "train_32x32.mat"]),
    ("celeba", ["celeba/list_attr_celeba.txt", "list_attr_celeba.txt"]),
    ("dsprites", ["dsprites/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
                  "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"]),
    ("shapes3d", ["3dshapes/3dshapes.h5", "3dshapes.h5"]),
])
def test_not_found_lists_every_path_tried(registry, data_dir, name, tried):
    with pytest.raises(DisentangleError) as err:
        registry.create("datasets", name).load("train", data_dir)
    message = str(err.value)
    listed = message.split("tried ", 1)[1]
    for path in tried:
        assert str(data_dir / path) in listed, path
    assert len(np.unique([str(data_dir / p) for p in tried])) == len(tried)


def test_svhn_from_a_torchvision_folder_trains(tmp_path):
    from tests.conftest import run_cli

    root = tmp_path / "torchvision-root"
    for split in ("train", "test"):
        write_svhn(root, split, n=16)
    flatten(root, "SVHN")
    done = run_cli("run", "infogan", "--dataset", "svhn", "--data-dir", root, "--steps", "2",
                   "--batch-size", "8", "--backbone", "tiny", "--out", tmp_path / "run",
                   "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "checkpoints" / "latest.pt").is_file()
