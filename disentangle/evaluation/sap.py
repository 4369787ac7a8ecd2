"""Separated Attribute Predictability (Kumar et al., 2018), discrete-factor form.

Each (code dimension, factor) pair gets its own one-dimensional linear SVM, so the score matrix
says how well a factor can be read from each dimension *alone*. The gap between the best and the
second-best dimension rewards factors captured by one dimension only.

Deviation from disentanglement_lib, on purpose: its SVMs see raw codes, and with C = 0.01 the
regulariser is not scale-free, so the same representation scores differently when its codes are
multiplied by a constant (in our check, SAP 0.48 at unit scale and 0.00 at scale 0.01). We
standardise each dimension with the training mean and std first (``standardize=True``), which
makes SAP invariant to positive affine rescaling of the codes; ``standardize=False`` reproduces
disentanglement_lib bit for bit.
"""

from __future__ import annotations

import numpy as np

from disentangle.evaluation._checks import (
    fit_quietly,
    needs_gap,
    positive_float,
    standardise,
    train_test,
)


def sap(
    codes_train,
    factors_train,
    codes_test,
    factors_test,
    C: float = 0.01,
    *,
    standardize: bool = True,
) -> dict:
    """SAP score: mean over factors of (best - second-best) 1-D LinearSVC test accuracy.

    Returns ``score``, ``per_factor`` (K,) gaps, ``score_matrix`` (D, K) test accuracies and
    ``converged`` (liblinear reached its tolerance for every pair).
    """
    from sklearn.svm import LinearSVC

    x_tr, y_tr, x_te, y_te = train_test(codes_train, factors_train, codes_test, factors_test)
    C = positive_float(C, "C")
    d, k = x_tr.shape[1], y_tr.shape[1]
    needs_gap(x_tr, "sap")
    if standardize:
        x_tr, x_te = standardise(x_tr, x_te)

    scores = np.zeros((d, k))
    converged = True
    for i in range(d):
        xi_tr, xi_te = x_tr[:, i : i + 1], x_te[:, i : i + 1]
        for j in range(k):
            clf = LinearSVC(C=C, class_weight="balanced")
            converged &= fit_quietly(clf, xi_tr, y_tr[:, j])
            scores[i, j] = np.mean(clf.predict(xi_te) == y_te[:, j])
    top = np.sort(scores, axis=0)[::-1]
    per_factor = top[0] - top[1]
    return {
        "score": float(per_factor.mean()),
        "per_factor": per_factor,
        "score_matrix": scores,
        "converged": bool(converged),
    }
