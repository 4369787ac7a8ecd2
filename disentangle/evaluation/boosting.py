"""scikit-learn's GradientBoostingClassifier() with the per-class trees of a round on threads.

Why: disentanglement_lib's DCI fits GradientBoostingClassifier() with default settings for every
factor. With K classes each of its 100 rounds fits K regression trees, one per class, all on the
gradient at the start of the round, so they do not depend on each other; scikit-learn still fits
them one after another on one core. A 40-class factor is then 4,000 tree fits in a row, and DCI
takes as long as its largest factor however many cores there are (docs/metrics.md). Here the K
trees of a round are fitted on a thread pool (the tree builder releases the GIL).

It is the same model, not an approximation: the trees are built by scikit-learn's own
DecisionTreeRegressor with the settings GradientBoostingClassifier gives them, each gets the seed
the sequential fit would have drawn for it, and the leaf values, learning rate and prior-based
start follow scikit-learn's multinomial deviance. The tests compare importances and predictions
with GradientBoostingClassifier(random_state=seed) itself. Two classes (one tree per round, nothing
to run side by side) and a single class are left to scikit-learn.
"""

from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np

N_ROUNDS, LEARNING_RATE, MAX_DEPTH = 100, 0.1, 3  # GradientBoostingClassifier's defaults
RAND_R_MAX = 2**31 - 1  # a tree's splitter draws its own seed as randint(0, RAND_R_MAX)


def prior_raw(codes: np.ndarray, k: int) -> np.ndarray:
    """The raw prediction before any tree, as GradientBoostingClassifier starts: the link of the
    class prior of ``codes`` (class indices 0..k-1), clipped away from 0 and 1. (k,) for k > 2
    classes; (1,), the log-odds of class 1, for two."""
    from sklearn._loss.loss import HalfBinomialLoss, HalfMultinomialLoss

    prior = np.bincount(codes, minlength=k) / codes.size
    eps = np.finfo(np.float64).eps
    if k == 2:
        return HalfBinomialLoss().link.link(np.clip(prior[1:], eps, 1 - eps))
    return HalfMultinomialLoss(n_classes=k).link.link(np.clip(prior, eps, 1 - eps)[None, :])[0]


class _Drawn(np.random.RandomState):
    """Hands a tree the seed drawn for it in advance. A tree draws once from the RandomState it
    is given; in GradientBoostingClassifier every tree shares one, in fitting order, so trees
    fitted out of order need their draws made beforehand. One per class, reused every round (a
    round's trees are done before the next round's draws are set)."""

    def __init__(self):
        super().__init__(0)
        self._value = 0

    def set(self, value: int) -> None:
        """The seed the next tree will draw."""
        self._value = value

    def randint(self, low, high=None, size=None, dtype=int):
        if (low, high, size) != (0, RAND_R_MAX, None):
            raise RuntimeError("scikit-learn's tree drew its seed in an unexpected way; "
                               "fit with GradientBoostingClassifier instead")
        return self._value


class ThreadedGradientBoosting:
    """Fits like ``GradientBoostingClassifier(random_state=random_state)``, with ``n_threads``
    threads per round, or on a thread pool it is given (``pool``, shared with other fits: DCI
    fits its factors side by side on one pool); exposes ``classes_``, ``feature_importances_``
    and ``predict``."""

    def __init__(self, random_state: int = 0, n_threads: int = 1,
                 pool: Executor | None = None):
        self.random_state = random_state
        self.n_threads = max(1, int(n_threads))
        self.pool = pool

    def fit(self, x, y) -> ThreadedGradientBoosting:
        self.classes_, encoded = np.unique(np.asarray(y), return_inverse=True)
        if self.classes_.size < 3:
            from sklearn.ensemble import GradientBoostingClassifier

            self._sklearn = GradientBoostingClassifier(random_state=self.random_state).fit(x, y)
            return self
        self._sklearn = None
        x = np.ascontiguousarray(x, dtype=np.float32)  # the trees' input type
        k = self.classes_.size
        onehot = np.eye(k)[encoded]  # (N, K)
        # scikit-learn's own loss and link, to the last bit: a gradient 1 ulp off can tip a
        # near-tie between two splits
        from sklearn._loss.loss import HalfMultinomialLoss

        deviance, labels = HalfMultinomialLoss(n_classes=k), encoded.astype(np.float64)
        self._start = prior_raw(encoded, k)
        raw = np.tile(self._start, (x.shape[0], 1))  # (N, K) raw predictions
        draws = np.random.RandomState(self.random_state)
        drawn, weights = [_Drawn() for _ in range(k)], np.ones(x.shape[0])
        self._trees = []
        own = ThreadPoolExecutor(self.n_threads) if self.pool is None else nullcontext(self.pool)
        with own as pool:
            for _ in range(N_ROUNDS):
                residual = -deviance.gradient(y_true=labels, raw_prediction=raw)  # (N, K)
                for seed in drawn:  # in the order the sequential fit draws them
                    seed.set(int(draws.randint(0, RAND_R_MAX)))
                fits = [pool.submit(self._fit_tree, x, weights, residual[:, c], onehot[:, c],
                                    drawn[c], k) for c in range(k)]
                trees = [fit.result() for fit in fits]
                for c, (tree, leaves) in enumerate(trees):
                    raw[:, c] += LEARNING_RATE * tree.tree_.value[:, 0, 0].take(leaves)
                self._trees.append([tree for tree, _ in trees])
        return self

    @staticmethod
    def _fit_tree(x, weights, residual, is_class, seed, k):
        """One class's tree of a round (`is_class`: 1 where a point is of that class), its leaves
        set by one Newton step of the deviance (with Friedman's (K - 1)/K factor, as scikit-learn
        keeps it)."""
        from sklearn.tree import DecisionTreeRegressor

        tree = DecisionTreeRegressor(criterion="squared_error", max_depth=MAX_DEPTH,
                                     random_state=seed)
        tree.fit(x, residual, sample_weight=weights, check_input=False)
        leaves = tree.tree_.apply(x)
        values = tree.tree_.value
        for leaf in np.flatnonzero(tree.tree_.children_left == -1):
            members = np.flatnonzero(leaves == leaf)
            step = residual.take(members)
            prob = is_class.take(members) - step
            numerator = step.sum() / step.size * ((k - 1) / k)  # np.mean's sum and division
            denominator = (prob * (1 - prob)).sum() / step.size
            values[leaf, 0, 0] = 0.0 if abs(denominator) < 1e-150 else \
                float(numerator) / float(denominator)
        return tree, leaves

    @property
    def feature_importances_(self) -> np.ndarray:
        """Impurity decrease averaged over every tree that split, normalised to sum to 1."""
        if self._sklearn is not None:
            return self._sklearn.feature_importances_
        split = [t.tree_.compute_feature_importances(normalize=False)
                 for round_ in self._trees for t in round_ if t.tree_.node_count > 1]
        if not split:
            return np.zeros(self._trees[0][0].n_features_in_)
        mean = np.mean(split, axis=0, dtype=np.float64)
        return mean / mean.sum()

    def predict(self, x) -> np.ndarray:
        if self._sklearn is not None:
            return self._sklearn.predict(x)
        x = np.ascontiguousarray(x, dtype=np.float32)
        raw = np.tile(self._start, (x.shape[0], 1))
        for round_ in self._trees:
            for c, tree in enumerate(round_):
                raw[:, c] += LEARNING_RATE * tree.tree_.value[:, 0, 0].take(tree.tree_.apply(x))
        return self.classes_[np.argmax(raw, axis=1)]
