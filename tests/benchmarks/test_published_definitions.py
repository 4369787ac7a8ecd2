"""The published InfoGAN-CR figures' definitions (benchmarks/published_definitions.py): known
answers on representations built from the factors, and the script end to end on a real run."""

import json

import numpy as np
import pytest

from benchmarks import published_definitions as pd
from disentangle.evaluation.factor_vae import factor_vae_score
from tests.conftest import run_cli

SIZES = np.array([3, 6, 10])


def test_the_factors_themselves_score_one():
    identity = lambda rows: rows.astype(float)  # noqa: E731
    rng = np.random.default_rng(0)
    assert pd.authors_factor_vae(identity, SIZES, rng, 2000, votes=60, group=20) == 1.0
    assert pd.wide_mig(identity, SIZES, rng, 20_000) == pytest.approx(1.0, abs=0.01)


def test_a_code_of_small_spread_still_votes():
    """dl prunes a code whose spread is under 0.05 however well it reads its factor; the authors'
    definition keeps it: here the second code is factor 1 exactly, at a spread of ~0.002."""
    small = lambda rows: rows[:, :2] * np.array([1.0, 0.001])  # noqa: E731
    sizes = SIZES[:2]
    assert pd.authors_factor_vae(small, sizes, np.random.default_rng(0), 2000, votes=60,
                                 group=20) == 1.0
    dl = factor_vae_score(small, sizes, np.random.default_rng(0), batch_size=20, num_train=60,
                          num_eval=60, num_variance_estimate=2000)
    assert dl["num_active_dims"] == 1 and dl["train_accuracy"] < 0.8


def test_a_code_that_mixes_two_factors_halves_the_wide_mig():
    """One code per factor, but the first reads factors 0 and 1 together: factor 1's best code
    is the mixed one and its second best its own, so its gap is small."""
    mixed = lambda r: np.stack([r[:, 0] * 4 + r[:, 1], r[:, 1]], 1).astype(float)  # noqa: E731
    score = pd.wide_mig(mixed, np.array([4, 4]), np.random.default_rng(0), 20_000)
    # factor 0: MI(c0) = ln 4, MI(c1) = 0 -> 1; factor 1: MI(c0) = MI(c1) = ln 4 -> 0
    assert score == pytest.approx(0.5, abs=0.01)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A real run; its eval.json holds only what the script reads (eval itself is tested in
    tests/evaluation), so the figures it copies are known."""
    run = tmp_path_factory.mktemp("published") / "s"
    done = run_cli("run", "infogan", "--dataset", "shapes", "--image-size", "32", "--backbone",
                   "tiny", "--steps", "1", "--batch-size", "8", "--out", run, "--quiet")
    assert done.returncode == 0, done.stderr
    (run / "eval.json").write_text(json.dumps({"disentanglement": {"mig": 0.125,
                                                                   "factor_vae": 0.5}}))
    return run


@pytest.mark.slow  # a real shapes run: tens of seconds the known answers above do not need
def test_the_script_sets_both_definitions_side_by_side(evaluated, capsys):
    rows = pd.main([str(evaluated), "--votes", "20", "--group", "10", "--points", "600"])
    (row,) = rows
    assert (row["mig"], row["factor_vae"]) == (0.125, 0.5)
    assert 0 <= row["mig_wide"] <= 1 and 0 <= row["factor_vae_authors"] <= 1
    assert row["points"] == 600 and "authors FVAE" in capsys.readouterr().out


def test_a_run_it_cannot_score_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="empty is not a run directory"):
        pd.main([str(tmp_path / "empty")])
    done = run_cli("run", "infogan", "--dataset", "digits", "--backbone", "tiny", "--steps", "1",
                   "--batch-size", "8", "--out", tmp_path / "d", "--quiet")
    assert done.returncode == 0, done.stderr
    (tmp_path / "d" / "eval.json").write_text("{}")  # evaluated: the dataset is what is wrong
    with pytest.raises(SystemExit, match="trained on 'digits', which has no ground-truth"):
        pd.main([str(tmp_path / "d")])
    done = run_cli("run", "infogan", "--dataset", "shapes", "--image-size", "32", "--backbone",
                   "tiny", "--steps", "1", "--batch-size", "8", "--out", tmp_path / "s", "--quiet")
    assert done.returncode == 0, done.stderr
    with pytest.raises(SystemExit, match="holds no disentanglement scores; run `disentangle "
                       "eval"):
        pd.main([str(tmp_path / "s")])
