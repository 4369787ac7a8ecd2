"""Modularity and explicitness (Ridgeway & Mozer, 2018), as in disentanglement_lib.

Modularity asks whether each code dimension depends on at most one factor. Against an ideal
template where a dimension's MI is all on its best factor, the deviation is the share of squared
MI on the other factors, scaled to [0, 1] by the worst case (all K factors equal):
    delta_d = (Σ_k m_dk² - max_k m_dk²) / (max_k m_dk² (K - 1)),
    modularity = mean_d (1 - delta_d),
with dimensions that carry no information scoring 0. It reuses the discrete MI matrix of MIG.

Explicitness asks whether each factor's value can be read from the whole code with a simple
(linear) classifier: one-vs-rest ROC-AUC of a logistic regression, averaged over classes and
factors. Codes are standardised with the training mean and std first, as disentanglement_lib does.
"""

from __future__ import annotations

import numpy as np

from disentangle.errors import DisentangleError
from disentangle.evaluation._checks import (
    fit_quietly,
    positive_int,
    standardise,
    threads,
    train_test,
)


def modularity(mi_matrix) -> dict:
    """Modularity score from a (D, K) non-negative MI matrix (e.g. ``mi_matrix(codes, factors)``).

    Returns ``score`` (mean over dims) and ``per_code`` (D,).
    """
    try:
        m = np.asarray(mi_matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise DisentangleError("mi_matrix must be a numeric (D, K) array") from None
    if m.ndim != 2 or m.size == 0:
        raise DisentangleError(
            f"mi_matrix must be a non-empty (D code dims, K factors) array; got shape {m.shape}"
        )
    if not np.all(np.isfinite(m)):
        raise DisentangleError("mi_matrix contains NaN or infinite values")
    if np.any(m < 0):
        raise DisentangleError("mi_matrix must be non-negative (it holds mutual informations)")
    if m.shape[1] < 2:
        raise DisentangleError("modularity needs at least 2 factors (columns of mi_matrix)")
    sq = np.square(m)
    top = sq.max(axis=1)
    per_code = np.zeros(m.shape[0])
    informative = top > 0
    delta = (sq.sum(axis=1)[informative] - top[informative]) / (top[informative] * (m.shape[1] - 1))
    per_code[informative] = 1.0 - delta
    return {"score": float(per_code.mean()), "per_code": per_code}


def _auc_per_class(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Macro one-vs-rest ROC-AUC over the classes that are both present and absent in ``y``.

    disentanglement_lib one-hot encodes with a binarizer fitted on the evaluated labels, which
    crashes when the test split misses a class the classifier knows; skipping classes whose AUC
    is undefined gives the same number whenever theirs is defined.
    """
    from sklearn.metrics import roc_auc_score

    aucs = []
    for c, cls in enumerate(classes):
        positive = y == cls
        if positive.all() or not positive.any():
            continue
        aucs.append(roc_auc_score(positive, proba[:, c]))
    return float(np.mean(aucs)) if aucs else float("nan")


def explicitness(
    codes_train,
    factors_train,
    codes_test,
    factors_test,
    *,
    max_iter: int = 100,
    blas_threads: int | None = 1,
) -> dict:
    """Mean over factors of one-vs-rest ROC-AUC of a LogisticRegression on standardised codes.

    Returns ``score`` (test), ``score_train``, ``per_factor`` (K,) test AUCs and ``converged``.
    ``blas_threads`` caps BLAS threads during each fit (``None``: library default).
    """
    from sklearn.linear_model import LogisticRegression

    x_tr, y_tr, x_te, y_te = train_test(codes_train, factors_train, codes_test, factors_test)
    max_iter = positive_int(max_iter, "max_iter")
    blas_threads = threads(blas_threads)
    x_tr, x_te = standardise(x_tr, x_te)

    k = y_tr.shape[1]
    train, test = np.zeros(k), np.zeros(k)
    converged = True
    for j in range(k):
        clf = LogisticRegression(max_iter=max_iter)
        converged &= fit_quietly(clf, x_tr, y_tr[:, j], blas_threads)
        train[j] = _auc_per_class(y_tr[:, j], clf.predict_proba(x_tr), clf.classes_)
        test[j] = _auc_per_class(y_te[:, j], clf.predict_proba(x_te), clf.classes_)
    if np.isnan(test).any():
        raise DisentangleError(
            "explicitness: a factor of factors_test takes a single value; AUC is undefined"
        )
    return {
        "score": float(test.mean()),
        "score_train": float(train.mean()),
        "per_factor": test,
        "converged": bool(converged),
    }
