"""Matching-based accuracy and MI scores for categorical codes against class labels."""

import numpy as np
import pytest
from sklearn.metrics import (
    adjusted_mutual_info_score,
    mutual_info_score,
    normalized_mutual_info_score,
)

from disentangle.evaluation import cluster_accuracy, confusion, label_mi, matching


def test_permuted_perfect_labelling():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 500)
    perm = rng.permutation(10)
    assert cluster_accuracy(perm[labels], labels) == 1.0
    r = label_mi(perm[labels], labels)
    assert r["nmi"] == pytest.approx(1.0) and r["ami"] == pytest.approx(1.0)


def test_hand_case_best_matching():
    pred = np.array([0, 0, 0, 1, 1, 2])
    labels = np.array([1, 1, 0, 0, 0, 2])
    np.testing.assert_array_equal(confusion(pred, labels), [[1, 2, 0], [2, 0, 0], [0, 0, 1]])
    # 0 -> 1 (2 right), 1 -> 0 (2 right), 2 -> 2 (1 right); naive index matching gets 2/6
    assert cluster_accuracy(pred, labels) == pytest.approx(5 / 6)


def test_more_clusters_than_classes():
    assert cluster_accuracy([0, 1, 2, 3], [0, 0, 1, 1]) == pytest.approx(0.5)
    # one-to-one: cluster 2 cannot also map to class 1, so it counts as wrong
    assert cluster_accuracy([0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 1, 1]) == pytest.approx(4 / 6)
    assert confusion([5, 5, 9], [1, 2, 2]).shape == (2, 2)


def test_fewer_clusters_than_classes():
    assert cluster_accuracy([0, 0, 0, 0], [0, 1, 1, 2]) == pytest.approx(0.5)


def test_label_mi_matches_sklearn():
    rng = np.random.default_rng(1)
    pred, labels = rng.integers(0, 7, 300), rng.integers(0, 5, 300)
    r = label_mi(pred, labels)
    assert r["mi"] == pytest.approx(mutual_info_score(labels, pred))
    assert r["nmi"] == pytest.approx(normalized_mutual_info_score(labels, pred))
    assert r["ami"] == pytest.approx(adjusted_mutual_info_score(labels, pred))
    assert abs(r["ami"]) < 0.05  # independent labellings: chance-adjusted MI ~ 0


def test_matching_names_clusters_and_classes_by_their_values():
    pred = np.array([5, 5, 5, 9, 9, 7])
    labels = np.array([1, 1, 0, 0, 0, 2])
    assert matching(pred, labels) == {5: 1, 9: 0, 7: 2}
    # one-to-one: one of clusters 0 and 1 goes to class 0, one of 2 and 3 to class 1
    matched = matching([0, 1, 2, 3], [0, 0, 1, 1])
    assert sorted(matched.values()) == [0, 1] and all(matched[k] == k // 2 for k in matched)


def test_a_column_of_class_indices_is_taken_as_labels_and_other_shapes_refused():
    """`TrainedRun.encode` gives a categorical code as an (N, 1) float index: it scores as is."""
    import torch

    from disentangle.errors import DisentangleError

    pred = torch.tensor([[0.0], [0.0], [0.0], [1.0], [1.0], [2.0]])
    labels = np.array([1, 1, 0, 0, 0, 2])
    assert cluster_accuracy(pred, labels) == pytest.approx(5 / 6)
    assert matching(pred, labels[:, None]) == {0: 1, 1: 0, 2: 2}
    with pytest.raises(DisentangleError, match=r"pred must be 1-D \(N,\) or one column \(N, 1\); "
                                               r"got shape \(3, 2\)"):
        cluster_accuracy(np.zeros((3, 2)), labels[:3])
