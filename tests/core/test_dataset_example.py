"""The file-based dataset example of docs/datasets.md ("doodles"), run as written: it passes the
dataset contract, loads the files it names, and says which path it tried when one is missing."""

import re
import types
from pathlib import Path

import numpy as np
import pytest

from disentangle.contracts import check_dataset
from disentangle.data import DataNotFound

DOCS = Path(__file__).parents[2] / "docs"


def doodles_module() -> types.ModuleType:
    text = (DOCS / "datasets.md").read_text(encoding="utf-8")
    (code,) = [block for block in re.findall(r"```python\n(.*?)```", text, re.S)
               if "class Doodles" in block]
    module = types.ModuleType("doodles_example")
    exec(compile(code, str(DOCS / "datasets.md"), "exec"), module.__dict__)
    return module


def test_the_documented_file_dataset_loads_its_files_and_passes_the_contract(
        use_registry, tmp_path, monkeypatch):
    monkeypatch.setenv("DISENTANGLE_CACHE_DIR", str(tmp_path / "cache"))
    registry = use_registry(doodles_module())
    check_dataset("doodles", registry)
    folder = tmp_path / "doodles"
    folder.mkdir()
    rng = np.random.default_rng(0)
    np.savez(folder / "train.npz", x=rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
             y=rng.integers(0, 3, 12))
    dataset = registry.create("datasets", "doodles")
    train = dataset.load("train", tmp_path)
    assert train.images.shape == (12, 1, 28, 28) and train.labels.tolist() == \
        np.load(folder / "train.npz")["y"].tolist()
    with pytest.raises(DataNotFound, match=re.escape(f"tried {folder / 'test.npz'}; place the "
                                                     "files from https://example.org/doodles")):
        dataset.load("test", tmp_path)
