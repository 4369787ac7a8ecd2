"""run_cli's warm parent (tests/cli_process.py) must answer as a fresh `python -m disentangle`
does: same output, same exit code, the caller's environment and directory, and a timeout that
stops the command."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.cli_process import WARM, needs_fresh
from tests.conftest import run_cli


@pytest.mark.parametrize("args", [["list", "codes", "--json"], ["nonsense"], ["run"],
                                  ["run", "infogan", "--steps", "0"]])
def test_a_forked_command_answers_as_a_fresh_process(args):
    warm, fresh = run_cli(*args), run_cli(*args, fresh=True)
    assert (warm.returncode, warm.stdout, warm.stderr) == \
        (fresh.returncode, fresh.stdout, fresh.stderr)


def test_the_command_gets_the_callers_environment_and_directory(tmp_path):
    done = run_cli("list", "datasets", "--json", env={"DISENTANGLE_DISABLE_PLUGINS": "datasets"})
    assert done.returncode == 0 and "mnist" not in done.stdout
    assert "mnist" in run_cli("list", "datasets", "--json").stdout  # nothing stuck in the parent
    done = run_cli("run", "infogan", "--dataset", "digits", "--backbone", "tiny", "--steps", "1",
                   "--batch-size", "8", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "runs").iterdir())) == 1  # ./runs of the directory given


def test_a_command_past_its_timeout_is_killed_and_the_next_one_runs(tmp_path):
    with pytest.raises(subprocess.TimeoutExpired):
        run_cli("run", "infogan", "--dataset", "digits", "--backbone", "tiny", "--steps",
                "100000", "--quiet", "--out", tmp_path / "r", timeout=3)
    assert run_cli("--version").returncode == 0


def test_pythonpath_reaches_the_command_and_a_shadowing_entry_gets_a_fresh_process(tmp_path):
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "dots_of_mine.py").write_text("raise ImportError('imported: dots_of_mine')\n")
    env = {"PYTHONPATH": str(plugin), "DISENTANGLE_PLUGINS": "dots_of_mine"}
    assert "imported: dots_of_mine" in run_cli("list", "codes", env=env).stderr
    shadow = tmp_path / "shadow"
    (shadow / "torch").mkdir(parents=True)  # the parent imported torch: a fresh process alone
    (shadow / "torch" / "__init__.py").write_text("raise ImportError('shadow torch')\n")
    warm = run_cli("list", "codes", env={"PYTHONPATH": str(shadow)})
    assert warm.returncode == 1 and "failed to import" in warm.stderr  # sees this torch
    assert "shadow torch" in warm.stderr


def test_what_acts_at_import_goes_to_a_fresh_process():
    warm = {"PATH": "/bin", "OMP_NUM_THREADS": "2"}
    assert not needs_fresh(warm, warm)
    assert not needs_fresh({**warm, "DISENTANGLE_CACHE_DIR": "x", "COLUMNS": "9"}, warm)
    assert needs_fresh({**warm, "OMP_NUM_THREADS": "1"}, warm)
    assert needs_fresh({"PATH": "/bin"}, warm)  # one the parent had, gone
    assert needs_fresh({**warm, "TERMINAL_WIDTH": "50"}, warm)  # typer reads it at import
    assert WARM.proc is not None  # the tests above were served by it, and so is this one:
    assert not needs_fresh(dict(os.environ), WARM.env())


def test_a_command_in_a_missing_directory_fails_and_the_next_one_runs(tmp_path):
    done = run_cli("--version", cwd=tmp_path / "gone")
    assert done.returncode == 127 and "FileNotFoundError" in done.stderr
    assert run_cli("--version").returncode == 0
