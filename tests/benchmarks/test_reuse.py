"""Benchmarks reuse what they kept under --out only when it was made as the call asks: a second
call with other steps or votes used to report the first call's runs and scores as its own."""

import argparse
import json

import pytest

from benchmarks import infogan_vs_gan, reuse


def finished_run(path, steps=5, stamp=True):
    path.mkdir(parents=True)
    (path / "summary.json").write_text(json.dumps({"steps": steps}))
    (path / "config.json").write_text(json.dumps({"config": {
        "method": "infogan", "dataset": "digits", "seed": 0, "steps": steps}}))
    if stamp:
        reuse.stamp(path, "training", reuse.training("infogan", "digits", 0, steps, ("--x",)))
    return path


def test_a_finished_run_is_reused_only_as_it_was_trained(tmp_path):
    run = finished_run(tmp_path / "r")
    assert reuse.finished_as(run, reuse.training("infogan", "digits", 0, 5, ("--x",)))
    with pytest.raises(SystemExit) as refused:
        reuse.finished_as(run, reuse.training("infogan", "digits", 0, 3000, ("--x",)))
    assert str(refused.value) == (f"error: {run} was trained with steps 5, not 3000 as this call "
                                  "asks; give another --out, or move that run away to train it "
                                  "again")
    with pytest.raises(SystemExit, match="run_args \\['--x'\\], not \\[\\]"):
        reuse.finished_as(run, reuse.training("infogan", "digits", 0, 5, ()))
    assert (run / "summary.json").is_file()  # refused, never deleted
    assert not reuse.finished_as(tmp_path / "absent", reuse.training("gan", "digits", 0, 5, ()))


def test_a_run_without_a_stamp_is_judged_by_its_config_and_summary(tmp_path):
    run = finished_run(tmp_path / "r", stamp=False)
    assert reuse.finished_as(run, reuse.training("infogan", "digits", 0, 5, ("--any",)))
    with pytest.raises(SystemExit, match="steps 5, not 6"):
        reuse.finished_as(run, reuse.training("infogan", "digits", 0, 6, ()))
    with pytest.raises(SystemExit, match="seed 0, not 1"):
        reuse.finished_as(run, reuse.training("infogan", "digits", 1, 5, ()))


def test_the_steps_are_the_summarys(tmp_path):
    """A stamped run trained on by hand (--resume --steps 10) was taken for its stamped 5."""
    run = finished_run(tmp_path / "r")
    (run / "summary.json").write_text(json.dumps({"steps": 10}))
    with pytest.raises(SystemExit, match="steps 10, not 5"):
        reuse.finished_as(run, reuse.training("infogan", "digits", 0, 5, ("--x",)))
    (run / "config.json").write_text("{}")
    with pytest.raises(SystemExit, match="cannot be read as a finished run"):
        reuse.finished_as(run, reuse.training("infogan", "digits", 0, 10, ("--x",)))


def test_every_run_is_checked_before_any_trains(tmp_path, monkeypatch):
    """A refusal raised inside a worker came only after the other workers' runs had trained."""
    trained = []
    monkeypatch.setattr(infogan_vs_gan, "train", lambda *a: trained.append(a))
    run = finished_run(tmp_path / "s0")
    setting = infogan_vs_gan.Setting(3000, run_args=("--x",))
    jobs = [("infogan", 1, tmp_path / "s1", setting), ("infogan", 0, run, setting)]
    with pytest.raises(SystemExit, match="steps 5, not 3000"):
        infogan_vs_gan.train_and_evaluate(jobs, "digits", argparse.Namespace(jobs=1, device="cpu"))
    assert trained == []


def test_a_score_knows_the_run_it_scored(tmp_path):
    run = finished_run(tmp_path / "r")
    before = reuse.identity(run)
    assert before == [str(run), None, 5]
    (run / "summary.json").write_text(json.dumps({"steps": 10}))  # trained on, same place
    assert reuse.identity(run) != before


def test_kept_results_need_the_same_settings(tmp_path):
    path = tmp_path / "pool.json"
    assert reuse.keep(path, {"scores": [1]}, {"votes": 30}) == {"scores": [1]}
    assert reuse.reusable(path, {"votes": 30}) == {"scores": [1]}
    assert reuse.reusable(path, {"votes": 300}) is None
    path.write_text('{"scores": [1]}')  # kept before settings were: made again
    assert reuse.reusable(path, {"votes": 30}) is None


def test_an_eval_made_with_other_flags_is_made_again(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(infogan_vs_gan, "cli", lambda *args: calls.append(args))
    run = finished_run(tmp_path / "r")
    (run / "eval.json").write_text("{}")  # made before stamps
    setting = infogan_vs_gan.Setting(5, eval_args=("--n", "100"), probe=False)
    infogan_vs_gan.evaluate(run, 0, setting, "cpu")
    infogan_vs_gan.evaluate(run, 0, setting, "cpu")  # stamped now: reused
    assert calls == [("eval", str(run), "--seed", "0", "--n", "100", "--device", "cpu")]
    infogan_vs_gan.evaluate(run, 0, infogan_vs_gan.Setting(5, probe=False), "cpu")
    assert len(calls) == 2

