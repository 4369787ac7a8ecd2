"""BetaVAE disentanglement score (Higgins et al., 2017), as in disentanglement_lib (sklearn form).

Pairs of observations that share one factor (the others drawn independently) differ little in
the code dimensions that encode that factor. The mean absolute code difference over a batch of
such pairs is a feature vector from which a linear classifier should recover the shared factor;
its held-out accuracy is the score. disentanglement_lib feeds the raw |differences| to a default
``LogisticRegression``; so do we.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from disentangle.errors import DisentangleError
from disentangle.evaluation._checks import (
    as_rng,
    fit_quietly,
    positive_int,
    threads,
)
from disentangle.evaluation._sampling import chunks, encode, random_factors
from disentangle.evaluation.pool import CodePool, check_source


def _points(sample_codes, sizes, rng, batch_size, num_points, points_per_call, dim):
    k = sizes.size
    labels = rng.integers(0, k, size=num_points)
    if isinstance(sample_codes, CodePool):
        features = np.empty((num_points, sample_codes.dim))
        for sl in chunks(num_points, 2 * batch_size, points_per_call):
            c1, c2 = sample_codes.pairs(rng, labels[sl], batch_size)
            features[sl] = np.abs(c1 - c2).mean(axis=1)
        return features, labels, sample_codes.dim
    first = random_factors(rng, sizes, (num_points, batch_size))
    second = random_factors(rng, sizes, (num_points, batch_size))
    rows = np.arange(num_points)
    second[rows, :, labels] = first[rows, :, labels]
    features = None
    for sl in chunks(num_points, 2 * batch_size, points_per_call):
        n = sl.stop - sl.start
        # Both halves of every pair in one call: half the calls, same result.
        both = np.concatenate([first[sl].reshape(-1, k), second[sl].reshape(-1, k)])
        codes = encode(sample_codes, both, dim)
        dim = codes.shape[1]
        c1 = codes[: n * batch_size].reshape(n, batch_size, dim)
        c2 = codes[n * batch_size :].reshape(n, batch_size, dim)
        if features is None:
            features = np.empty((num_points, dim))
        features[sl] = np.abs(c1 - c2).mean(axis=1)
    return features, labels, dim


def beta_vae_score(
    sample_codes: Callable[[np.ndarray], np.ndarray] | CodePool,
    factor_sizes: Sequence[int],
    rng,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    *,
    max_iter: int = 100,
    points_per_call: int = 8192,
    blas_threads: int | None = 1,
) -> dict:
    """BetaVAE score of the representation that ``sample_codes`` computes.

    ``sample_codes`` is as for ``factor_vae_score``: (n, K) factor indices -> (n, D) codes, called
    with about ``points_per_call`` rows at a time, or a ``CodePool`` to draw every pair from.
    ``rng``: Generator or int seed.

    Returns ``score`` (= ``eval_accuracy``), ``train_accuracy``, ``eval_accuracy`` and
    ``converged`` (whether LogisticRegression reached its tolerance within ``max_iter``).
    ``blas_threads`` caps BLAS threads during the fit (``None``: library default).
    """
    from sklearn.linear_model import LogisticRegression

    sizes = check_source(sample_codes, factor_sizes)
    if sizes.size < 2:
        raise DisentangleError(
            "beta_vae_score needs at least 2 factors (it classifies which one is fixed)"
        )
    rng = as_rng(rng)
    batch_size = positive_int(batch_size, "batch_size")
    num_train = positive_int(num_train, "num_train", minimum=2)
    num_eval = positive_int(num_eval, "num_eval")
    max_iter = positive_int(max_iter, "max_iter")
    points_per_call = positive_int(points_per_call, "points_per_call")
    blas_threads = threads(blas_threads)

    common = (sample_codes, sizes, rng, batch_size)
    x_train, y_train, dim = _points(*common, num_train, points_per_call, None)
    if np.unique(y_train).size < 2:
        raise DisentangleError(f"num_train={num_train} drew a single fixed factor; use more points")
    model = LogisticRegression(max_iter=max_iter)
    converged = fit_quietly(model, x_train, y_train, blas_threads)
    train_acc = float(np.mean(model.predict(x_train) == y_train))
    x_eval, y_eval, _ = _points(*common, num_eval, points_per_call, dim)
    eval_acc = float(np.mean(model.predict(x_eval) == y_eval))
    return {
        "score": eval_acc,
        "train_accuracy": train_acc,
        "eval_accuracy": eval_acc,
        "converged": converged,
    }
