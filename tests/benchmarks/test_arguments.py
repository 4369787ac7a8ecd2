"""Bad arguments to a benchmark are one line and a non-zero exit, before any work."""

import argparse
import importlib

import pytest
import torch

from benchmarks import infogan_vs_gan


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is here")
@pytest.mark.parametrize("name", ["train_speed", "metrics_speed", "eval_speed"])
def test_cuda_without_a_gpu_is_one_line(name, capsys):
    """Each ended in a traceback from the first tensor put on the missing GPU."""
    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(f"benchmarks.{name}").main(["--device", "cuda"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "error: --device cuda: CUDA is not available here; use --device cpu" in err
    assert "Traceback" not in err


def test_an_unknown_dataset_is_refused():
    args = argparse.Namespace(seeds=None, datasets=["digits", "bogus"], steps=None, run_arg=[])
    with pytest.raises(SystemExit, match="--datasets bogus: this benchmark has digits, shapes"):
        infogan_vs_gan.chosen(args, (0,), infogan_vs_gan.FULL.datasets)
