"""Linear probe accuracy at label budgets."""

import pickle
import subprocess
import sys

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


def test_principal_components_keep_a_low_rank_probe_exact():
    """Inputs of rank 6 spread over 300 columns: 10 components hold all of the training variance,
    and the probe's predictions on them are the full-width probe's."""
    from sklearn.linear_model import LogisticRegression

    from disentangle.evaluation import principal_components

    rng = np.random.default_rng(6)
    mixing = rng.normal(size=(6, 300))
    x_train, y_train = _blobs(rng, 400, dim=6, spread=1.0)
    x_test, _ = _blobs(rng, 200, dim=6, spread=1.0)
    x_train, x_test = x_train @ mixing, x_test @ mixing
    p_train, p_test, info = principal_components(x_train, x_test, 10, seed=0)
    assert p_train.shape == (400, 10) and p_test.shape == (200, 10)
    assert p_train.dtype == np.float32
    assert info["width"] == 300 and info["components"] == 10
    assert info["variance_kept"] == pytest.approx(1.0, abs=1e-5)
    kw = dict(C=0.1, tol=1e-10, max_iter=10000)
    full = LogisticRegression(**kw).fit(x_train, y_train)  # all 300 columns
    reduced = LogisticRegression(**kw).fit(p_train.astype(np.float64), y_train)
    np.testing.assert_allclose(reduced.predict_proba(p_test.astype(np.float64)),
                               full.predict_proba(x_test), atol=1e-4)


def test_principal_components_keep_separable_classes_separable():
    """Four well-separated blobs in 8 of 500 noisy columns: 16 components still separate them."""
    from disentangle.evaluation import principal_components

    rng = np.random.default_rng(7)
    x_train, y_train = _blobs(rng, 800, dim=500, spread=0.3)
    x_test, y_test = _blobs(rng, 400, dim=500, spread=0.3)
    p_train, p_test, info = principal_components(x_train, x_test, 16, seed=0)
    assert info["components"] == 16 and 0 < info["variance_kept"] < 1
    r = linear_probe(p_train, y_train, p_test, y_test, budgets=(10, None), seed=0)
    assert r["10"]["accuracy"] >= 0.99 and r["all"]["accuracy"] >= 0.99


def test_principal_components_come_from_the_training_inputs_only():
    from disentangle.evaluation import principal_components

    rng = np.random.default_rng(8)
    x_train = rng.normal(size=(300, 200))
    a_train, a_test, _ = principal_components(x_train, rng.normal(size=(50, 200)), 20, seed=3)
    b_train, b_test, _ = principal_components(x_train, 5 + rng.normal(size=(80, 200)), 20, seed=3)
    np.testing.assert_array_equal(a_train, b_train)  # the test set changes nothing learnt
    assert a_test.shape == (50, 20) and b_test.shape == (80, 20)


def test_narrow_inputs_or_few_points_are_not_projected():
    from disentangle.evaluation import principal_components

    rng = np.random.default_rng(9)
    x, x_test = rng.normal(size=(300, 12)), rng.normal(size=(20, 12))
    p, p_test, info = principal_components(x, x_test, 128)
    np.testing.assert_array_equal(p, x)
    np.testing.assert_array_equal(p_test, x_test)
    assert info == {"width": 12, "components": 12, "variance_kept": 1.0}
    few = rng.normal(size=(100, 500))  # the probe fits 100 points in their own span already
    assert principal_components(few, few[:5], 128)[2]["components"] == 500


def test_principal_components_reject_mismatched_widths():
    from disentangle.errors import DisentangleError
    from disentangle.evaluation import principal_components

    with pytest.raises(DisentangleError, match="test_x"):
        principal_components(np.zeros((300, 200)), np.zeros((5, 199)), 10)
    with pytest.raises(DisentangleError, match="dims"):
        principal_components(np.ones((300, 200)), np.ones((5, 200)), 0)


def test_eval_fits_each_budget_apart_and_gets_linear_probes_numbers():
    """eval spreads (target, input, budget) fits over workers; the subsets and CV seeds must be
    the ones linear_probe draws in turn, and a budget equal to the whole set fitted once."""
    import contextlib
    from types import SimpleNamespace

    from disentangle.evaluation.pipeline import EvalConfig, _probes

    rng = np.random.default_rng(5)
    xt, yt = _blobs(rng, 300, classes=3, spread=1.5)
    xe, ye = _blobs(rng, 120, classes=3, spread=1.5)
    balanced = np.repeat(np.arange(10), 30)  # 30 per class: budget 30 is the whole set
    targets = {"three": (yt, ye), "ten": (balanced, np.repeat(np.arange(10), 12))}
    train = SimpleNamespace(probe_input=lambda names: xt)
    test = SimpleNamespace(probe_input=lambda names: xe)
    cfg = EvalConfig(probe=True, probe_inputs=("codes",), budgets=(5, 30, None), jobs=2, seed=3)
    fits = []  # one call of the probe stage's advance per fit
    stages = SimpleNamespace(stage=lambda name, total=None: contextlib.nullcontext(fits.append))
    out, widths = _probes(train, test, ["c"], targets, cfg, stages)
    assert widths == {} and len(fits) == 3 + 2  # "ten": 30 per class and all share one fit
    for name, (y_train, y_test) in targets.items():
        alone = linear_probe(xt, y_train, xe, y_test, budgets=cfg.budgets, seed=cfg.seed)
        assert out[name]["codes"]["budgets"] == alone
        assert out[name]["codes"]["accuracy"] == alone["all"]["accuracy"]


def test_the_probe_standardises_the_test_points_with_the_training_statistics():
    """Test points shifted by 10 lie beyond the training threshold: chance, where a test set
    centred on its own mean would be separated perfectly again."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 200)
    x = (y + 0.05 * rng.normal(size=400))[:, None]
    assert linear_probe(x, y, x + 10, y, budgets=(None,))["all"]["accuracy"] == 0.5


def test_a_budgets_subset_is_drawn_at_random_within_each_class():
    """Over 400 seeds each of 20 points is one of a 2-per-class budget's about 80 times; the
    first points of each class would be picked every time and the rest never."""
    from disentangle.evaluation.probes import budget_subsets

    y = np.repeat([0, 1], 10)
    hits = np.zeros(20)
    for seed in range(400):
        hits[budget_subsets(y, [2], seed)[0][1]] += 1
    assert hits.min() > 40 and hits.max() < 120


def test_a_probe_job_reaches_its_worker_without_torch():
    """Each probe budget is a job for a worker process, which imports what the job's function
    needs to unpickle it: torch would cost every worker seconds at every eval."""
    from disentangle.evaluation import pipeline  # noqa: F401  (the caller's side: torch loaded)
    from disentangle.evaluation.probes import tagged_probe_budget

    job = pickle.dumps(tagged_probe_budget)
    code = ("import pickle, sys; pickle.loads(sys.stdin.buffer.read()); "
            "print(sorted(m for m in ('torch', 'disentangle.evaluation.probes') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], input=job, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == "['disentangle.evaluation.probes']"
