"""Benchmarks reuse what they kept under --out only when it was made as the call asks: a second
call with other steps or votes used to report the first call's runs and scores as its own."""

import json

import pytest

from benchmarks import infogan_vs_gan, reuse


def finished_run(path, steps=5, stamp=True):
    path.mkdir(parents=True)
    (path / "summary.json").write_text("{}")
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


def test_a_run_without_a_stamp_is_judged_by_its_config(tmp_path):
    run = finished_run(tmp_path / "r", stamp=False)
    assert reuse.finished_as(run, reuse.training("infogan", "digits", 0, 5, ("--any",)))
    with pytest.raises(SystemExit, match="steps 5, not 6"):
        reuse.finished_as(run, reuse.training("infogan", "digits", 0, 6, ()))


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

