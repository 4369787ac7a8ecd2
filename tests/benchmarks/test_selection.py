"""The selection benchmark scores every subset as `select` would score it alone (known answer)."""

from pathlib import Path

import numpy as np
import pytest

from benchmarks import selection


def test_every_subset_is_scored_as_select_would_score_it():
    # run 1 agrees with everyone (0.9), the others only weakly with each other (0.1)
    scores = np.full((4, 4), 0.1)
    scores[1, :] = scores[:, 1] = 0.9
    accuracies = np.array([0.9, 0.8, 0.7, 0.6])
    result = selection.subsets(scores, accuracies, 3, "centrality")
    # {0,1,2} and {0,1,3} pick run 1 (gap 0.1); {0,2,3} ties and picks run 0 (gap 0), as select's
    # stable sort does; {1,2,3} picks run 1, its best (gap 0)
    assert result["subsets"] == 4
    assert result["chosen"] == pytest.approx(
        {"best": 0.5, "near": 0.5, "mean_gap": 0.05, "worst_gap": 0.1})
    # at random: every member of every subset, 12 in all, 4 of them the best
    assert result["random"] == pytest.approx(
        {"best": 4 / 12, "near": 4 / 12, "mean_gap": 1.5 / 12, "worst_gap": 0.3})


def test_udr_subsets_use_the_median_over_the_subset():
    pairwise = np.array([[0, 0.9, 0.1], [0.9, 0, 0.2], [0.5, 0.3, 0]])
    # whole set: UDR medians of columns without the diagonal: run 0 (0.9, 0.5) -> 0.7,
    # run 1 (0.9, 0.3) -> 0.6, run 2 (0.1, 0.2) -> 0.15: run 0 chosen, the worst here
    result = selection.subsets(pairwise, np.array([0.5, 0.9, 0.7]), 3, "udr")
    assert result["chosen"]["mean_gap"] == pytest.approx(0.4)


def test_a_per_run_selector_picks_the_subsets_top_score():
    own = np.array([0.3, 0.9, 0.5, 0.1])  # neighbour agreement: one score per run
    accuracies = np.array([0.9, 0.8, 0.7, 0.6])
    result = selection.subsets(own, accuracies, 3, "neighbours")
    # run 1 is picked in every subset that holds it (gaps 0.1, 0.1, 0); {0,2,3} picks run 2
    # (gap 0.2)
    assert result["chosen"] == pytest.approx(
        {"best": 0.25, "near": 0.25, "mean_gap": 0.1, "worst_gap": 0.2})


def test_a_file_among_the_runs_is_one_line_not_a_traceback(tmp_path):
    """A shell glob (`runs/x-*`) catches the runs' log files too."""
    import subprocess
    import sys

    (tmp_path / "x-0.log").write_text("")
    done = subprocess.run([sys.executable, "-m", "benchmarks.selection", str(tmp_path / "x-0.log"),
                           str(tmp_path / "x-0.log"), "--k", "2", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        f"{tmp_path / 'x-0.log'} is not a finished run (no summary.json); give run directories"]
