"""A full disk (or a file-size limit) is one line naming the file, the disk and the space needed,
leaves nothing half-written, and keeps the last checkpoint. The failures are real: the run's
files are pointed at /dev/full (every write: ENOSPC), or the process gets a file-size limit."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys

import pytest

from disentangle.registry import get_registry
from disentangle.training import fit, start, trainer
from disentangle.training.checkpoint import load_checkpoint
from disentangle.training.rundir import DiskFull, RunDir

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")


def full_at(path) -> None:
    """Make `path` (a file about to be opened for writing) a link to /dev/full."""
    path.unlink(missing_ok=True)
    path.symlink_to("/dev/full")


def one_line(exc) -> str:
    assert "\n" not in str(exc.value)
    return str(exc.value)


def test_config_write_on_a_full_disk_leaves_no_run_directory(fast_config, tmp_path,
                                                             monkeypatch):
    real = RunDir.write_config

    def write_config(self, config, **resolved):
        full_at(self.path / f".config.json.{os.getpid()}.tmp")
        real(self, config, **resolved)

    monkeypatch.setattr(RunDir, "write_config", write_config)
    with pytest.raises(DiskFull) as info:
        start(fast_config("r"))
    message = one_line(info)
    assert message.startswith("no space left on ") and "config.json: it needs" in message
    assert "free; free some space" in message
    assert not (tmp_path / "r").exists()
    monkeypatch.undo()
    fit(start(fast_config("r", steps=2)))  # the same --out works once there is space


def test_checkpoint_on_a_full_disk_keeps_the_previous_one(fast_config, monkeypatch):
    session = start(fast_config(steps=9, checkpoint_every=3))
    real, calls = trainer.save_checkpoint, []

    def save_checkpoint(path, state):
        calls.append(state["step"])
        if len(calls) == 2:
            full_at(path.with_name(f".{path.name}.{os.getpid()}.tmp"))
        real(path, state)

    monkeypatch.setattr(trainer, "save_checkpoint", save_checkpoint)
    with pytest.raises(DiskFull) as info:
        fit(session)
    message = one_line(info)
    assert "latest.pt: it needs" in message and "MiB" in message
    assert "the last checkpoint (step 3) is kept: continue with `disentangle run infogan --out" \
        in message
    assert os.listdir(session.run.checkpoints) == ["latest.pt"]  # no temporary file left
    assert load_checkpoint(session.run.latest)["step"] == 3


def test_metrics_on_a_full_disk(fast_config):
    session = start(fast_config(steps=6))
    full_at(session.run.metrics)
    with pytest.raises(DiskFull) as info:
        fit(session)
    assert "metrics.jsonl: it needs" in one_line(info)
    assert "no checkpoint yet, so it starts again from step 0" in one_line(info)


def _limit_file_size(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def run_limited(out, limit: int, *extra: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "disentangle", "run", "gan", "--dataset", "digits", "--backbone",
         "tiny", "--batch-size", "8", "--noise-dim", "4", "--code", "categorical:10", "--steps",
         "30", "--log-every", "1", "--checkpoint-every", "1000", "--checkpoint-minutes", "0",
         "--device", "cpu", "--quiet", "--out", str(out), *extra],
        capture_output=True, text=True, timeout=300, preexec_fn=_limit_file_size(limit),
        env={**os.environ, **(env or {})})


def test_a_file_size_limit_cuts_no_metrics_line_in_half(tmp_path):
    """The kernel lets the first part of a line through, then refuses: the line is cut back."""
    get_registry().create("datasets", "digits").load("train")  # its cache, written unlimited
    out, limit = tmp_path / "r", 1800  # config.json (~1 KB) fits; the log reaches the limit
    proc = run_limited(out, limit)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"error: cannot write {out / 'metrics.jsonl'}: it needs ")
    assert "`ulimit -f`" in proc.stderr and "continue with `disentangle run gan" in proc.stderr
    text = (out / "metrics.jsonl").read_text()
    assert text.endswith("\n") and 0 < len(text) <= limit
    steps = [json.loads(line)["step"] for line in text.splitlines()]
    assert steps == list(range(1, len(steps) + 1))
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]


def test_a_cache_that_cannot_be_written_is_one_line(tmp_path):
    cache = tmp_path / "cache"
    proc = run_limited(tmp_path / "r", 4096, env={"DISENTANGLE_CACHE_DIR": str(cache)})
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"error: cannot write {cache / 'digits.h5'}: it needs more "
                                  "than 4.0 KiB")
    assert "DISENTANGLE_CACHE_DIR" in proc.stderr
    assert os.listdir(cache) == [] and not (tmp_path / "r").exists()


def test_files_written_together_are_all_replaced_or_none(tmp_path):
    """eval's figures, encoded.h5 and eval.json describe one measurement: a disk that filled at
    the last of them left the new figures beside the old eval.json."""
    from disentangle.training.rundir import atomic_write_text, written_together

    a, b = tmp_path / "a.png", tmp_path / "eval.json"
    a.write_text("old a")
    b.write_text("old b")
    full_at(tmp_path / f".eval.json.{os.getpid()}.tmp")
    with pytest.raises(DiskFull) as info, written_together():
        atomic_write_text(a, "new a")
        assert a.read_text() == "old a"  # held back until the block ends
        atomic_write_text(b, "new b")
    assert "eval.json: it needs" in one_line(info)
    assert (a.read_text(), b.read_text()) == ("old a", "old b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "eval.json"]
    with pytest.raises(KeyboardInterrupt), written_together():  # any failure in the block
        atomic_write_text(a, "new a")
        raise KeyboardInterrupt
    assert a.read_text() == "old a" and len(list(tmp_path.iterdir())) == 2
    with written_together():
        atomic_write_text(a, "new a")
        atomic_write_text(a, "newer a")  # one path written twice: its last content
        atomic_write_text(b, "new b")
    assert (a.read_text(), b.read_text()) == ("newer a", "new b")
    assert len(list(tmp_path.iterdir())) == 2


def test_a_rename_that_fails_at_the_end_is_one_line_and_leaves_no_temporary(tmp_path):
    from disentangle.errors import DisentangleError
    from disentangle.training.rundir import atomic_write_text, written_together

    (tmp_path / "eval.json").mkdir()  # in the way of the rename, not of the write
    with pytest.raises(DisentangleError) as info, written_together():
        atomic_write_text(tmp_path / "eval.json", "new")
    assert one_line(info).startswith(f"cannot write {tmp_path / 'eval.json'}: ")
    assert [p.name for p in tmp_path.iterdir()] == ["eval.json"]


def test_an_eval_that_cannot_save_leaves_the_last_evals_files(tmp_path):
    """In process, so the temporary file's name (it holds the pid) is known beforehand."""
    from disentangle.evaluation import pipeline
    from disentangle.training import train
    from disentangle.training.config import resolve

    run = tmp_path / "r"
    train(resolve("infogan", {"dataset": "digits", "backbone": "tiny", "steps": 2,
                              "batch_size": 16, "out": str(run), "threads": 1}))
    cfg = pipeline.EvalConfig(n=100, bound_samples=50)
    pipeline.evaluate_run(run, cfg)
    names = ("eval.json", "encoded.h5", "confusion.png", "traversal-c1.png")
    before = {name: (run / name).read_bytes() for name in names}
    full_at(run / f".eval.json.{os.getpid()}.tmp")
    with pytest.raises(pipeline.NotSaved) as info:
        pipeline.evaluate_run(run, pipeline.EvalConfig(n=120, bound_samples=50))
    assert info.value.result["codes"]["c1"]["type"] == "categorical:10"
    assert {name: (run / name).read_bytes() for name in names} == before
    assert not list(run.glob(".*.tmp"))
