"""Kill a real `disentangle run` at random moments (and once in the middle of writing a
checkpoint), resume it each time, and check that it ends exactly where an uninterrupted run
ends: the same weights, optimiser states and metrics.jsonl (timing fields aside)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from disentangle import DisentangleError
from disentangle.cli import main
from disentangle.training import resume
from disentangle.training.checkpoint import load_checkpoint

from .test_resume_exact import without_timing
from .test_trainer import read_jsonl

STEPS = 80
ARGS = ["infogan", "--dataset", "digits", "--backbone", "tiny", "--batch-size", "16",
        "--noise-dim", "8", "--code", "categorical:10", "--code", "uniform:1",
        "--steps", str(STEPS), "--log-every", "3", "--checkpoint-every", "2",
        "--sample-every", "1000", "--device", "cpu", "--threads", "1", "--quiet"]
# --threads 1: without it each start takes the cores free at that moment, and the run never
# stopped could pick another count than the killed one (sums then round differently)
# the same command, with the rename that publishes a checkpoint held up until the test kills it
SLOW_RENAME = """
import os, sys, time
from pathlib import Path
real = os.replace
def replace(src, dst, *args, **kwargs):
    if str(dst).endswith("latest.pt"):
        Path(os.environ["MARKER"]).write_text(str(src))
        time.sleep(60)
    return real(src, dst, *args, **kwargs)
os.replace = replace
from disentangle.cli import main
main(sys.argv[1:])
"""


def launch(out: Path, *extra: str, code: str | None = None, env=None) -> subprocess.Popen:
    """The command in the background; its stderr goes to <out>.stderr (read by `errors`)."""
    head = [sys.executable, "-c", code] if code else [sys.executable, "-m", "disentangle"]
    with open(f"{out}.stderr", "w") as stderr:
        return subprocess.Popen([*head, "run", *ARGS, "--out", str(out), *extra],
                                stdout=subprocess.DEVNULL, stderr=stderr,
                                env={**os.environ, **(env or {})})


def errors(out: Path) -> str:
    return Path(f"{out}.stderr").read_text()


def progress(out: Path) -> tuple[int, int]:
    stamp = lambda p: p.stat().st_mtime_ns if p.exists() else 0  # noqa: E731
    return stamp(out / "metrics.jsonl"), stamp(out / "checkpoints" / "latest.pt")


def kill_soon_after_progress(proc: subprocess.Popen, out: Path, rng: random.Random) -> bool:
    """SIGKILL `proc` a random 0-300 ms after it first writes something; False if it finished."""
    before = progress(out)
    while progress(out) == before:
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    time.sleep(rng.uniform(0, 0.3))
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def test_killed_and_resumed_run_equals_an_uninterrupted_one(tmp_path):
    rng = random.Random(13)
    out, kills = tmp_path / "crash", 0
    for attempt in range(4):  # a fresh start, then three resumes, each killed while it trains
        proc = launch(out, *(["--resume"] if attempt else []))
        kills += kill_soon_after_progress(proc, out, rng)
    # the fifth kill lands between writing a checkpoint's temporary file and renaming it
    marker = tmp_path / "marker"
    proc = launch(out, "--resume", code=SLOW_RENAME, env={"MARKER": str(marker)})
    while not marker.exists():
        assert proc.poll() is None, errors(out)
        time.sleep(0.01)
    assert Path(marker.read_text()).is_file()  # the new checkpoint, written, not yet published
    with pytest.raises(DisentangleError, match="is in use by another disentangle process"):
        resume(out)  # this (other) process may not resume a run that one is training
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kills += 1
    assert kills == 5  # none of the runs finished before its kill
    assert list(out.glob("checkpoints/.*.tmp"))  # the killed write's leftover ...
    for argv in (["--out", str(out), "--resume"], ["--out", str(tmp_path / "full")]):
        with pytest.raises(SystemExit) as done:  # the last resume, then a run never stopped
            main(["run", *ARGS, *argv])
        assert done.value.code == 0
    assert not list(out.glob("**/.*.tmp"))  # ... removed by the resume

    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "latest.pt")
    b = load_checkpoint(out / "checkpoints" / "latest.pt")
    assert a["step"] == b["step"] == STEPS
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    for name, opt in a["optimizers"].items():
        for pid, slot in opt["state"].items():
            assert all(torch.equal(v, b["optimizers"][name]["state"][pid][k])
                       for k, v in slot.items())
    log_a = read_jsonl(tmp_path / "full" / "metrics.jsonl")
    log_b = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in log_b] == list(range(3, STEPS, 3)) + [STEPS]
    assert without_timing(log_b) == without_timing(log_a)
