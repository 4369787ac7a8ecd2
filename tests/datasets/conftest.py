"""Fixtures for the dataset tests: an isolated data directory, no network, our plugin alone."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import disentangle_datasets
from disentangle.registry import Registry

from .dataset_files import DSPRITES_SMALL, SHAPES3D_SMALL


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Default data directory inside tmp_path, no cache override, and no network at all."""
    monkeypatch.setenv("DISENTANGLE_DATA_DIR", str(tmp_path / "default-data"))
    monkeypatch.delenv("DISENTANGLE_CACHE_DIR", raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)


@pytest.fixture
def registry() -> Registry:
    """Our plugin alone, loaded the way entry points load it (other plugins may be mid-change)."""
    return Registry(plugins=[disentangle_datasets], entry_points=False)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def small_dsprites(monkeypatch):
    from disentangle_datasets.dsprites import DSprites

    monkeypatch.setattr(DSprites, "factors", DSPRITES_SMALL)
    return DSPRITES_SMALL


@pytest.fixture
def small_shapes3d(monkeypatch):
    from disentangle_datasets.shapes3d import Shapes3D

    monkeypatch.setattr(Shapes3D, "factors", SHAPES3D_SMALL)
    return SHAPES3D_SMALL
