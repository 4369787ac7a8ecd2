"""FactorVAE and BetaVAE scores with sample_codes functions whose answer is known."""

import numpy as np
import pytest

from disentangle.errors import DisentangleError
from disentangle.evaluation import beta_vae_score, factor_vae_score

SIZES = (3, 6, 8, 5)
SMALL = dict(num_train=400, num_eval=400)


def identity_codes(seed=0):
    """Codes are the factor indices themselves, plus a little noise: perfectly disentangled."""
    rng = np.random.default_rng(seed)
    return lambda f: f + 1e-3 * rng.normal(size=f.shape)


def noise_codes(dim=6, seed=0):
    """Codes ignore the factors entirely."""
    rng = np.random.default_rng(seed)
    return lambda f: rng.normal(size=(f.shape[0], dim))


class Counting:
    def __init__(self, fn):
        self.fn, self.calls, self.rows = fn, 0, 0

    def __call__(self, f):
        self.calls += 1
        self.rows += f.shape[0]
        return self.fn(f)


def test_factor_vae_identity_is_perfect():
    rng = np.random.default_rng(0)
    r = factor_vae_score(identity_codes(), SIZES, rng, num_variance_estimate=2000, **SMALL)
    assert r["score"] == 1.0 and r["train_accuracy"] == 1.0
    assert r["num_active_dims"] == 4
    np.testing.assert_array_equal(r["classifier"], [0, 1, 2, 3])


def test_factor_vae_noise_is_chance():
    r = factor_vae_score(noise_codes(), SIZES, 1, num_variance_estimate=2000, num_train=400,
                         num_eval=2000)
    assert r["eval_accuracy"] == pytest.approx(1 / len(SIZES), abs=0.05)


def test_factor_vae_all_pruned_scores_zero():
    rng = np.random.default_rng(0)
    def collapsed(f):
        return 0.01 * rng.normal(size=(f.shape[0], 3))

    r = factor_vae_score(collapsed, SIZES, 0, num_variance_estimate=500, **SMALL)
    assert r["score"] == 0.0 and r["num_active_dims"] == 0


def test_factor_vae_batches_calls_and_chunking_does_not_change_result():
    fn = Counting(lambda f: f + 0.3 * np.sin(f.sum(axis=1, keepdims=True) * np.arange(1, 5)))
    big = factor_vae_score(fn, SIZES, 7, num_variance_estimate=1000, **SMALL)
    assert fn.rows == 1000 + 64 * 800
    assert fn.calls <= 3 + 2 * 4  # ~8192 points per call, not one call per vote
    small = factor_vae_score(fn.fn, SIZES, 7, num_variance_estimate=1000, points_per_call=640,
                             **SMALL)
    for key in ("score", "train_accuracy", "num_active_dims"):
        assert small[key] == big[key]
    np.testing.assert_array_equal(small["classifier"], big["classifier"])


def one_hot_codes(seed=0, order=(0, 1, 2, 3)):
    """Factor 0 one-hot over categories `order[:3]` (3 values), and a fourth category that takes
    1 % of the points at random; factors 1-3 as scalars: a categorical code that is right 99 % of
    the time, as a (n, 7) array."""
    rng = np.random.default_rng(seed)

    def codes(f):
        category = np.asarray(order)[f[:, 0]]
        category[rng.random(len(f)) < 0.01] = order[3]
        return np.concatenate([np.eye(4)[category], f[:, 1:] + 1e-3 * rng.normal(size=(len(f), 3))],
                              axis=1)
    return codes


def test_factor_vae_blocks_vote_a_one_hot_code_as_one_unit():
    r = factor_vae_score(one_hot_codes(), SIZES, 0, num_variance_estimate=2000, blocks=[4, 1, 1, 1],
                         **SMALL)
    assert r["score"] == 1.0 and r["num_active_dims"] == 4
    np.testing.assert_array_equal(r["classifier"], [0, 1, 2, 3])
    # the categories' order does not matter: the same votes, the same answer
    shuffled = factor_vae_score(one_hot_codes(order=(3, 1, 0, 2)), SIZES, 0,
                                num_variance_estimate=2000, blocks=[4, 1, 1, 1], **SMALL)
    assert shuffled["score"] == r["score"]
    # dimension by dimension, the rare category is absent from a batch of 64 with p = 0.99^64 =
    # 0.53, and then its column stops varying and wins the vote whichever factor is fixed; the
    # classifier gives that column to one factor, so two of the other three lose about half their
    # votes: 1 - 2/4 * 0.53 = 0.74
    per_dim = factor_vae_score(one_hot_codes(), SIZES, 0, num_variance_estimate=2000, **SMALL)
    assert 0.65 < per_dim["score"] < 0.8


