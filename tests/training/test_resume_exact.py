"""Resume is exact in the log too, checkpoints also come by the clock, and a run directory is
locked while a process trains it (in-process; the real-process crash test is test_crash.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from disentangle import DisentangleError
from disentangle.training import fit, resume, start
from disentangle.training.checkpoint import load_checkpoint, save_checkpoint
from disentangle.training.rundir import RunDir, latest_run

from .test_trainer import _interrupt_at, full_and_interrupted, read_jsonl

TIMING = ("images_per_s", "elapsed")  # wall-clock figures: the only fields allowed to differ


def without_timing(records):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def test_resume_mid_window_logs_what_an_uninterrupted_run_logs(fast_config):
    # log every 3 steps, checkpoint every 4: the checkpoint at step 8 falls inside the window
    # 7..9, so the resumed run must carry the sums of steps 7 and 8 over
    options = dict(steps=12, log_every=3, checkpoint_every=4, sample_every=100)
    full, cut = full_and_interrupted(fast_config, 10, options)
    state = load_checkpoint(cut.run.latest)
    assert state["step"] == 8 and state["window"]["steps"] == 2
    assert [r["step"] for r in read_jsonl(cut.run.metrics)] == [3, 6, 9]  # 9: after the checkpoint
    fit(resume(cut.run.path))
    log_full, log_cut = read_jsonl(full.run.metrics), read_jsonl(cut.run.metrics)
    assert [r["step"] for r in log_cut] == [3, 6, 9, 12]
    assert without_timing(log_cut) == without_timing(log_full)  # bit-identical floats


def test_checkpoints_by_wall_clock_between_step_checkpoints(fast_config):
    # checkpoint_every is beyond the run; a tiny checkpoint_minutes makes every step due
    options = dict(steps=7, log_every=3, checkpoint_every=1000, sample_every=1000)
    full, cut = full_and_interrupted(fast_config, 6, options, {"checkpoint_minutes": 1e-9})
    assert load_checkpoint(cut.run.latest)["step"] == 5  # by the clock, not by step count
    fit(resume(cut.run.path, overrides={"checkpoint_minutes": 0.0}))  # resumable option
    a, b = load_checkpoint(full.run.latest)["model"], load_checkpoint(cut.run.latest)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert without_timing(read_jsonl(cut.run.metrics)) == without_timing(
        read_jsonl(full.run.metrics))


def dead_pid() -> int:
    """The pid of a process that has exited (the writer of a stale temporary file)."""
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)


def test_resume_removes_stale_temporary_files(fast_config):
    session = start(fast_config(steps=3))
    fit(session)
    dead = dead_pid()
    stale = [session.run.checkpoints / f".latest.pt.{dead}.tmp",
             session.run.path / f".config.json.{dead}.tmp"]
    for path in stale:
        path.write_bytes(b"half a write")
    keep = [session.run.path / "notes.tmp",  # not one of ours
            session.run.path / f".eval.json.{os.getpid()}.tmp"]  # a live process's write
    for path in keep:
        path.write_text("mine")
    fit(resume(session.run.path, overrides={"steps": 4}))
    assert not any(p.exists() for p in stale) and all(p.exists() for p in keep)


def test_a_locked_run_refuses_a_second_resume_and_a_fresh_start(fast_config):
    session = start(fast_config(steps=3))
    fit(session)
    with RunDir(session.run.path).lock():
        with pytest.raises(DisentangleError, match=r"is in use by another disentangle process "
                                                   rf"\(pid {os.getpid()} on "):
            resume(session.run.path, overrides={"steps": 5})
    fit(resume(session.run.path, overrides={"steps": 5}))  # released: fine
    assert load_checkpoint(session.run.latest)["step"] == 5


def test_a_file_system_without_flock_runs_unlocked_with_a_warning(tmp_path, monkeypatch,
                                                                   caplog):
    """Lustre without its flock option answers ENOSYS: every run there was refused as "in use
    by another disentangle process (holder unknown)"."""
    import errno

    import disentangle.training.rundir as rundir

    def no_flock(fd, operation):
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))

    monkeypatch.setattr(rundir.fcntl, "flock", no_flock)
    with RunDir(tmp_path).lock() as lock, RunDir(tmp_path).lock():  # twice: neither refused
        assert lock.fd is None
    assert f"cannot lock {tmp_path / '.lock'} ({os.strerror(errno.ENOSYS)}): a second process " \
        "on this run would not be refused" in caplog.text


def test_a_lock_left_by_a_dead_process_does_not_block(fast_config):
    session = start(fast_config(steps=3))
    fit(session)
    (session.run.path / ".lock").write_text("pid 1 on a machine that crashed\n")  # no flock
    fit(resume(session.run.path, overrides={"steps": 4}))
    assert load_checkpoint(session.run.latest)["step"] == 4


