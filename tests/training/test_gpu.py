"""On a CUDA machine the README's path runs on the GPU end to end (skipped without CUDA)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli


@pytest.mark.gpu
def test_train_and_evaluate_on_cuda(tmp_path):
    run = tmp_path / "r"
    done = run_cli("run", "infogan", "--dataset", "digits", "--steps", "20", "--device", "cuda",
                   "--out", run, "--quiet")
    assert done.returncode == 0, done.stderr
    assert json.loads((run / "summary.json").read_text())["device"].startswith("cuda")
    done = run_cli("eval", run, "--device", "cuda", "--n", "100", "--bound-samples", "100",
                   "--json")
    assert done.returncode == 0, done.stderr
    assert 0 <= json.loads(done.stdout)["cluster_accuracy"] <= 1
