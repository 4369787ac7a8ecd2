"""A CPU run takes as many threads as cores are free: the arithmetic on known tick counts, the
/proc/stat parsing on a written file, and the choice a run records."""

from __future__ import annotations

import json

import pytest

from disentangle.training import threads

from tests.conftest import run_cli


@pytest.mark.parametrize("busy, own, expected", [
    (0, 0, 2.0),  # both cores idle
    (100, 100, 2.0),  # only this process was busy: both cores are still its to use
    (100, 0, 1.0),  # another process kept one core busy
    (250, 50, 0.0),  # others used both cores (more than the window: clamped)
])
def test_free_cores_counts_only_other_processes(busy, own, expected):
    assert threads.free_cores(2, busy, own, elapsed_ticks=100) == pytest.approx(expected)


@pytest.mark.parametrize("free, most, expected", [
    (2.0, 2, 2), (1.6, 2, 2), (1.4, 2, 1), (0.2, 2, 1), (7.9, 4, 4), (None, 3, 3), (None, 0, 1),
])
def test_choose_rounds_within_one_and_torch_default(free, most, expected):
    assert threads.choose(free, most) == expected


def test_cpu_times_reads_the_usable_cpus_lines(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  9 9 9 9 9 9 9 9 0 0\n"
                    "cpu0 10 0 5 100 3 0 0 2 0 0\n"
                    "cpu1 20 1 4 200 0 1 1 0 0 0\n"
                    "cpu2 1 1 1 1 1 1 1 1 0 0\n"
                    "intr 12345\n")
    assert threads.cpu_times([0, 1], stat) == (303.0, 347.0)
    assert threads.cpu_times([5], stat) is None  # a CPU the file does not list
    assert threads.cpu_times([0], tmp_path / "missing") is None


def test_a_cpu_run_records_its_threads(tmp_path):
    run = tmp_path / "r"
    done = run_cli("run", "gan", "--dataset", "digits", "--backbone", "tiny", "--steps", "2",
                   "--device", "cpu", "--score-every", "0", "--out", run, "--quiet")
    assert done.returncode == 0, done.stderr
    chosen = json.loads((run / "summary.json").read_text())["threads"]
    assert 1 <= chosen <= threads.TORCH_DEFAULT
    done = run_cli("run", "gan", "--dataset", "digits", "--backbone", "tiny", "--steps", "2",
                   "--device", "cpu", "--score-every", "0", "--threads", "1",
                   "--out", tmp_path / "one", "--quiet")
    assert json.loads((tmp_path / "one" / "summary.json").read_text())["threads"] == 1


def test_train_gives_the_caller_its_thread_count_back(tmp_path):
    import torch

    from disentangle.training import resolve, train

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        summary = train(resolve("gan", {"backbone": "tiny", "steps": 2, "threads": 2,
                                        "score_every": 0, "out": str(tmp_path / "r")}))
        assert summary["threads"] == 2 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
