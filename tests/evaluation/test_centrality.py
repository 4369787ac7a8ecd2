"""ModelCentrality: known answers on hand-built generators and encoders, then the real CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from disentangle.backbones import Networks
from disentangle.errors import DisentangleError
from disentangle.evaluation.centrality import CentralityConfig, centrality, pairwise_scores
from disentangle.latent import Latent
from disentangle.model import LatentModel
from disentangle.registry import get_registry
from tests.conftest import run_cli

FAST = CentralityConfig(num_train=60, num_eval=30, num_variance_estimate=500, group_size=32)


def model(order=(0, 1, 2), noise: bool = False, seed: int = 0) -> LatentModel:
    """Three U(-1, 1) codes and 2 noise dims on a 4x4 image. G writes code k to pixel order[k]
    and the noise to pixels 10 and 11; Q reads code k back from pixel order[k]: a perfectly
    disentangled pair, its codes permuted by `order`. noise=True: codes that mean nothing (G
    draws only its noise, at random into every pixel; Q reads random mixtures of pixels 10-15)."""
    latent = Latent.from_specs(["uniform:1"] * 3, noise_dim=2, registry=get_registry())
    g, q = nn.Linear(5, 16, bias=False), nn.Linear(16, 3, bias=False)
    with torch.no_grad():
        if noise:
            gen = torch.Generator().manual_seed(seed)
            g.weight.zero_()
            q.weight.zero_()
            g.weight[:, :2] = torch.randn(16, 2, generator=gen)
            q.weight[:, 10:] = torch.randn(3, 6, generator=gen)
        else:
            g.weight.zero_()
            q.weight.zero_()
            g.weight[10, 0] = g.weight[11, 1] = 1.0
            for k, pixel in enumerate(order):
                g.weight[pixel, 2 + k] = 1.0
                q.weight[k, pixel] = 1.0
    nets = Networks(generator=nn.Sequential(g, nn.Unflatten(1, (1, 4, 4))), trunk=nn.Flatten(),
                    d_head=nn.Linear(16, 1), q_head=q)
    return LatentModel(latent, nets)


def test_identical_runs_agree_perfectly_and_tie():
    scores = pairwise_scores([model(), model(), model()], FAST)
    assert np.array_equal(scores, np.ones((3, 3)))
    assert np.array_equal(centrality(scores), np.ones(3))


def test_a_permuted_copy_is_the_same_model_and_a_noise_run_is_left_out():
    models = [model(), model((2, 0, 1)), model(noise=True, seed=1), model((1, 2, 0))]
    scores = pairwise_scores(models, FAST)
    perfect = [0, 1, 3]
    assert np.array_equal(scores[np.ix_(perfect, perfect)], np.ones((3, 3)))
    assert scores[2, 0] < 0.6 and scores[0, 2] < 0.6
    central = centrality(scores)
    assert int(np.argmin(central)) == 2
    assert int(np.argmax(central)) in perfect


def categorical_model(split_into: int | None = None) -> LatentModel:
    """c1 = categorical:4 and c2 = U(-1, 1), one noise dim, on a 4x4 image: G writes c1 one-hot
    to pixels 0-3, c2 to pixel 4 and z to pixel 5; Q reads them back. split_into=j: Q sends the
    images of class 0 to class 0 or class j by the sign of the noise (a split class, as a digits
    run that draws two styles of 1 under two categories)."""
    latent = Latent.from_specs(["categorical:4", "uniform:1"], noise_dim=1,
                               registry=get_registry())
    g, q = nn.Linear(6, 16, bias=False), nn.Linear(16, 5, bias=False)
    with torch.no_grad():
        g.weight.zero_()
        q.weight.zero_()
        g.weight[5, 0] = 1.0  # z
        for k in range(4):
            g.weight[k, 1 + k] = 1.0
            q.weight[k, k] = 10.0  # logits
        g.weight[4, 5] = q.weight[4, 4] = 1.0
        if split_into is not None:
            q.weight[split_into, 0] = 10.0
            q.weight[0, 5], q.weight[split_into, 5] = 3.0, -3.0
    nets = Networks(generator=nn.Sequential(g, nn.Unflatten(1, (1, 4, 4))), trunk=nn.Flatten(),
                    d_head=nn.Linear(16, 1), q_head=q)
    return LatentModel(latent, nets)


def test_a_split_class_costs_the_same_whichever_category_it_lands_in():
    """Which index a category gets is arbitrary, so a categorical code votes one-hot, as one
    unit: splitting class 0 into category 1 or into category 3 scores the same (as a class index,
    0/3 would vary far more than 0/1 and lose votes that 0/1 wins)."""
    scores = pairwise_scores([categorical_model(), categorical_model(split_into=1),
                              categorical_model(split_into=3)], FAST)
    assert scores[0, 1] == scores[0, 2]
    assert scores[0, 0] == 1.0


def test_centrality_known_answer_and_bad_input():
    scores = np.array([[1.0, 0.8, 0.2], [0.6, 1.0, 0.4], [0.2, 0.0, 1.0]])
    # similarities: (0,1) 0.7, (0,2) 0.2, (1,2) 0.2
    assert np.allclose(centrality(scores), [0.45, 0.45, 0.2])
    with pytest.raises(DisentangleError, match="square"):
        centrality(np.ones((2, 3)))
    with pytest.raises(DisentangleError, match="at least 2"):
        pairwise_scores([model()], FAST)


@pytest.mark.parametrize("part, said", [("generator", "'b': G's images are NaN"),
                                        ("q_head", "'b': Q's estimates of 'a''s images are NaN")])
def test_networks_that_overflow_are_named(part, said):
    """select's default selector ended at 'sample_codes returned NaN or infinite codes', naming
    no run."""
    broken = model()
    with torch.no_grad():
        layer = broken.generator[0] if part == "generator" else broken.q_head
        layer.weight[0, :] = float("nan")
    with pytest.raises(DisentangleError, match=said):
        pairwise_scores([model(), broken], FAST, names=["'a'", "'b'"])


def test_select_through_the_cli(tmp_path):
    fast = ("--dataset", "digits", "--backbone", "tiny", "--steps", "2", "--batch-size", "8",
            "--quiet")
    done = run_cli("run", "infogan", "--seeds", "0,1", "--out", tmp_path, *fast)  # one process
    assert done.returncode == 0, done.stderr
    runs = [tmp_path / "seed-0", tmp_path / "seed-1"]
    done = run_cli("select", *runs, "--by", "centrality", "--votes", "30", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["chosen"] in map(str, runs) and len(result["centrality"]) == 2
    # two runs' symmetrised similarity is one number: a tie by construction, said as one
    assert result["tied"] == [str(r) for r in runs] and result["chosen"] == str(runs[0])
    for run in runs:
        saved = json.loads((run / "selection.json").read_text())
        assert saved["rank"] in (1, 2) and saved["chosen"] == result["chosen"]
        (run / "selection.json").unlink()
    done = run_cli("select", *runs, "--by", "centrality", "--votes", "30", "--no-write")
    assert done.returncode == 0  # rich wraps the line at the terminal's width
    assert "score the same, so the scores cannot tell" in " ".join(done.stdout.split())
    assert not any((run / "selection.json").exists() for run in runs)
    done = run_cli("select", runs[0])
    assert done.returncode != 0 and "at least 2" in done.stderr and "Traceback" not in done.stderr
    done = run_cli("select", runs[0], tmp_path / "nope")
    assert done.returncode != 0 and "not a run directory" in done.stderr
    one = tmp_path / "one-code"  # every run predicts its one code: a FactorVAE score of 1
    done = run_cli("run", "infogan", "--code", "categorical:3", "--out", one, *fast)
    assert done.returncode == 0, done.stderr
    done = run_cli("select", runs[0], one, "--by", "centrality", "--votes", "30")
    assert done.returncode != 0 and f"'{one}' has one code" in done.stderr


def test_select_takes_runs_of_one_image_size_however_it_was_asked_for(tmp_path):
    fast = ("--backbone", "tiny", "--steps", "2", "--batch-size", "8", "--quiet")
    for out, size in (("default", ()), ("asked", ("--image-size", "28"))):  # both 28×28
        done = run_cli("run", "infogan", "--dataset", "digits", *size, "--out", tmp_path / out,
                       *fast)
        assert done.returncode == 0, done.stderr
    done = run_cli("run", "infogan", "--dataset", "shapes", "--image-size", "32", "--out",
                   tmp_path / "shapes", *fast)
    assert done.returncode == 0, done.stderr
    done = run_cli("select", tmp_path / "default", tmp_path / "asked", "--points", "100",
                   "--no-write")
    assert done.returncode == 0, done.stderr
    done = run_cli("select", tmp_path / "default", tmp_path / "shapes", "--no-write")
    assert done.returncode == 1 and done.stderr.splitlines() == [
        "error: select compares runs of one dataset; these are of digits 28×28, shapes 32×32"]


# --- UDR (Duan et al. 2020), disentanglement_lib's definition ---------------------------------

def test_relative_strength_known_answers():
    from disentangle.evaluation.udr import relative_strength

    assert relative_strength(np.eye(3)) == 1.0
    # two entangled dimensions: columns and rows score 1/2, 1/2, 1 -> 2/3
    assert relative_strength([[1, 1, 0], [1, 1, 0], [0, 0, 1]]) == pytest.approx(2 / 3)
    assert relative_strength(np.ones((3, 3))) == pytest.approx(1 / 3)
    assert relative_strength(np.zeros((3, 3))) == 0.0  # 0/0 counts as 0


def test_spearman_matrix_is_rank_correlation():
    from scipy.stats import spearmanr

    from disentangle.evaluation.udr import spearman_matrix

    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 3))
    b = np.column_stack([np.exp(a[:, 1]), -a[:, 0] ** 3, rng.normal(size=200)])
    got = spearman_matrix(a, b)
    want = np.abs(spearmanr(a, b).statistic[:3, 3:])
    assert np.allclose(got, want)
    assert got[1, 0] == pytest.approx(1) and got[0, 1] == pytest.approx(1)  # monotone maps
    assert np.allclose(spearman_matrix(np.ones((5, 1)), a[:5, :1]), 0)  # a constant column


@pytest.mark.parametrize("correlation", ["lasso", "spearman"])
def test_udr_ranks_a_noise_run_last_and_a_permuted_copy_high(correlation):
    from disentangle.evaluation.udr import udr

    rng = np.random.default_rng(0)
    codes = rng.uniform(-1, 1, size=(1000, 4))
    flipped = -codes[:, [2, 0, 3, 1]] * 3 + 1  # permuted, sign-flipped, rescaled: same codes
    noise = rng.uniform(-1, 1, size=(1000, 4))
    result = udr([codes, flipped, codes.copy(), noise], correlation)
    scores = np.array(result["scores"])
    assert scores[:3].min() > 0.85 and scores[3] < 0.5
    assert int(np.argmin(scores)) == 3
    pairwise = np.array(result["pairwise"])
    assert pairwise[0, 1] > 0.85 and pairwise[0, 3] < 0.5


def test_udr_bad_input():
    from disentangle.evaluation.udr import udr

    with pytest.raises(DisentangleError, match="at least 2"):
        udr([np.zeros((10, 2))])
    with pytest.raises(DisentangleError, match="same images"):
        udr([np.zeros((10, 2)), np.zeros((11, 2))])
    with pytest.raises(DisentangleError, match="lasso, spearman"):
        udr([np.zeros((10, 2))] * 2, "pearson")


def test_select_by_udr_through_the_cli(tmp_path):
    fast = ("--dataset", "digits", "--backbone", "tiny", "--steps", "2", "--batch-size", "8",
            "--quiet")
    done = run_cli("run", "infogan", "--seeds", "0-2", "--out", tmp_path, *fast)  # one process
    assert done.returncode == 0, done.stderr
    runs = [tmp_path / f"seed-{seed}" for seed in (0, 1, 2)]
    done = run_cli("select", *runs, "--points", "200", "--json")  # UDR is the default
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["by"] == "udr" and len(result["udr"]) == 3
    assert result["chosen"] == result["runs"][int(np.argmax(result["udr"]))]
    assert result["config"]["points"] == 200
    saved = json.loads((runs[0] / "selection.json").read_text())
    assert saved["rank"] in (1, 2, 3) and saved["own_score"] == result["udr"][0]
    for run in runs:
        done = run_cli("eval", run, "--n", "50", "--bound-samples", "50", "--quiet")
        assert done.returncode == 0, done.stderr
    done = run_cli("compare", *runs)
    assert done.returncode == 0 and "UDR (rank)" in done.stdout, done.stderr
    done = run_cli("select", *runs, "--by", "votes")
    assert done.returncode != 0 and "--by must be one of udr, centrality, neighbours" in done.stderr


def test_selection_files_are_all_written_or_none(tmp_path):
    """A run that cannot be written (read-only, or gone) left the others holding a selection
    that named it, beside its own older one."""
    from disentangle.cli.select import _write_all

    kept, fresh = tmp_path / "a" / "selection.json", tmp_path / "b" / "selection.json"
    kept.parent.mkdir()
    fresh.parent.mkdir()
    kept.write_text("the older selection")
    unwritable = tmp_path / "gone" / "selection.json"  # its folder is missing: the write fails
    with pytest.raises(Exception, match="gone"):
        _write_all({kept: "new a", fresh: "new b", unwritable: "new c"})
    assert kept.read_text() == "the older selection" and not fresh.exists()
    _write_all({kept: "new a", fresh: "new b"})
    assert kept.read_text() == "new a" and fresh.read_text() == "new b"


def test_udr_known_answers_beyond_zeros_and_ones():
    """A run's UDR is the median over its column of the pairwise scores (an asymmetric matrix
    tells row from column); relative strength squares the largest entry (max²/sum, dl's); the
    Lasso's alpha is 0.1 (b = 0.5·a shrinks to 0.4 on standardised a)."""
    from disentangle.evaluation.udr import lasso_matrix, relative_strength, udr_scores

    assert udr_scores(np.array([[0, .9, .1], [.2, 0, .3], [.4, .5, 0]])) == \
        pytest.approx([.3, .7, .2])
    assert relative_strength([[0.5, 0.5], [0, 1]]) == pytest.approx(29 / 48)
    a = np.random.default_rng(0).normal(size=(2000, 2))
    a = (a - a.mean(0)) / a.std(0)
    np.testing.assert_allclose(lasso_matrix(a, 0.5 * a[:, :1]), [[0.4], [0.0]], atol=2e-3)