def test_a_failed_start_leaves_nothing_and_does_not_block_the_out(fast_config, tmp_path,
                                                                  monkeypatch):
    from disentangle.training import rundir

    def broken(self, config, **resolved):
        raise DisentangleError("simulated failure while writing config.json")

    monkeypatch.setattr(rundir.RunDir, "write_config", broken)
    with pytest.raises(DisentangleError, match="simulated"):
        start(fast_config("r"))
    assert not (tmp_path / "r").exists()
    monkeypatch.undo()
    (tmp_path / "mine").mkdir()  # a directory the user made stays, empty
    monkeypatch.setattr(rundir.RunDir, "write_config", broken)
    with pytest.raises(DisentangleError, match="simulated"):
        start(fast_config("mine"))
    assert (tmp_path / "mine").is_dir() and not os.listdir(tmp_path / "mine")
    monkeypatch.undo()
    # what a process killed during its start leaves (lock, empty checkpoints/, a temporary file)
    # is not "non-empty"
    (tmp_path / "mine" / "checkpoints").mkdir()
    (tmp_path / "mine" / ".lock").write_text("pid 1\n")
    stale = tmp_path / "mine" / f".config.json.{dead_pid()}.tmp"
    stale.write_text("{")
    fit(start(fast_config("mine", steps=2)))
    assert not stale.exists()


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_resume_keeps_the_thread_count_it_was_checkpointed_with(fast_config, monkeypatch,
                                                                 restore_threads):
    from disentangle.training import threads

    monkeypatch.setattr(threads.CoreLook, "threads", lambda self: 2)  # two cores free at start
    first = fit(start(fast_config(steps=3, checkpoint_every=3, threads=None)))
    assert first["threads"] == 2 and load_checkpoint(RunDir.open(first["run_dir"]).latest)[
        "threads"] == 2
    monkeypatch.setattr(threads.CoreLook, "threads", lambda self: 1)  # busier when resumed
    again = fit(resume(first["run_dir"], overrides={"steps": 6}))
    assert again["threads"] == 2  # the run's own count, not the cores free now
    # an explicit --threads still wins (documented: the run then rounds differently)
    told = fit(resume(first["run_dir"], overrides={"steps": 9, "threads": 1}))
    assert told["threads"] == 1


def test_resume_drops_only_a_last_line_cut_short_from_the_log(fast_config):
    """A resume rewrites metrics.jsonl up to its checkpoint: a bad line anywhere but last used
    to vanish in that rewrite without a word; now it stops the resume and nothing changes."""
    first = fit(start(fast_config(steps=6, log_every=2, checkpoint_every=6)))
    log = RunDir.open(first["run_dir"]).metrics
    lines = log.read_text().splitlines(keepends=True)
    damaged = "garbage{{\n" + "".join(lines[1:])
    log.write_text(damaged)
    with pytest.raises(DisentangleError, match=r"metrics.jsonl: line 1 is not JSON .*nothing "
                       r"was changed"):
        fit(resume(first["run_dir"], overrides={"steps": 8}))
    assert log.read_text() == damaged
    log.write_text("".join(lines) + '{"step": 7, "loss')  # what a crash mid-write leaves
    again = fit(resume(first["run_dir"], overrides={"steps": 8}))
    assert again["steps"] == 8
    assert [r["step"] for r in read_jsonl(log)] == [2, 4, 6, 8]


def test_a_smaller_steps_at_a_mid_window_checkpoint_logs_that_window(fast_config):
    """Resumed with --steps at its checkpoint (8, inside the window 7..9), the run ran no step and
    dropped the window's line: the summary took an earlier line's losses and a too-high speed."""
    options = dict(steps=12, log_every=3, checkpoint_every=4, sample_every=100)
    _, cut = full_and_interrupted(fast_config, 10, options)
    with pytest.raises(DisentangleError, match=r"is at step 8, past --steps 7; a checkpoint "
                       r"cannot be taken back: give --steps 8 or more"):
        resume(cut.run.path, overrides={"steps": 7})
    done = fit(resume(cut.run.path, overrides={"steps": 8}))
    short = fit(start(fast_config("short", **{**options, "steps": 8})))
    assert [r["step"] for r in read_jsonl(cut.run.metrics)] == [3, 6, 8]
    assert without_timing(read_jsonl(cut.run.metrics)) == without_timing(
        read_jsonl(fast_config("short").out + "/metrics.jsonl"))
    assert done["final"] == short["final"] and done["steps"] == 8
    assert load_checkpoint(cut.run.latest)["window"]["steps"] == 0  # the line is not logged twice


