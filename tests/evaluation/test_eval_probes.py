"""Linear probe accuracy at label budgets."""

import numpy as np
import pytest

from disentangle.evaluation import linear_probe


def _blobs(rng, n, classes=4, dim=8, spread=0.3):
    y = rng.integers(0, classes, n)
    centres = 3.0 * np.eye(classes, dim)
    return centres[y] + spread * rng.normal(size=(n, dim)), y


def test_separable_data_is_perfect_at_every_budget():
    rng = np.random.default_rng(0)
    xt, yt = _blobs(rng, 800)
    xe, ye = _blobs(rng, 400)
    r = linear_probe(xt, yt, xe, ye, budgets=(10, 100, None), seed=0)
    assert list(r) == ["10", "100", "all"]
    assert r["10"]["n_train"] == 40 and r["all"]["n_train"] == 800
    assert r["10"]["folds"] == 5
    for entry in r.values():
        assert entry["accuracy"] >= 0.99


def test_random_labels_are_chance():
    rng = np.random.default_rng(1)
    xt, xe = rng.normal(size=(600, 8)), rng.normal(size=(2000, 8))
    yt, ye = rng.integers(0, 4, 600), rng.integers(0, 4, 2000)
    r = linear_probe(xt, yt, xe, ye, budgets=(None,), seed=0)
    assert r["all"]["accuracy"] == pytest.approx(0.25, abs=0.05)


def test_tiny_budgets_reduce_folds_or_skip_cv():
    rng = np.random.default_rng(2)
    xt, yt = _blobs(rng, 400)
    xe, ye = _blobs(rng, 200)
    r = linear_probe(xt, yt, xe, ye, budgets=(1, 2, 3), seed=0)
    assert r["1"]["folds"] == 0 and r["1"]["n_train"] == 4  # one example per class: no CV
    assert r["2"]["folds"] == 2 and r["3"]["folds"] == 3
    assert r["1"]["accuracy"] > 0.5  # chance is 0.25; 4 points make a noisy standardisation


def test_budget_larger_than_a_class_and_seed_reproducibility():
    rng = np.random.default_rng(3)
    xt, yt = _blobs(rng, 300, classes=3, spread=2.0)  # overlapping: quick to fit
    yt[:5] = 3  # a rare class with 5 examples
    xe, ye = _blobs(rng, 100, classes=3, spread=2.0)
    a = linear_probe(xt, yt, xe, ye, budgets=(50,), seed=11)
    b = linear_probe(xt, yt, xe, ye, budgets=(50,), seed=np.random.default_rng(11))
    assert a["50"]["n_train"] == 3 * 50 + 5 and a["50"]["folds"] == 5
    assert a == b


def test_cv_on_a_sample_then_refit_on_the_whole_budget():
    rng = np.random.default_rng(4)
    xt, yt = _blobs(rng, 600)
    xe, ye = _blobs(rng, 200)
    r = linear_probe(xt, yt, xe, ye, budgets=(None,), cv_max_points=100, seed=0)
    assert r["all"]["n_train"] == 600 and r["all"]["folds"] == 5
    assert r["all"]["accuracy"] >= 0.99


def test_fitting_in_the_row_space_is_exact():
    """The probe fits few-point budgets on r <= N coordinates; the answer must not change."""
    from sklearn.linear_model import LogisticRegression

    from disentangle.evaluation.probes import _row_space

    rng = np.random.default_rng(5)
    x, y = _blobs(rng, 40, dim=200, spread=1.0)
    x_test, _ = _blobs(rng, 50, dim=200, spread=1.0)
    basis = _row_space(x)
    assert basis.shape == (200, 40)
    kw = dict(C=0.1, tol=1e-10, max_iter=10000)
    full = LogisticRegression(**kw).fit(x, y).predict_proba(x_test)
    reduced = LogisticRegression(**kw).fit(x @ basis, y).predict_proba(x_test @ basis)
    np.testing.assert_allclose(reduced, full, atol=1e-5)
