"""The HDF5 cache: hit, rebuild when stale, atomic writes, fallbacks; downloads; discovery."""

from __future__ import annotations

import hashlib
import logging
import os
import stat

import h5py
import numpy as np
import pytest
import torch

import disentangle_datasets.mnist as mnist_module
from disentangle.data import cache as cache_module
from disentangle.data import fetch, open_cache
from disentangle.errors import DisentangleError
from disentangle.registry import Registry

from .dataset_files import cache_files, write_idx, write_mnist

CACHE = "mnist-train.h5"


def count_reads(monkeypatch):
    calls = []
    real = mnist_module.read_idx

    def spy(path, ndim):
        calls.append(path.name)
        return real(path, ndim)

    monkeypatch.setattr(mnist_module, "read_idx", spy)
    return calls


def test_second_load_hits_the_cache(registry, data_dir, monkeypatch, caplog):
    written = write_mnist(data_dir)
    reads = count_reads(monkeypatch)
    with caplog.at_level(logging.INFO, logger="disentangle.data"):
        first = registry.create("datasets", "mnist").load("train", data_dir)
        second = registry.create("datasets", "mnist").load("train", data_dir)
    assert len(reads) == 2  # images and labels, read once
    assert [r.message for r in caplog.records].count(
        f"converting into cache {data_dir / '.cache' / CACHE}") == 1
    assert cache_files(data_dir) == [CACHE]
    assert torch.equal(first.images, second.images) and torch.equal(first.labels, second.labels)
    assert torch.equal(second.images[:, 0], torch.from_numpy(written["train"][0]))
    with h5py.File(data_dir / ".cache" / CACHE) as f:  # plain contiguous uint8 arrays
        assert f["images"].dtype == np.uint8 and f["images"].chunks is None
        assert f["images"].compression is None


def test_touching_a_source_rebuilds(registry, data_dir, monkeypatch):
    write_mnist(data_dir)
    registry.create("datasets", "mnist").load("train", data_dir)
    reads = count_reads(monkeypatch)
    labels = data_dir / "MNIST/raw/train-labels-idx1-ubyte"
    stat_before = labels.stat()
    os.utime(labels, ns=(stat_before.st_atime_ns, stat_before.st_mtime_ns + 10**9))
    registry.create("datasets", "mnist").load("train", data_dir)
    assert len(reads) == 2
    registry.create("datasets", "mnist").load("train", data_dir)
    assert len(reads) == 2  # fresh again


def test_replaced_source_gives_new_data(registry, data_dir):
    write_mnist(data_dir, seed=0)
    registry.create("datasets", "mnist").load("test", data_dir)
    new = write_mnist(data_dir, seed=1, n_test=6)  # another size, another mtime
    data = registry.create("datasets", "mnist").load("test", data_dir)
    assert torch.equal(data.images[:, 0], torch.from_numpy(new["test"][0]))


def test_converter_version_is_part_of_the_key(registry, data_dir, monkeypatch):
    write_mnist(data_dir)
    registry.create("datasets", "mnist").load("train", data_dir)
    reads = count_reads(monkeypatch)
    monkeypatch.setattr(mnist_module, "CONVERTER_VERSION", mnist_module.CONVERTER_VERSION + 1)
    registry.create("datasets", "mnist").load("train", data_dir)
    assert len(reads) == 2


def test_crash_while_writing_leaves_no_cache(registry, data_dir, monkeypatch):
    write_mnist(data_dir)
    real = mnist_module.read_idx

    def crash_on_labels(path, ndim):
        if ndim == 1:
            raise KeyboardInterrupt  # e.g. Ctrl-C after the images were written
        return real(path, ndim)

    monkeypatch.setattr(mnist_module, "read_idx", crash_on_labels)
    with pytest.raises(KeyboardInterrupt):
        registry.create("datasets", "mnist").load("train", data_dir)
    assert cache_files(data_dir) == []  # no cache, no temporary file
    monkeypatch.setattr(mnist_module, "read_idx", real)
    assert len(registry.create("datasets", "mnist").load("train", data_dir)) == 12


