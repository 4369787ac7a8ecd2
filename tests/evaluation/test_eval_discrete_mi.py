"""Known answers for the discrete MI estimator that MIG and modularity are built on."""

import math

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from disentangle.evaluation import discretize, entropies, mi_matrix


def _dl_discretize(codes, bins=20):
    """disentanglement_lib's histogram discretizer, transcribed (rows = points here)."""
    out = np.zeros_like(codes)
    for j in range(codes.shape[1]):
        out[:, j] = np.digitize(codes[:, j], np.histogram(codes[:, j], bins)[1][:-1])
    return out


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 3000
    factors = np.stack([rng.integers(0, s, n) for s in (3, 6, 40, 32)], axis=1)
    codes = rng.normal(size=(n, 6))
    codes[:, :4] += 0.2 * factors
    return codes, factors


def test_discretize_matches_disentanglement_lib(data):
    codes, _ = data
    ours = discretize(codes)
    assert ours.min() == 0 and ours.max() == 19
    np.testing.assert_array_equal(ours + 1, _dl_discretize(codes))


def test_discretize_bins_and_constant_column():
    x = np.array([[0.0, 5.0], [0.5, 5.0], [1.0, 5.0]])
    out = discretize(x, bins=2)
    np.testing.assert_array_equal(out[:, 0], [0, 1, 1])  # the max lands in the last bin
    assert len(set(out[:, 1])) == 1


def test_mi_matrix_equals_sklearn(data):
    codes, factors = data
    ours = mi_matrix(codes, factors)
    disc = _dl_discretize(codes)
    ref = np.array(
        [[mutual_info_score(factors[:, k], disc[:, d]) for k in range(factors.shape[1])]
         for d in range(codes.shape[1])]
    )
    assert ours.shape == (6, 4)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)


def test_mi_of_factor_with_itself_is_its_entropy(data):
    _, factors = data
    small = factors[:, :2]  # <= 20 values, so 20 equal-width bins keep every value apart
    h = entropies(small)
    np.testing.assert_allclose(np.diag(mi_matrix(small.astype(float), small)), h, rtol=1e-12)
    as_labels = mi_matrix(factors, factors, bins=None)
    np.testing.assert_allclose(np.diag(as_labels), entropies(factors), rtol=1e-12)
    ref = [mutual_info_score(factors[:, k], factors[:, k]) for k in range(factors.shape[1])]
    np.testing.assert_allclose(entropies(factors), ref, rtol=1e-12)


def test_entropy_known_values():
    f = np.array([[0, 0], [1, 0], [2, 0], [3, 0]])
    np.testing.assert_allclose(entropies(f), [math.log(4), 0.0])


def test_hand_computed_2x2():
    # joint p(0,0)=1/2, p(0,1)=1/4, p(1,1)=1/4; p(x)=(3/4,1/4), p(y)=(1/2,1/2)
    x = np.array([[0.0], [0.0], [0.0], [1.0]])
    y = np.array([[0], [0], [1], [1]])
    expected = 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3) + 0.25 * math.log(2)
    assert mi_matrix(x, y)[0, 0] == pytest.approx(expected, rel=1e-12)
    assert mi_matrix(x, y, bins=None)[0, 0] == pytest.approx(expected, rel=1e-12)
    # independent and identical 2x2 tables
    assert mi_matrix(np.array([[0.0], [1.0], [0.0], [1.0]]), y)[0, 0] == 0.0
    assert mi_matrix(y.astype(float), y)[0, 0] == pytest.approx(math.log(2), rel=1e-12)


def test_float32_codes_are_binned_with_float64_edges():
    # codes taking a few evenly spaced float32 values sit on the edges, where float32 and
    # float64 edge arithmetic disagree; we always use the float64 edges
    index = np.random.default_rng(0).integers(0, 3, size=(500, 2)).astype(np.float32)
    codes = index * np.float32(0.1) - np.float32(0.35)
    ours = discretize(codes)
    np.testing.assert_array_equal(ours, discretize(codes.astype(np.float64)))
    np.testing.assert_array_equal(ours, _dl_discretize(codes.astype(np.float64)) - 1)
    assert not np.array_equal(ours, _dl_discretize(codes) - 1)  # float32 edges bin differently
