"""Scoring a categorical code against class labels when the category numbering is arbitrary.

InfoGAN's categorical code learns digits in an order of its own choosing, so "category 3 == digit
3" accuracy is meaningless. Accuracy is taken under the best one-to-one matching of clusters to
classes (Hungarian algorithm on the confusion matrix). With more clusters than classes, the
unmatched clusters count as errors; with fewer, some classes are never predicted. The MI family
(MI, NMI, AMI) is matching-free and complements it.
"""

from __future__ import annotations

import numpy as np

from disentangle.evaluation._checks import as_labels, same_n


def _pair(pred, labels) -> tuple[np.ndarray, np.ndarray]:
    pred = as_labels(pred, "pred")
    labels = as_labels(labels, "labels")
    same_n(("pred", pred), ("labels", labels))
    return pred, labels


def confusion(pred, labels) -> np.ndarray:
    """(n_clusters, n_classes) counts; rows in ``np.unique(pred)``, columns in ``np.unique(labels)``
    order."""
    pred, labels = _pair(pred, labels)
    clusters, p = np.unique(pred, return_inverse=True)
    classes, y = np.unique(labels, return_inverse=True)
    joint = p.reshape(-1) * classes.size + y.reshape(-1)
    counts = np.bincount(joint, minlength=clusters.size * classes.size)
    return counts.reshape(clusters.size, classes.size)


def cluster_accuracy(pred, labels) -> float:
    """Accuracy under the best one-to-one cluster -> class matching."""
    from scipy.optimize import linear_sum_assignment

    table = confusion(pred, labels)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def matching(pred, labels) -> dict[int, int]:
    """The best one-to-one matching as {cluster: class}; clusters left over are absent."""
    from scipy.optimize import linear_sum_assignment

    pred, labels = _pair(pred, labels)
    clusters, classes = np.unique(pred), np.unique(labels)
    rows, cols = linear_sum_assignment(confusion(pred, labels), maximize=True)
    return {int(clusters[r]): int(classes[c]) for r, c in zip(rows, cols)}


def label_mi(pred, labels) -> dict:
    """``mi`` (nats), ``nmi`` (arithmetic normalisation), ``ami`` (chance-adjusted); sklearn's."""
    from sklearn.metrics import (
        adjusted_mutual_info_score,
        mutual_info_score,
        normalized_mutual_info_score,
    )

    pred, labels = _pair(pred, labels)
    return {
        "mi": float(mutual_info_score(labels, pred)),
        "nmi": float(normalized_mutual_info_score(labels, pred)),
        "ami": float(adjusted_mutual_info_score(labels, pred)),
    }
