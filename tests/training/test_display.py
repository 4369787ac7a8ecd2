"""What a user reads after `disentangle run`: a progress line that keeps its step count and time
left however many codes there are, and a summary that shows λ only where it applies."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from disentangle.cli.run import print_summary
from disentangle.training.trainer import _Display


@pytest.mark.parametrize("columns", ["80", "60"])
def test_progress_keeps_the_step_count_and_time_left_with_many_codes(capsys, monkeypatch,
                                                                      columns):
    monkeypatch.setenv("COLUMNS", columns)  # stderr is not a terminal here, as with 2> file
    config = SimpleNamespace(method="infogan", dataset="shapes3d", steps=30000)
    display = _Display(SimpleNamespace(config=config), 0, quiet=False)
    stats = {"loss_d": 1.234, "loss_g": 0.987, **{f"info/c{i}": -0.3 for i in range(1, 11)}}
    display.advance(30000, stats)
    display.stop()
    (line,) = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
    assert "30000/30000" in line and "0:00:00" in line.split("30000/30000")[1]
    assert line.rstrip().endswith("…")  # the losses gave way, not the counts
    assert len(line.rstrip()) <= int(columns)


def summary(method: str, rewarded: bool) -> dict:
    return {
        "method": method, "dataset": "digits", "backbone": "mnist", "device": "cpu",
        "precision": "fp32", "steps": 10, "elapsed_s": 1.0, "images_per_s": 100.0,
        "generator_reward": rewarded, "final": {"loss_d": 1.0, "loss_g": 1.0},
        "codes": [
            {"name": "c1", "spec": "categorical:10", "weight": 1.0, "entropy": 2.302585,
             "differential": False, "reachable_bound": 2.302585, "info": 2.0, "info_eval": 2.0},
            {"name": "c2", "spec": "uniform:1", "weight": 0.1, "entropy": 0.693147,
             "differential": True, "reachable_bound": -0.225792, "info": -0.3, "info_eval": -0.3},
            {"name": "c3", "spec": "uniform:1@gaussian", "weight": 0.1, "entropy": 0.693147,
             "differential": True, "reachable_bound": None, "info": 0.1, "info_eval": 0.1},
        ],
        "run_dir": "runs/x", "files": {k: f"runs/x/{k}" for k in
                                       ("config", "metrics", "samples", "info_plot", "summary")}
                                    | {"traversals": []},
    }


def table_rows(out: str) -> dict[str, list[str]]:
    return {cells[0]: cells for line in out.splitlines()
            if (cells := [c.strip() for c in line.strip("│ ").split("│")])[0] in ("c1", "c2", "c3")}


def test_summary_shows_lambda_only_when_the_generator_is_rewarded(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    print_summary(summary("infogan", True))
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert [rows[c][2] for c in ("c1", "c2")] == ["1", "0.1"]
    assert rows["c2"][-1] == "bound; max -0.226" and rows["c3"][-1] == "bound, no max"
    assert rows["c1"][-1] == "87% of H"
    print_summary(summary("gan", False))
    out = capsys.readouterr().out
    assert [row[2] for row in table_rows(out).values()] == ["-", "-", "-"]
    assert "gan: the generator gets no information reward" in out
