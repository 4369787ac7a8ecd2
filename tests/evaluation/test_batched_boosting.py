"""The batched boosting behind DCI on a GPU is GradientBoostingClassifier() up to rounding ties.

The trees grow with torch on any device, so the CPU tests here check the very code a GPU runs;
the `gpu` test checks that the device changes nothing but rounding.
"""

import numpy as np
import pytest
import torch
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.tree import DecisionTreeRegressor

from disentangle.evaluation import batched_boosting, dci
from disentangle.evaluation.batched_boosting import BatchedGradientBoosting


def _levels(tree):
    """scikit-learn's split nodes level by level, as {(level, position): (feature, threshold)}
    with positions numbered as the batched trees number them (left child 2i, right 2i + 1)."""
    out, frontier = {}, {0: 0}
    for level in range(batched_boosting.MAX_DEPTH):
        following = {}
        for position, node in frontier.items():
            if tree.children_left[node] >= 0:
                out[level, position] = (int(tree.feature[node]), float(tree.threshold[node]))
                following[2 * position] = tree.children_left[node]
                following[2 * position + 1] = tree.children_right[node]
        frontier = following
    return out


def test_a_round_grows_scikit_learns_regression_trees():
    """Continuous residuals on continuous codes (no two cuts gain the same): every split, every
    leaf's points and every impurity decrease as DecisionTreeRegressor(max_depth=3)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1500, 4)).astype(np.float32)
    residual = rng.normal(size=(3, 1500)) + np.stack([x[:, 0], x[:, 1] * x[:, 2], -x[:, 3]])
    codes = torch.as_tensor(x).double()
    grower = batched_boosting._Grower(codes, torch.argsort(codes, dim=0, stable=True).T)
    r = torch.as_tensor(residual)
    fitted, leaves, decrease = grower.grow(r, torch.full_like(r, 0.25), torch.ones(3))
    for t in range(3):
        theirs = DecisionTreeRegressor(max_depth=3).fit(x, residual[t]).tree_
        ours = {(level, int(p)): (int(fitted.features[level][t, p]),
                                  float(fitted.thresholds[level][t, p]))
                for level in range(3) for p in np.flatnonzero(fitted.splits[level][t].numpy())}
        assert ours == _levels(theirs)
        pairs = set(zip(theirs.apply(x), leaves[t].tolist()))
        assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})
        np.testing.assert_allclose(decrease[t].numpy(),
                                   theirs.compute_feature_importances(normalize=False) * 1500,
                                   rtol=1e-10)
        assert torch.equal(fitted.leaves(codes)[t], leaves[t])


def _factors(n, seed, codes=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, codes)).astype(np.float32)
    signal = x[:, 0] + 0.6 * rng.normal(size=n)
    if codes > 1:
        signal += 0.5 * x[:, 1]
    y = np.stack([(signal > 0.2).astype(int) * 5,  # two classes: one tree a round
                  np.digitize(signal, [-0.8, 0.1]),
                  np.digitize(signal, [-1, -0.3, 0.3, 1]) + 7], axis=1)
    return x, y


def test_boosting_equals_gradient_boosting_classifier_where_nothing_ties():
    """Two, three and five classes in one batch, on one code (no two codes can offer the same
    cut) and data on which no two cuts gain the same up to rounding: 100 rounds later every raw
    prediction is scikit-learn's to rounding, and so is every label. (Ties are not rare: on a
    third of the seeds tried, rounding tipped a tie in some node of a few points the other way
    and a few test labels parted; see the module's docstring.)"""
    x, y = _factors(500, 0, codes=1)
    test, _ = _factors(300, 99, codes=1)
    ours = BatchedGradientBoosting().fit(x, y)
    raw = ours._raw(test).T.numpy()
    labels_train, labels_test = ours.predict(), ours.predict(test)
    for j, factor in enumerate(ours.factors):
        theirs = GradientBoostingClassifier(random_state=0).fit(x, y[:, j])
        decision = theirs.decision_function(test).reshape(test.shape[0], -1)
        np.testing.assert_allclose(raw[:, factor.columns], decision, rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(labels_train[:, j], theirs.predict(x))
        np.testing.assert_array_equal(labels_test[:, j], theirs.predict(test))


def test_factors_fitted_together_are_the_factors_fitted_alone():
    x, y = _factors(400, 2)
    together = BatchedGradientBoosting().fit(x, y)
    for j in range(y.shape[1]):
        alone = BatchedGradientBoosting().fit(x, y[:, [j]])
        assert np.array_equal(alone.importances()[0], together.importances()[j])
        assert np.array_equal(alone.predict(x)[:, 0], together.predict(x)[:, j])


def test_trees_grown_in_chunks_are_the_trees_grown_together(monkeypatch):
    """A problem too large for one batch is grown a few trees at a time (here 2 of the 9)."""
    x, y = _factors(400, 2)
    together = BatchedGradientBoosting().fit(x, y)
    monkeypatch.setattr(batched_boosting, "MAX_ELEMENTS", 2 * x.size)
    chunked = BatchedGradientBoosting().fit(x, y)
    for a, b in zip(together.importances(), chunked.importances()):
        assert np.array_equal(a, b)
    assert np.array_equal(together.predict(x), chunked.predict(x))
    assert torch.equal(together._raw(x), chunked._raw(x))


def test_codes_that_never_split_give_zero_importances_as_scikit_learn_does():
    x, y = np.zeros((30, 3)), (np.arange(30) % 3)[:, None]
    ours = BatchedGradientBoosting().fit(x, y)
    theirs = GradientBoostingClassifier(random_state=0).fit(x, y[:, 0])
    assert np.array_equal(ours.importances()[0], np.zeros(3))
    assert np.array_equal(ours.predict(x)[:, 0], theirs.predict(x))


def test_dci_on_batched_trees_is_scikit_learns_dci_up_to_ties():
    """A DCI-like problem with ties in small nodes: the scores stay within 0.01 of scikit-learn's
    (measured differences on real codes are in docs/metrics.md)."""
    rng = np.random.default_rng(4)
    factors = np.stack([rng.integers(0, 5, 900), rng.integers(0, 3, 900)], axis=1)
    codes = np.concatenate([factors + 0.7 * rng.normal(size=factors.shape),
                            rng.normal(size=(900, 1))], axis=1)
    ct, ft, ce, fe = codes[:600], factors[:600], codes[600:], factors[600:]
    batched = dci(ct, ft, ce, fe, device="cpu")
    reference = dci(ct, ft, ce, fe)
    for key in ("disentanglement", "completeness", "informativeness"):
        assert abs(batched[key] - reference[key]) < 0.01, key
    assert batched["importance_matrix"].shape == (3, 2)


@pytest.mark.gpu
def test_the_gpu_grows_the_cpus_trees():
    """The data of the scikit-learn comparison above, where no cut ties: rounding on the GPU
    (atomic sums in another order) leaves every raw prediction as on the CPU."""
    x, y = _factors(500, 0, codes=1)
    test, _ = _factors(300, 99, codes=1)
    cpu = BatchedGradientBoosting("cpu").fit(x, y)
    gpu = BatchedGradientBoosting("cuda").fit(x, y)
    np.testing.assert_allclose(gpu._raw(test).cpu().numpy(), cpu._raw(test).numpy(),
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(gpu.predict(test), cpu.predict(test))
