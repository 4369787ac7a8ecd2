"""Fixtures for the training tests: a throwaway dataset plugin and a fast config."""

from __future__ import annotations

import sys
from types import ModuleType

import pytest
import torch

from disentangle import Component, hookimpl
from disentangle.datasets import Dataset, ImageData
from disentangle.training import RunConfig


class Toy(Dataset):
    """64 blobs at random places; any size (default 28x28), 1 channel, 4 classes."""

    name = "toy"
    class_names = ("0", "1", "2", "3")
    needs_files = False

    def __init__(self, image_size: int | None = None):
        size = image_size or 28
        self.image_shape = (1, size, size)

    def load(self, split="train", data_dir=None, download=False):
        g = torch.Generator().manual_seed(0 if split == "train" else 1)
        n, (_, h, w) = 64, self.image_shape
        labels = torch.randint(4, (n,), generator=g)
        yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        cy = (labels // 2 * 0.5 + 0.25) * h
        cx = (labels % 2 * 0.5 + 0.25) * w
        d2 = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2
        images = (255 * torch.exp(-d2 / (0.02 * h * w))).to(torch.uint8)[:, None]
        return ImageData(images=images, labels=labels)


def make_plugin(name: str = "toy_training_plugin", **extra) -> ModuleType:
    """A plugin module registering the toy dataset (and any extra hook implementations)."""
    module = ModuleType(name)

    @hookimpl
    def disentangle_datasets():
        yield Component("toy", Toy, "test blobs")

    module.disentangle_datasets = disentangle_datasets
    for key, value in extra.items():
        setattr(module, key, value)
    sys.modules[name] = module
    return module


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: tiny networks gain nothing from two, and on a shared 2-core machine a
    busy neighbour makes two threads wait on each other (10x slower)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def toy_registry(use_registry):
    """The built-ins plus the toy dataset."""
    return use_registry(make_plugin())


@pytest.fixture
def fast_config(tmp_path, toy_registry):
    """A config that trains in well under a second on CPU. One thread: the runs that tests
    compare bit for bit would otherwise each take as many threads as cores are free when they
    start, and round differently when the load changed in between."""

    def make(name: str = "run", **changes) -> RunConfig:
        values = dict(method="infogan", dataset="toy", backbone="tiny",
                      codes=["categorical:4", "uniform:1"], noise_dim=8, steps=6, batch_size=16,
                      device="cpu", log_every=2, checkpoint_every=3, sample_every=6,
                      threads=1, out=str(tmp_path / name))
        values.update(changes)
        return RunConfig(**values)

    return make