def test_factor_vae_bad_blocks():
    for blocks in ([4, 1, 1], [0, 4, 1, 1, 1], [4.0, 1, 1, 1]):
        with pytest.raises(DisentangleError, match="blocks must be positive widths"):
            factor_vae_score(one_hot_codes(), SIZES, 0, num_variance_estimate=100,
                             blocks=blocks, **SMALL)
    calls = []

    def counted(f):
        calls.append(len(f))
        return one_hot_codes()(f)
    for blocks in ([0, 4, 1, 1, 1], [4.0, 1, 1, 1], []):  # wrong whatever D is: before any encoding
        with pytest.raises(DisentangleError, match="blocks must be positive widths"):
            factor_vae_score(counted, SIZES, 0, num_variance_estimate=100, blocks=blocks, **SMALL)
    assert calls == []


def test_beta_vae_identity_is_perfect():
    r = beta_vae_score(identity_codes(), SIZES, 0, **SMALL)
    assert r["eval_accuracy"] >= 0.99 and r["train_accuracy"] >= 0.99
    assert r["converged"]


def test_beta_vae_noise_is_chance():
    r = beta_vae_score(noise_codes(), SIZES, 3, num_train=400, num_eval=2000)
    assert r["eval_accuracy"] == pytest.approx(1 / len(SIZES), abs=0.05)


def test_beta_vae_batches_both_halves_of_each_pair():
    fn = Counting(identity_codes())
    beta_vae_score(fn, SIZES, 0, batch_size=16, num_train=300, num_eval=100)
    assert fn.rows == 2 * 16 * 400
    assert fn.calls <= 4


def test_rng_may_be_a_seed_a_generator_or_a_random_state():
    kw = dict(num_train=50, num_eval=50)
    mix = np.array([[1.3, 0.7], [2.1, 0.3], [0.5, 1.9], [1.1, 2.7]])

    def fn(f):
        return f + 3.0 * np.sin(f @ mix)[:, [0, 1, 0, 1]]

    a = beta_vae_score(fn, SIZES, np.random.RandomState(5), **kw)
    b = beta_vae_score(fn, SIZES, np.random.RandomState(5), **kw)
    assert a == b and a["score"] < 1.0  # deterministic, and not trivially perfect
    c = factor_vae_score(fn, SIZES, 3, num_variance_estimate=200, **kw)
    d = factor_vae_score(fn, SIZES, np.random.default_rng(3), num_variance_estimate=200, **kw)
    assert c["score"] == d["score"] and c["train_accuracy"] == d["train_accuracy"]


@pytest.mark.parametrize("score", [factor_vae_score, beta_vae_score])
def test_a_factor_with_one_value_is_refused(score):
    """It scored a perfect code 0.64 instead of 1: the votes of the factor that fixes nothing."""
    with pytest.raises(DisentangleError, match=r"factor 1 takes a single value \(factor_sizes "
                       r"\(3, 1, 8\)\); drop constant factors"):
        score(identity_codes(), (3, 1, 8), 0, **SMALL)


# --- known answers that tell the definition from its near misses (from a mutation audit) --------

KNOWN = dict(num_train=400, num_eval=400, num_variance_estimate=2000)


def test_factor_vae_normalises_each_dimension_by_its_global_spread():
    """Codes of very different scales: without dividing by the global variance, the large-scale
    dimension would win the votes of factor 1 (0.7575 and classifier [0 0 2 3])."""
    rng = np.random.default_rng(0)

    def sample_codes(f):
        return np.stack([10 * f[:, 0] + 0.3 * rng.normal(size=len(f)), 0.1 * f[:, 1], f[:, 2],
                         f[:, 3]], 1).astype(float)

    assert factor_vae_score(sample_codes, SIZES, 0, **KNOWN)["score"] == 1.0


def test_factor_vae_a_collapsed_dimension_casts_no_vote():
    """A constant dimension has zero variance everywhere: were it not pruned, its 0/0 would win
    every vote."""
    def sample_codes(f):
        return np.concatenate([f.astype(float), np.zeros((len(f), 1))], 1)

    result = factor_vae_score(sample_codes, SIZES, 0, **KNOWN)
    assert result["score"] == 1.0 and result["num_active_dims"] == 4
    np.testing.assert_array_equal(result["classifier"], [0, 1, 2, 3, -1])


def test_a_blocks_spread_is_the_sum_of_its_dimensions_variances():
    """A one-hot block over 3 dimensions against a scalar, one batch of 4: the block's spread is
    (1/3 + 1/3 + 0) / 1.5 = 0.444 (summed), the scalar's 1.667 / 5 = 0.333, so the scalar (the
    least) votes; the largest of the block's variances, 0.333 / 1.5 = 0.222, would have won."""
    from disentangle.evaluation.factor_vae import _winners

    codes = np.array([[[1, 0, 0, 0.0], [0, 1, 0, 1.0], [1, 0, 0, 2.0], [0, 1, 0, 3.0]]])
    assert _winners(codes, np.array([1.5, 5.0]), np.array([0, 1]),
                    np.array([0, 3])).tolist() == [1]
