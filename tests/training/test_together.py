"""Several runs trained together in one process (`fit_together`, `disentangle run --seeds`): each
run is exactly the run `fit` makes alone, one failing run ends alone, and the CLI lays out one run
directory per seed."""

from __future__ import annotations

import json

import pytest
import torch

from disentangle import DisentangleError
from disentangle.cli.run import seed_list
from disentangle.training import SharedData, fit, fit_together, start
from disentangle.training.checkpoint import load_checkpoint
from disentangle.training.rundir import RunLock

from .test_cli_run import FAST, cli, one_error_line
from .test_resume_exact import without_timing
from .test_trainer import _interrupt_at, poison_plugin, read_jsonl


def same_run(a, b) -> None:
    """Same log (timing aside) and bit-identical final weights."""
    assert without_timing(read_jsonl(a, "metrics.jsonl")) == \
        without_timing(read_jsonl(b, "metrics.jsonl"))
    wa, wb = (load_checkpoint(f"{p}/checkpoints/latest.pt")["model"] for p in (a, b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_runs_trained_together_equal_runs_trained_alone(fast_config):
    # different seeds, methods and step counts: nothing may leak from one run into another
    options = [dict(seed=1, steps=7), dict(seed=2, method="gan", steps=5),
               dict(seed=3, method="infogan-cr", steps=6, cr_start=2)]
    for i, o in enumerate(options):
        fit(start(fast_config(f"alone-{i}", **o)))
    shared = SharedData()  # as `--seeds` starts them: the data loaded once, one tensor read
    sessions = [start(fast_config(f"together-{i}", **o), shared=shared)
                for i, o in enumerate(options)]
    assert all(s.images is sessions[0].images for s in sessions)
    results = fit_together(sessions)
    assert [r["steps"] for r in results] == [7, 5, 6]
    for i in range(len(options)):
        same_run(fast_config(f"alone-{i}").out, fast_config(f"together-{i}").out)


def test_shared_data_is_shared_only_by_runs_of_the_same_data(fast_config, tmp_path):
    shared = SharedData()
    a, b = (start(fast_config(name), shared=shared) for name in ("a", "b"))
    other = start(fast_config("c", data_dir=str(tmp_path / "elsewhere")), shared=shared)
    alone = start(fast_config("d"))
    assert a.images is b.images
    assert other.images is not a.images and alone.images is not a.images
    assert torch.equal(other.images, a.images) and torch.equal(alone.images, a.images)
    for session in (a, b, other, alone):
        session.close()


def test_a_failing_run_ends_alone(fast_config, use_registry):
    use_registry(poison_plugin())  # NaN in D after its 7th step
    sessions = [start(fast_config("poisoned", method="poison", steps=12)),
                start(fast_config("healthy", steps=12))]
    results = fit_together(sessions)
    assert isinstance(results[0], DisentangleError) and "became nan" in str(results[0])
    assert results[1]["status"] == "finished" and results[1]["steps"] == 12
    for session in sessions:  # both run directories are unlocked again
        RunLock(session.run.path).release()  # a held lock would refuse this


def test_ctrl_c_stops_every_run_and_each_says_how_to_continue(fast_config, capsys):
    sessions = [start(fast_config(f"run-{i}", seed=i, steps=12, checkpoint_every=2))
                for i in range(2)]
    _interrupt_at(sessions[1], 5)  # Ctrl-C while run-1 takes its 5th step
    with pytest.raises(KeyboardInterrupt):
        fit_together(sessions)
    err = capsys.readouterr().err
    # run-0 had taken its 5th step (its turn comes first), run-1 was in its 5th
    for session in sessions:  # each says so, and continues from its checkpoint
        assert (f"interrupted at step 5; last checkpoint: step 4; continue with `disentangle run "
                f"infogan --out {session.run.path} --resume`") in err
        RunLock(session.run.path).release()
        assert load_checkpoint(session.run.latest)["step"] == 4


@pytest.mark.parametrize("text, seeds", [("0-4", [0, 1, 2, 3, 4]), ("3", [3]),
                                         ("0,3,7", [0, 3, 7]), ("0-2, 9", [0, 1, 2, 9])])
def test_seed_lists(text, seeds):
    assert seed_list(text) == seeds


@pytest.mark.parametrize("text, message", [("4-1", "not a list of seeds"),
                                           ("a", "not a list of seeds"),
                                           ("-1", "not a list of seeds"),
                                           ("0-2,1", "names a seed twice")])
def test_bad_seed_lists(text, message):
    with pytest.raises(DisentangleError, match=message):
        seed_list(text)


def test_cli_trains_one_run_directory_per_seed_and_resumes_them(capsys, toy_registry, tmp_path):
    code, out, _ = cli(capsys, "run", "infogan", *FAST, "--steps", "3", "--seeds", "0,2",
                       "--out", tmp_path / "set", "--json")
    assert code == 0
    summaries = json.loads(out)
    assert [s["run_dir"] for s in summaries] == [str(tmp_path / "set" / f"seed-{s}")
                                                 for s in (0, 2)]
    assert [json.loads((tmp_path / "set" / f"seed-{s}" / "config.json").read_text())["config"]
            ["seed"] for s in (0, 2)] == [0, 2]
    code, out, _ = cli(capsys, "run", "infogan", "--steps", "5", "--seeds", "0,2", "--resume",
                       "--out", tmp_path / "set", "--json", "--quiet")
    assert code == 0 and [s["steps"] for s in json.loads(out)] == [5, 5]
    # the same seed trained alone is the same run
    code, _, _ = cli(capsys, "run", "infogan", *FAST, "--steps", "3", "--seed", "2",
                     "--out", tmp_path / "alone")
    code, _, _ = cli(capsys, "run", "infogan", "--steps", "5", "--resume", "--quiet",
                     "--out", tmp_path / "alone")
    same_run(tmp_path / "set" / "seed-2", tmp_path / "alone")


def test_cli_seed_errors_are_one_line(capsys, toy_registry, tmp_path):
    code, _, err = cli(capsys, "run", "infogan", *FAST, "--seeds", "0-1", "--seed", "3")
    assert code != 0 and "--seed and --seeds cannot be combined" in one_error_line(err)
    code, _, err = cli(capsys, "run", "infogan", *FAST, "--seeds", "1-0")
    assert code != 0 and "--seeds '1-0' is not a list of seeds" in one_error_line(err)
    code, _, err = cli(capsys, "run", "infogan", *FAST, "--seeds", "0-1", "--resume")
    assert code != 0 and "--resume with --seeds needs --out" in one_error_line(err)


def test_cli_start_that_fails_for_one_seed_leaves_no_run_behind(capsys, toy_registry, tmp_path):
    (tmp_path / "set" / "seed-1").mkdir(parents=True)
    (tmp_path / "set" / "seed-1" / "notes.txt").write_text("someone else's")
    code, _, err = cli(capsys, "run", "infogan", *FAST, "--steps", "3", "--seeds", "0-1",
                       "--out", tmp_path / "set")
    assert code != 0 and "seed-1" in one_error_line(err)
    assert not (tmp_path / "set" / "seed-0").exists()  # started, never trained: removed
    assert (tmp_path / "set" / "seed-1" / "notes.txt").read_text() == "someone else's"


@pytest.mark.gpu
@pytest.mark.parametrize("method, flags, records", [
    ("infogan", (), 1),
    # CR switches on at step 20: each run records a second graph and drops its first while the
    # other run's graph lives on (the case that faulted when all recorded on one stream)
    ("infogan-cr", ("--code", "categorical:10", "--code", "uniform:1", "--cr-start", "20"), 2),
])
def test_runs_together_on_streams_follow_runs_alone_on_the_gpu(tmp_path, method, flags, records):
    """Each run on its own stream, replaying its own CUDA graphs, against the same seed trained
    alone: the same deterministic kernels on the same inputs (the tolerance of
    test_cuda_graph.py), and the very same draws from the run's generator."""
    from .test_cuda_graph import _losses, _train

    _train(tmp_path / "set", method, "--seeds", "1-2", *flags)
    _train(tmp_path / "alone", method, "--seed", "2", *flags)
    together, alone = tmp_path / "set" / "seed-2", tmp_path / "alone"
    summary = json.loads((together / "summary.json").read_text())
    assert summary["cuda_graph"]["records"] == records
    a, b = _losses(together), _losses(alone)
    assert torch.isfinite(a).all() and a.shape == b.shape
    assert torch.allclose(a, b, atol=1e-3, rtol=0), (a - b).abs().max()
    states = [load_checkpoint(r / "checkpoints" / "latest.pt") for r in (together, alone)]
    assert torch.equal(states[0]["rng"]["sampler"], states[1]["rng"]["sampler"])


def test_seeds_refuse_to_nest_in_a_run(capsys, toy_registry, tmp_path):
    cli(capsys, "run", "infogan", *FAST, "--steps", "1", "--out", tmp_path / "r", "--quiet")
    code, _, err = cli(capsys, "run", "infogan", *FAST, "--steps", "1", "--seeds", "0,1",
                       "--out", tmp_path / "r")
    assert code == 1 and f"--out {tmp_path / 'r'} is a run directory" in one_error_line(err)
    assert sorted(p.name for p in (tmp_path / "r").iterdir() if p.name.startswith("seed")) == []


def test_resuming_seeds_skips_those_already_finished(capsys, toy_registry, tmp_path):
    """One seed resumed alone to the end refused the whole set's --resume ("already reached")."""
    cli(capsys, "run", "infogan", *FAST, "--steps", "3", "--seeds", "0,2", "--out",
        tmp_path / "set", "--quiet")
    code, _, _ = cli(capsys, "run", "infogan", "--steps", "5", "--resume", "--quiet",
                     "--out", tmp_path / "set" / "seed-0")
    assert code == 0
    code, out, _ = cli(capsys, "run", "infogan", "--steps", "5", "--seeds", "0,2", "--resume",
                       "--out", tmp_path / "set", "--json")
    assert code == 0
    skipped, trained = json.loads(out)
    assert skipped["status"] == "skipped" and skipped["seed"] == 0
    assert "already reached step 5 of 5" in skipped["reason"]
    assert trained["run_dir"] == str(tmp_path / "set" / "seed-2") and trained["steps"] == 5
    code, _, err = cli(capsys, "run", "infogan", "--steps", "5", "--seeds", "0,2", "--resume",
                       "--out", tmp_path / "set")
    assert code != 0 and "every seed under" in one_error_line(err)
    # a seed resumed alone past the set's --steps is skipped too (it refused the whole set)
    code, _, _ = cli(capsys, "run", "infogan", "--steps", "7", "--resume", "--quiet",
                     "--out", tmp_path / "set" / "seed-0")
    assert code == 0
    code, out, _ = cli(capsys, "run", "infogan", "--steps", "6", "--seeds", "0,2", "--resume",
                       "--out", tmp_path / "set", "--json")
    assert code == 0, out
    skipped, trained = json.loads(out)
    assert skipped["seed"] == 0 and "is at step 7, past --steps 6" in skipped["reason"]
    assert trained["steps"] == 6
