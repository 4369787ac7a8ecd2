"""`disentangle run infogan --dataset NAME --data-dir D --steps 2` on files written in each
dataset's real on-disk format: the loader, the cache and the trainer meet end to end."""

import json

import pytest
import torch

from disentangle.cli import main
from disentangle.registry import set_registry

from .dataset_files import write_celeba, write_dsprites, write_mnist, write_shapes3d, write_svhn

WRITERS = {
    "mnist": lambda d: write_mnist(d),
    "fashion-mnist": lambda d: write_mnist(d, folder="FashionMNIST", gz=True),
    "svhn": lambda d: write_svhn(d),
    "celeba": lambda d: write_celeba(d),
    "dsprites": lambda d: write_dsprites(d),
    "shapes3d": lambda d: write_shapes3d(d),
}


@pytest.fixture(autouse=True)
def fresh_registry():
    previous = set_registry(None)  # entry points, as a user's shell loads them
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: a second thread only waits on a busy neighbour
    yield
    torch.set_num_threads(threads)
    set_registry(previous)


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_two_training_steps_on_real_format_files(name, data_dir, tmp_path, capsys,
                                                 small_dsprites, small_shapes3d):
    WRITERS[name](data_dir)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "infogan", "--dataset", name, "--data-dir", str(data_dir), "--steps", "2",
              "--backbone", "tiny", "--batch-size", "4", "--device", "cpu", "--out", str(out),
              "--quiet"])
    assert (exit_info.value.code or 0) == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["dataset"] == name and summary["steps"] == 2
