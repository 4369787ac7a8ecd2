"""`--deterministic`: the process-wide switches it sets, and that on CPU (deterministic already)
it changes no number."""

from __future__ import annotations

import json
import os

import pytest
import torch

from disentangle.training import RunConfig, start

from tests.conftest import run_cli

from .test_trainer import read_jsonl

TINY = ["infogan", "--dataset", "digits", "--backbone", "tiny", "--batch-size", "16", "--steps",
        "4", "--log-every", "1", "--score-every", "0", "--threads", "1", "--quiet"]


@pytest.fixture
def restored_switches(monkeypatch):
    """The switches are process-wide: put them back for the tests that follow."""
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    yield
    torch.use_deterministic_algorithms(before[0], warn_only=before[1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[2:]


def test_the_flag_sets_deterministic_kernels_for_the_process(tmp_path, restored_switches):
    session = start(RunConfig(method="infogan", dataset="digits", backbone="tiny", steps=1,
                              deterministic=True, threads=1, out=str(tmp_path / "run")))
    session.close()
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.is_deterministic_algorithms_warn_only_enabled()  # warn, never fail a run
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["config"]["deterministic"] is True


def test_without_the_flag_nothing_is_switched(tmp_path, restored_switches):
    torch.use_deterministic_algorithms(False)
    start(RunConfig(method="infogan", dataset="digits", backbone="tiny", steps=1, threads=1,
                    out=str(tmp_path / "run"))).close()
    assert not torch.are_deterministic_algorithms_enabled()
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ


def test_on_cpu_it_changes_no_number(tmp_path):
    plain = run_cli("run", *TINY, "--out", tmp_path / "plain")
    fixed = run_cli("run", *TINY, "--deterministic", "--out", tmp_path / "fixed")
    assert plain.returncode == 0 and fixed.returncode == 0, plain.stderr + fixed.stderr
    drop = ("images_per_s", "elapsed")
    a, b = ([{k: v for k, v in r.items() if k not in drop} for r in read_jsonl(run, "metrics.jsonl")]
            for run in (tmp_path / "plain", tmp_path / "fixed"))
    assert len(a) == 4 and a == b


def test_a_resume_may_switch_it_off(capsys, toy_registry, tmp_path, restored_switches):
    """Resumable, yet only `--deterministic` existed: a run started with it kept it for good."""
    from .test_cli_run import FAST, cli

    run = tmp_path / "r"
    code, _, err = cli(capsys, "run", "infogan", *FAST, "--steps", "2", "--out", run,
                       "--deterministic")
    assert code == 0, err
    code, _, err = cli(capsys, "run", "infogan", *FAST, "--steps", "3", "--out", run, "--resume",
                       "--no-deterministic")
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["config"]["deterministic"] is False
