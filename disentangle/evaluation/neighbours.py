"""Neighbour agreement: a label-free score of one run's categorical code, for model selection.

UDR and ModelCentrality reward a run for agreeing with the other runs, so a run better than the
rest is not singled out. This score asks the data instead: does the code put each real training
image in the same class as the images nearest to it in pixel space? That is the k-nearest-
neighbour consistency of a clustering (Ding and He, 2004), less what chance gives: with a the
share of (image, neighbour) pairs in one class and π the code's class shares on the images,

    agreement = a - Σ π²

how much more often an image shares its class with its neighbours than with an image drawn at
random. It is about 0 for classes drawn without regard to the images and 0 when one class takes
every image; its most is 1 - Σ π², so a code that merges two groups into one class scores less
than one that keeps them apart (1 - 1/K for K even classes that every neighbour shares), and one
that splits a group scores less through a. (Dividing by 1 - Σ π², as Cohen's kappa does, would
let a merge score as high as the right classes; on the digits pools of docs/training.md it
chose no better.) A run's score is the mean over its categorical codes.

It is only as good as pixel distance is at finding images of one kind: on digits a training
image's nearest neighbours are mostly of its own class, on photographs (SVHN, CelebA) they are
images of similar colour and light, and the score measures agreement with that instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from disentangle.errors import DisentangleError

NEIGHBOURS = 10  # per image


def nearest_neighbours(images: np.ndarray | torch.Tensor, k: int = NEIGHBOURS, chunk: int = 1024,
                       advance: Callable[[int], None] | None = None) -> np.ndarray:
    """(N, k) indices of each image's k nearest other images by Euclidean pixel distance,
    nearest first; the (N, N) distances are made `chunk` rows at a time (`advance` is told how
    many rows each chunk held)."""
    x = torch.as_tensor(images).flatten(1).double()  # (N, D); float64: ties break alike anywhere
    n = x.shape[0]
    if not 1 <= k < n:
        raise DisentangleError(f"neighbour agreement needs more than {k} images; got {n}")
    rows = []
    for start in range(0, n, chunk):
        distance = torch.cdist(x[start:start + chunk], x)  # (chunk, N)
        own = torch.arange(start, min(start + chunk, n))
        distance[own - start, own] = float("inf")  # an image is not its own neighbour
        rows.append(distance.topk(k, largest=False).indices)  # (chunk, k)
        if advance is not None:
            advance(len(own))
    return torch.cat(rows).numpy()


def neighbour_agreement(classes: np.ndarray, neighbours: np.ndarray) -> float:
    """Share of (image, neighbour) pairs in one class less that of random pairs; classes (N,)
    integers, neighbours (N, k) indices into them."""
    classes = np.asarray(classes)
    if classes.ndim != 1 or neighbours.shape[0] != classes.shape[0]:
        raise DisentangleError(f"neighbour agreement needs one class per image; got classes "
                               f"{classes.shape} for neighbours {neighbours.shape}")
    same = float((classes[neighbours] == classes[:, None]).mean())
    _, counts = np.unique(classes, return_counts=True)
    return same - float(((counts / classes.shape[0]) ** 2).sum())


def neighbour_scores(class_probabilities: Sequence[Sequence[np.ndarray]],
                     neighbours: np.ndarray) -> list[float]:
    """Each run's score: the mean agreement of its categorical codes, each given as (N, K) class
    probabilities of the same N images (a run with none is refused)."""
    scores = []
    for i, codes in enumerate(class_probabilities):
        if not codes:
            raise DisentangleError(f"neighbour agreement scores categorical codes; run {i + 1} "
                                   "has none (use --by udr or --by centrality)")
        scores.append(float(np.mean([neighbour_agreement(np.asarray(p).argmax(1), neighbours)
                                     for p in codes])))
    return scores