def test_bad_source_leaves_no_cache(registry, data_dir):
    write_mnist(data_dir)
    write_idx(data_dir / "MNIST/raw/train-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(DisentangleError):
        registry.create("datasets", "mnist").load("train", data_dir)
    assert cache_files(data_dir) == []


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 3]),  # killed mid-copy
    lambda p: p.write_text("not hdf5"),
    lambda p: h5py.File(p, "w").close(),  # a valid HDF5 file without our key
], ids=["truncated", "text", "no-key"])
def test_damaged_cache_is_rebuilt(registry, data_dir, damage):
    written = write_mnist(data_dir)
    registry.create("datasets", "mnist").load("train", data_dir)
    damage(data_dir / ".cache" / CACHE)
    data = registry.create("datasets", "mnist").load("train", data_dir)
    assert torch.equal(data.images[:, 0], torch.from_numpy(written["train"][0]))
    assert cache_files(data_dir) == [CACHE]


def test_unwritable_cache_dir_falls_back_to_memory(registry, data_dir, tmp_path, monkeypatch,
                                                   caplog):
    written = write_mnist(data_dir)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("DISENTANGLE_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    with caplog.at_level(logging.WARNING, logger="disentangle.data"):
        data = registry.create("datasets", "mnist").load("train", data_dir)
    assert torch.equal(data.images[:, 0], torch.from_numpy(written["train"][0]))
    assert "cannot write the cache" in caplog.text and "DISENTANGLE_CACHE_DIR" in caplog.text
    assert cache_files(data_dir) == []


def test_cache_dir_override(registry, data_dir, tmp_path, monkeypatch):
    write_mnist(data_dir)
    monkeypatch.setenv("DISENTANGLE_CACHE_DIR", str(tmp_path / "elsewhere"))
    registry.create("datasets", "mnist").load("test", data_dir)
    assert (tmp_path / "elsewhere" / "mnist-test.h5").is_file()
    assert cache_files(data_dir) == []


def test_cache_file_is_as_readable_as_data(registry, data_dir):
    write_mnist(data_dir)
    old = os.umask(0o022)
    try:
        registry.create("datasets", "mnist").load("test", data_dir)
    finally:
        os.umask(old)
    assert stat.S_IMODE((data_dir / ".cache" / "mnist-test.h5").stat().st_mode) == 0o644


def test_open_cache_without_a_path_builds_in_memory(tmp_path):
    def build(f):
        f.create_dataset("x", data=np.arange(5))

    with open_cache(None, {"k": 1}, build) as f:
        assert f["x"][()].tolist() == [0, 1, 2, 3, 4]
    assert list(tmp_path.iterdir()) == []


def test_disk_full_while_writing_is_one_error(tmp_path):
    def build(f):
        raise OSError(28, "No space left on device")

    match = r"no space left on .* to write .*x\.h5: it needs more than .*DISENTANGLE_CACHE_DIR"
    with pytest.raises(DisentangleError, match=match):
        with open_cache(tmp_path / "x.h5", {"k": 1}, build):
            pass
    assert list(tmp_path.iterdir()) == []


def test_memmap_reads_the_same_array(tmp_path):
    path = tmp_path / "m.h5"
    data = np.random.default_rng(0).integers(0, 256, (20, 3, 8, 8), dtype=np.uint8)
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=data)
    with h5py.File(path, "r") as f:
        mapped = cache_module.memmap(f["images"])
    assert isinstance(mapped, np.memmap) and np.array_equal(mapped[[3, 1, 19]], data[[3, 1, 19]])


# --- downloads (never reaching the network here) ------------------------------------------------

