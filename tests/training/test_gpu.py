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


@pytest.mark.gpu
def test_eval_on_cuda_grows_dcis_trees_there(tmp_path):
    """GBT DCI on a GPU: the batched trees, named in eval.json's definitions."""
    run = tmp_path / "s"
    done = run_cli("run", "infogan", "--dataset", "shapes", "--image-size", "32", "--backbone",
                   "tiny", "--steps", "2", "--batch-size", "16", "--device", "cuda", "--out", run,
                   "--quiet")
    assert done.returncode == 0, done.stderr
    done = run_cli("eval", run, "--device", "cuda", "--n", "500", "--bound-samples", "100",
                   "--intervention-points", "100", "--intervention-pool", "1000", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "batched on cuda" in result["definitions"]["dci"]
    assert 0 <= result["disentanglement"]["dci"]["disentanglement"] <= 1


@pytest.mark.gpu
def test_a_run_moves_between_cpu_and_gpu_on_resume(tmp_path):
    """A generator's state cannot cross device kinds: the resumed run says so and goes on."""
    run = tmp_path / "m"
    fast = ("--dataset", "digits", "--backbone", "tiny", "--batch-size", "16", "--out", run)
    done = run_cli("run", "infogan", *fast, "--steps", "4", "--device", "cpu", "--quiet")
    assert done.returncode == 0, done.stderr
    for device, steps in (("cuda", "8"), ("cpu", "12")):
        done = run_cli("run", "infogan", "--out", run, "--resume", "--steps", steps, "--device",
                       device)
        assert done.returncode == 0, done.stderr
        assert "a random generator's state cannot move between the two" in done.stderr
    assert json.loads((run / "summary.json").read_text())["steps"] == 12
