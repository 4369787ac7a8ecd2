"""The threaded gradient boosting behind DCI is exactly GradientBoostingClassifier()."""

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from disentangle.evaluation import dci
from disentangle.evaluation.boosting import ThreadedGradientBoosting


def _problem(classes: int, n: int = 300, seed: int = 0):
    """Noisy classes along a direction, with ties: a rounded column and an exact copy of it
    (which of two equal splits wins is where the order of the random draws shows)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    x[:, 2] = np.round(x[:, 2])
    x[:, 3] = x[:, 2]
    y = (np.floor((x[:, 0] + 0.5 * x[:, 2] + 0.3 * rng.normal(size=n)) * classes / 4) % classes)
    return x, 10 + 3 * y.astype(int)  # class labels need not be 0..K-1


@pytest.mark.parametrize("classes, threads", [(5, 2), (5, 1), (2, 2)])
def test_equals_gradient_boosting_classifier(classes, threads):
    x, y = _problem(classes)
    test, _ = _problem(classes, n=200, seed=1)
    ours = ThreadedGradientBoosting(random_state=7, n_threads=threads).fit(x, y)
    theirs = GradientBoostingClassifier(random_state=7).fit(x, y)
    assert np.array_equal(ours.feature_importances_, theirs.feature_importances_)
    assert np.array_equal(ours.predict(test), theirs.predict(test))
    assert np.array_equal(ours.predict(x), theirs.predict(x))
    assert ours.feature_importances_[3] > 0 and ours.feature_importances_[2] > 0  # ties met


def test_another_seed_is_another_model_where_splits_tie():
    x, y = _problem(5)
    a = ThreadedGradientBoosting(random_state=7).fit(x, y).feature_importances_
    b = ThreadedGradientBoosting(random_state=8).fit(x, y).feature_importances_
    assert not np.array_equal(a, b)
    assert np.array_equal(b, GradientBoostingClassifier(random_state=8).fit(x, y)
                          .feature_importances_)


def test_dci_gbt_is_the_same_on_threads_and_as_scikit_learn():
    rng = np.random.default_rng(4)
    factors = np.stack([rng.integers(0, 5, 400), rng.integers(0, 3, 400)], axis=1)
    codes = np.concatenate([factors + 0.5 * rng.normal(size=factors.shape),
                            rng.normal(size=(400, 1))], axis=1)
    ct, ft, ce, fe = codes[:250], factors[:250], codes[250:], factors[250:]
    one = dci(ct, ft, ce, fe, n_jobs=1)
    two = dci(ct, ft, ce, fe, n_jobs=2)
    reference = dci(ct, ft, ce, fe, model=lambda: GradientBoostingClassifier(random_state=0))
    for result in (two, reference):
        np.testing.assert_array_equal(result["importance_matrix"], one["importance_matrix"])
        for key in ("disentanglement", "completeness", "informativeness"):
            assert result[key] == one[key], key


def test_codes_that_never_split_give_zero_importances_as_scikit_learn_does():
    x, y = np.zeros((30, 3)), np.arange(30) % 3
    ours = ThreadedGradientBoosting(n_threads=2).fit(x, y)
    theirs = GradientBoostingClassifier(random_state=0).fit(x, y)
    assert np.array_equal(ours.feature_importances_, np.zeros(3))
    assert np.array_equal(ours.predict(x), theirs.predict(x))


def test_fits_sharing_one_pool_equal_gradient_boosting_classifier():
    """DCI's factors fit side by side, their trees on one pool: each still the sequential model."""
    from concurrent.futures import ThreadPoolExecutor

    problems = [_problem(classes, seed=classes) for classes in (3, 5)]
    with ThreadPoolExecutor(2) as trees, ThreadPoolExecutor(2) as fits:
        ours = list(fits.map(lambda p: ThreadedGradientBoosting(random_state=7, pool=trees)
                             .fit(*p), problems))
    for (x, y), model in zip(problems, ours):
        theirs = GradientBoostingClassifier(random_state=7).fit(x, y)
        assert np.array_equal(model.feature_importances_, theirs.feature_importances_)
        assert np.array_equal(model.predict(x), theirs.predict(x))
