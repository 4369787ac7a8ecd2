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