def test_training_past_a_summary_removes_it_and_a_stale_one_does_not_block(fast_config):
    """A finished run resumed with a larger --steps kept its old summary.json: it said "finished"
    at the old step while the run trained on, and once the new checkpoint reached --steps it made
    --resume refuse ("already reached") a run that had no summary of its own."""
    run = Path(fit(start(fast_config(steps=6)))["run_dir"])
    old_summary = (run / "summary.json").read_text()
    extended = resume(run, overrides={"steps": 12})
    _interrupt_at(extended, 2)
    with pytest.raises(KeyboardInterrupt):
        fit(extended)
    assert not (run / "summary.json").exists()
    assert fit(resume(run, overrides={"steps": 12}))["steps"] == 12
    (run / "summary.json").write_text(old_summary)  # as a kill after the checkpoint left it
    assert fit(resume(run))["steps"] == 12  # finished, not refused
    with pytest.raises(DisentangleError, match="already reached step 12 of 12"):
        resume(run)


def test_a_lost_checkpoint_is_judged_by_the_cadence_the_run_trained_with(fast_config):
    """The guard read this resume's --checkpoint-every: a smaller one refused a run never
    checkpointed, a larger one (or a timed checkpoint) let a run whose checkpoint is gone train
    from step 0 over its log."""
    cut = start(fast_config("never", steps=12, checkpoint_every=10, log_every=2))
    _interrupt_at(cut, 8)  # log to step 6, no checkpoint yet
    with pytest.raises(KeyboardInterrupt):
        fit(cut)
    fit(resume(cut.run.path, overrides={"checkpoint_every": 3}))  # never checkpointed: trains
    lost = Path(fit(start(fast_config("lost", steps=6, checkpoint_every=3)))["run_dir"])
    (lost / "summary.json").unlink()
    (lost / "checkpoints" / "latest.pt").unlink()
    with pytest.raises(DisentangleError, match="its log reaches step 6: it had a checkpoint"):
        resume(lost, overrides={"checkpoint_every": 100, "steps": 12})
    timed = start(fast_config("timed", steps=12, checkpoint_every=100, log_every=2))
    _interrupt_at(timed, 8)
    with pytest.raises(KeyboardInterrupt):
        fit(timed)
    lines = read_jsonl(timed.run.metrics)
    lines[-1]["elapsed"] = 302.0  # past checkpoint_minutes (5): a timed checkpoint was written
    timed.run.metrics.write_text("".join(json.dumps(r) + "\n" for r in lines))
    with pytest.raises(DisentangleError, match="its log runs past 5 minutes: it had a checkpoint"):
        resume(timed.run.path)


def test_a_resume_that_changes_nothing_makes_the_run_the_latest(fast_config, tmp_path):
    cut = start(fast_config("older"))
    _interrupt_at(cut, 5)
    with pytest.raises(KeyboardInterrupt):
        fit(cut)
    os.utime(cut.run.config, (1e9, 1e9))
    fit(start(fast_config("newer", steps=3)))
    assert latest_run(tmp_path) == tmp_path / "newer"
    fit(resume(cut.run.path))  # no option changed: config.json is not rewritten
    assert latest_run(tmp_path) == cut.run.path


def test_a_resume_on_another_host_is_recorded_once(fast_config):
    """config.json kept only the first host, so a run resumed on another CPU (whose kernels
    follow other losses) claimed to be the first host's."""
    from disentangle.training.rundir import host

    cut = start(fast_config("r"))
    _interrupt_at(cut, 3)
    with pytest.raises(KeyboardInterrupt):
        fit(cut)
    meta = json.loads(cut.run.config.read_text())
    assert meta["host"] == host() and "resumed_on" not in meta
    meta["host"] = "another machine"
    cut.run.config.write_text(json.dumps(meta))
    for steps in (6, 8):  # resumed twice here: listed once
        fit(resume(cut.run.path, overrides={"steps": steps}))
    meta = json.loads(cut.run.config.read_text())
    assert meta["host"] == "another machine" and meta["resumed_on"] == [host()]


def test_a_run_resumed_on_another_kind_of_device_goes_on_from_a_new_stream(fast_config, capsys):
    """A GPU run copied to a laptop (device auto) could not resume: the CUDA generator's state
    does not fit a CPU generator, and the error blamed the checkpoint."""
    run = Path(fit(start(fast_config(steps=3)))["run_dir"])
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    state["rng"]["sampler"] = torch.arange(16, dtype=torch.uint8)  # a CUDA generator's state
    save_checkpoint(run / "checkpoints" / "latest.pt", state)
    copy = run.with_name("copy")
    shutil.copytree(run, copy)
    first = fit(resume(run, overrides={"steps": 6}), quiet=False)
    assert (f"note: {run} was trained on a GPU and resumes on cpu: a random generator's state "
            "cannot move between the two") in capsys.readouterr().err
    second = fit(resume(copy, overrides={"steps": 6}))
    assert first["steps"] == 6 and first["final"] == second["final"]  # the same new stream