def test_no_download_unless_asked(registry, data_dir, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("fetch called without download=True")

    for module in ("mnist", "svhn"):
        monkeypatch.setattr(f"disentangle_datasets.{module}.fetch", forbidden)
    monkeypatch.setattr("disentangle.data.grid.fetch", forbidden)
    for name in ("mnist", "fashion-mnist", "svhn", "dsprites", "shapes3d", "celeba"):
        with pytest.raises(DisentangleError, match="not found"):
            registry.create("datasets", name).load("test", data_dir)


def test_mnist_download_uses_torchvision_urls_and_md5(registry, data_dir, monkeypatch):
    import torchvision.datasets as tvd

    fetched = []

    def fake_fetch(urls, dest, md5):
        fetched.append((urls, dest, md5))
        write_mnist(data_dir, gz=True)  # stands in for the real files
        return dest

    monkeypatch.setattr(mnist_module, "fetch", fake_fetch)
    data = registry.create("datasets", "mnist").load("train", data_dir, download=True)
    assert len(data) == 12
    first_urls, first_dest, first_md5 = fetched[0]
    filename, md5 = tvd.MNIST.resources[0]
    assert first_urls == [m + filename for m in tvd.MNIST.mirrors]
    assert first_dest == data_dir / "MNIST" / "raw" / filename and first_md5 == md5


@pytest.mark.parametrize(("name", "url_part"), [
    ("svhn", "ufldl.stanford.edu/housenumbers/test_32x32.mat"),
    ("dsprites", "github.com/deepmind/dsprites-dataset/raw/master/dsprites_ndarray"),
    ("shapes3d", "storage.googleapis.com/3d-shapes/3dshapes.h5"),
])
def test_download_urls(registry, data_dir, monkeypatch, name, url_part):
    fetched = []

    def fake_fetch(urls, dest, md5):
        fetched.append((urls, dest, md5))
        raise DisentangleError("offline")

    target = "disentangle.data.grid.fetch" if name != "svhn" else "disentangle_datasets.svhn.fetch"
    monkeypatch.setattr(target, fake_fetch)
    with pytest.raises(DisentangleError, match="offline"):
        registry.create("datasets", name).load("test", data_dir, download=True)
    (urls, dest, md5), = fetched
    assert url_part in str(urls) and dest.parent.parent == data_dir and len(md5) == 32


def test_fetch_checks_md5_and_reports_failures(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    payload = b"dataset bytes"

    def fake_download(url, root, filename, md5=None):
        if "broken" in url:
            raise OSError("connection refused")
        (tmp_path / filename).write_bytes(payload)

    monkeypatch.setattr(tv_utils, "download_url", fake_download)
    good = hashlib.md5(payload).hexdigest()
    assert fetch(["http://broken/x", "http://mirror/x"], tmp_path / "x.bin", good).read_bytes() \
        == payload
    with pytest.raises(DisentangleError, match="fails its MD5 check") as err:
        fetch("http://mirror/y", tmp_path / "y.bin", "0" * 32)
    assert "y.bin" in str(err.value) and not (tmp_path / "y.bin").exists()
    with pytest.raises(DisentangleError, match="http://broken/z: connection refused"):
        fetch("http://broken/z", tmp_path / "z.bin", good)


# --- discovery and the shared contract ----------------------------------------------------------

NAMES = ["celeba", "digits", "dsprites", "fashion-mnist", "mnist", "shapes", "shapes3d", "svhn"]


def test_plugin_is_discovered_through_its_entry_point():
    registry = Registry()
    assert set(NAMES) <= set(registry.names("datasets"))
    assert {registry.get("datasets", n).plugin for n in NAMES} == {"datasets"}


@pytest.mark.parametrize("name", NAMES)
def test_contract(registry, name):
    contracts = pytest.importorskip("disentangle.contracts")
    contracts.check_dataset(name, registry)


def test_a_copy_that_keeps_size_and_mtime_rebuilds(registry, data_dir):
    """`cp -p` or `rsync -a` of new contents keeps a file's size and mtime, which were the key."""
    write_mnist(data_dir, seed=0)
    registry.create("datasets", "mnist").load("test", data_dir)
    images = data_dir / "MNIST/raw/t10k-images-idx3-ubyte"
    before = images.stat()
    data = bytearray(images.read_bytes())
    data[-1] ^= 0xFF
    images.write_bytes(bytes(data))
    os.utime(images, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert images.stat().st_size == before.st_size
    loaded = registry.create("datasets", "mnist").load("test", data_dir)
    assert int(loaded.images.reshape(-1)[-1]) == data[-1]


def test_a_cache_replaced_by_another_process_is_not_read_as_ours(tmp_path, monkeypatch):
    """Another data directory's cache of the same name, moved into place between this process's
    write (or key check) and its read, was read as this one's, by h5py and by the memory map."""
    path = tmp_path / "c.h5"

    def builder(value):
        return lambda f: f.create_dataset("x", data=np.full(64, value, np.uint8))

    real_replace = os.replace

    def replace_then_lose_the_race(src, dst):
        real_replace(src, dst)
        other = tmp_path / "other.h5"
        with h5py.File(other, "w") as f:
            builder(2)(f)
            f.attrs["key"] = "another data directory"
        real_replace(other, dst)

    monkeypatch.setattr(cache_module.os, "replace", replace_then_lose_the_race)
    with open_cache(path, {"k": 1}, builder(1)) as f:
        assert f["x"][()].tolist() == [1] * 64
        assert cache_module.memmap(f["x"]).tolist() == [1] * 64
    monkeypatch.undo()
    with open_cache(path, {"k": 1}, builder(3)) as f:  # the other file is not fresh for us
        assert f["x"][()].tolist() == [3] * 64
