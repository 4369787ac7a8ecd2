"""FactorVAE and BetaVAE drawing their batches from a pool of encoded observations."""

import numpy as np
import pytest

from disentangle import DisentangleError
from disentangle.evaluation import beta_vae_score, factor_vae_score
from disentangle.evaluation._sampling import random_factors
from disentangle.evaluation.pool import CodePool

SIZES = (3, 6, 8, 5)
SMALL = dict(num_train=400, num_eval=400)


def pool_of(codes_fn, m=4000, seed=0):
    factors = random_factors(np.random.default_rng(seed), np.array(SIZES), (m,))
    return CodePool(codes_fn(factors), factors, SIZES), factors


def identity(f):
    return f + 1e-3 * np.random.default_rng(1).normal(size=f.shape)


def test_fixed_batches_hold_distinct_points_sharing_the_fixed_factor():
    factors = random_factors(np.random.default_rng(0), np.array(SIZES), (3000,))
    pool = CodePool(np.arange(3000.0)[:, None], factors, SIZES)  # code = row number
    fixed = np.array([0, 1, 2, 3, 3])
    rows = pool.fixed_batches(np.random.default_rng(1), fixed, 64)[..., 0].astype(int)
    for batch, k in zip(rows, fixed):
        assert len(set(batch)) == 64  # without replacement
        assert np.unique(factors[batch, k]).size == 1  # factor k is fixed in the batch
        assert np.unique(factors[batch, (k + 1) % 4]).size > 1  # the others vary


def test_pairs_share_their_factor_and_never_pair_a_point_with_itself():
    factors = random_factors(np.random.default_rng(0), np.array(SIZES), (500,))
    pool = CodePool(np.arange(500.0)[:, None], factors, SIZES)
    shared = np.array([0, 1, 2, 3] * 50)
    a, b = pool.pairs(np.random.default_rng(2), shared, 32)
    a, b = a[..., 0].astype(int), b[..., 0].astype(int)
    assert (a != b).all()
    for i, k in enumerate(shared):
        np.testing.assert_array_equal(factors[a[i], k], factors[b[i], k])


def test_pooled_scores_are_perfect_for_the_identity_and_chance_for_noise():
    pool, _ = pool_of(identity)
    fv = factor_vae_score(pool, SIZES, 0, **SMALL)
    assert fv["score"] == 1.0 and fv["num_active_dims"] == 4
    assert beta_vae_score(pool, SIZES, 0, **SMALL)["score"] >= 0.99
    noise, _ = pool_of(lambda f: np.random.default_rng(3).normal(size=(len(f), 6)))
    r = factor_vae_score(noise, SIZES, 1, num_train=400, num_eval=2000)
    assert r["eval_accuracy"] == pytest.approx(1 / len(SIZES), abs=0.05)
    b = beta_vae_score(noise, SIZES, 3, num_train=400, num_eval=2000)
    assert b["eval_accuracy"] == pytest.approx(1 / len(SIZES), abs=0.05)


def test_pooled_scores_agree_with_fresh_batches_on_a_partly_disentangled_code():
    mix = np.array([[1.0, 0.6, 0.0], [0.0, 1.0, 0.8], [0.5, 0.0, 1.0], [0.0, 0.3, 0.2]])
    noise = np.random.default_rng(5)

    def codes(f):  # an entangled, noisy map from factors to 3 code dims
        return np.tanh((f / np.array(SIZES)) @ mix) + 0.15 * noise.normal(size=(len(f), 3))

    kw = dict(num_train=3000, num_eval=3000)
    pool, _ = pool_of(codes, m=10_000)
    pooled = factor_vae_score(pool, SIZES, 0, **kw)["score"], beta_vae_score(pool, SIZES, 0, **kw)["score"]
    fresh = (factor_vae_score(codes, SIZES, 0, num_variance_estimate=10_000, **kw)["score"],
             beta_vae_score(codes, SIZES, 0, **kw)["score"])
    assert 0.3 < fresh[0] < 0.95 and 0.3 < fresh[1] < 0.95  # neither trivial nor perfect
    assert pooled == pytest.approx(fresh, abs=0.04)


def test_pool_errors_are_clear():
    factors = np.zeros((10, 4), dtype=int)
    with pytest.raises(DisentangleError, match="factor_sizes names 3 factors"):
        CodePool(np.zeros((10, 2)), factors, (3, 6, 8))
    pool = CodePool(np.random.default_rng(0).normal(size=(10, 2)), factors, SIZES)
    with pytest.raises(DisentangleError, match="has no point with factor"):
        factor_vae_score(pool, SIZES, 0, **SMALL)
    with pytest.raises(DisentangleError, match="differ from the pool's"):
        beta_vae_score(pool, (3, 6, 8, 4), 0, **SMALL)


def test_a_fixed_factor_takes_every_one_of_its_values():
    """Over 300 batches fixing factor 0 (3 values), each value is fixed some time: a draw that
    never reached the last value would leave it out of every vote."""
    f = np.stack(np.meshgrid(*[np.arange(s) for s in SIZES], indexing="ij"), -1).reshape(-1, 4)
    pool = CodePool(f.astype(float), f, SIZES)
    batches = pool.fixed_batches(np.random.default_rng(0), np.zeros(300, int), 8)
    assert set(batches[:, 0, 0].astype(int)) == {0, 1, 2}
