"""Smoke test of the eval-speed benchmark: one small case end to end, every stage timed."""

import json

from benchmarks import eval_speed


def test_quick_digits_case_times_every_stage(tmp_path, capsys):
    eval_speed.main(["--cases", "digits", "--quick", "--device", "cpu", "--jobs", "1",
                     "--runs", str(tmp_path), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["profile"] == "quick" and list(report["cases"]) == ["digits"]
    case = report["cases"]["digits"]
    stages = {"encode", "probe inputs", "probe", "cluster"}
    assert stages <= set(case["timings_s"]) == set(case["cpu_s"])
    assert case["test_points"] == 300 and case["workers_cpu_s"] >= 0
    assert case["total_s"] >= max(case["timings_s"].values())


def test_cases_may_be_given_with_spaces_or_commas(capsys):
    import pytest

    for argv in (["--cases", "digits", "shapes9"], ["--cases", "digits,shapes9"]):
        with pytest.raises(SystemExit):
            eval_speed.main(argv)
        assert "unknown case 'shapes9'" in capsys.readouterr().err


def test_a_run_of_other_steps_is_made_again(tmp_path, monkeypatch):
    """Any run with a checkpoints folder was reused, whatever its steps, finished or not."""
    import disentangle.training as training

    made = []

    def fake_train(config, quiet):
        made.append(config.steps)
        (tmp_path / "digits").mkdir()
        (tmp_path / "digits" / "summary.json").write_text(json.dumps({"steps": config.steps}))

    monkeypatch.setattr(training, "train", fake_train)
    for steps in (2, 2, 3):
        assert eval_speed.make_run(tmp_path, "digits", steps, "cpu") == tmp_path / "digits"
    assert made == [2, 3]
