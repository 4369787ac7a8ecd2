"""Smoke test of the InfoGAN-CR benchmark: the quick plan cut to a few steps must train all three
methods, evaluate them, run ModelCentrality and write every table."""

import pytest

from benchmarks import disentanglement


@pytest.mark.slow  # trains and evaluates 6 runs and ranks them: minutes on 2 cores
def test_quick_report_has_every_table(tmp_path):
    out = tmp_path / "bench"
    disentanglement.main(["--quick", "--steps", "3", "--seeds", "0", "--out", str(out),
                          "--device", "cpu", "--cr-start", "0"])
    text = (out / "report.md").read_text()
    assert "switches CR on at 0% of the steps" in text
    config = (out / "runs" / "shapes-infogan-cr-s0" / "config.json").read_text()
    assert '"cr_start": 0' in config
    for heading in ("## shapes", "## digits", "mig", "factor vae", "cluster accuracy",
                    "infogan-cr", "ModelCentrality", "all runs", "verdict", "Runs made on:"):
        assert heading in text, heading
    assert (out / "select-shapes-all.json").is_file()
    assert "Neighbour agreement" in text  # digits: a categorical code; shapes: none, not tried
    assert (out / "select-digits-all-neighbours.json").is_file()
    assert not (out / "select-shapes-all-neighbours.json").exists()


@pytest.mark.parametrize("fraction", ["1", "-0.1"])
def test_cr_start_is_a_fraction_of_the_budget(capsys, fraction):
    with pytest.raises(SystemExit) as exit_:
        disentanglement.main(["--cr-start", fraction])
    assert exit_.value.code == 2
    assert f"--cr-start must be in [0, 1), got {float(fraction)}" in capsys.readouterr().err


@pytest.mark.parametrize("values, expected", [
    ({"infogan-cr": [0.5, 0.6], "infogan": [0.1, 0.4], "gan": [0.2, 0.45]}, "infogan-cr ahead"),
    ({"infogan-cr": [0.5, 0.6], "infogan": [0.1, 0.55], "gan": [0.2]}, "overlap"),
    ({"infogan-cr": [0.1], "infogan": [0.3], "gan": [0.2]}, "infogan-cr behind"),
    ({"infogan-cr": [], "infogan": [0.3], "gan": [0.2]}, "-"),
])
def test_verdict_needs_every_seed_above_every_other(values, expected):
    assert disentanglement.verdict(values) == expected
