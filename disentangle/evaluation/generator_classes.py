"""Cluster accuracy of the generator's categories, read without Q.

`cluster_accuracy` scores Q's argmax on real images, so a Q that sorts real images well scores
high whatever G does with the code: the GAN baseline, whose G ignores c, reached 0.32-0.54 on
digits that way. Here the run's Q is not used: G draws `per_class` images for each value of the
categorical code (every other latent drawn once from the prior and shared by all values), and
each real image takes the value of the majority of its k nearest such images in pixel space. A
G whose categories are the classes scores high; a G that ignores the code scores about chance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from disentangle.errors import DisentangleError
from disentangle.evaluation._checks import as_codes, same_width
from disentangle.evaluation.cluster import cluster_accuracy

PER_CLASS = 500  # images G draws for each value of the code
NEIGHBOURS = 10  # nearest generated images that vote on a real image's class
CHUNK = 1024  # queries per distance matrix


@torch.no_grad()
def images_by_value(model, code_index: int, per_class: int = PER_CLASS, seed: int = 0,
                    batch_size: int = 500,
                    advance: Callable[[int], None] | None = None) -> list[np.ndarray]:
    """(per_class, C*H*W) float32 images in [0, 1] for each value of a discrete code, in the
    order of the code's `sweep()`; z and the other codes are the same draws for every value."""
    latent_code = model.latent.codes[code_index]
    if not latent_code.code.discrete:
        raise DisentangleError(f"{latent_code.name} ({latent_code.spec}) is not discrete; "
                               "generator cluster accuracy needs a categorical code")
    device = next(model.parameters()).device
    z, values = model.latent.sample(per_class, torch.Generator().manual_seed(seed))
    out = []
    for value in latent_code.code.sweep():
        values[code_index] = torch.full_like(values[code_index], float(value))
        parts = []
        for start in range(0, per_class, batch_size):
            rows = slice(start, start + batch_size)
            images = model.generate(z[rows].to(device), [v[rows].to(device) for v in values])
            parts.append(model.from_range(images.float()).flatten(1).cpu().numpy())
            if advance is not None:
                advance(len(parts[-1]))
        out.append(np.concatenate(parts).astype(np.float32))
    return out


def classify_by_images(images_per_class: Sequence[np.ndarray], queries: np.ndarray,
                       k: int = NEIGHBOURS, chunk: int = CHUNK) -> np.ndarray:
    """Each query's class: the one most of its k nearest labelled images (Euclidean) belong to;
    a tie goes to the tied class with the nearer image. Every image is a row of float pixels:
    uint8 queries against float images would be misread, so integers are refused."""
    return _classify(*_checked(images_per_class, queries, "queries"), k, chunk)


def _checked(images_per_class, queries, name: str,
             unit: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
    """The images and queries as float32 rows of one width (`unit`: in [0, 1] too)."""
    if len(images_per_class) == 0:
        raise DisentangleError("images_per_class is empty: give one (n, pixels) array per class")
    images_per_class = [_pixels(x, f"images_per_class[{c}]", unit)
                        for c, x in enumerate(images_per_class)]
    queries = _pixels(queries, name, unit)
    for c, x in enumerate(images_per_class):
        same_width("images_per_class[0]", images_per_class[0], f"images_per_class[{c}]", x,
                   "pixels")
    same_width("images_per_class[0]", images_per_class[0], name, queries, "pixels")
    return images_per_class, queries


def _classify(images_per_class: list[np.ndarray], queries: np.ndarray, k: int,
              chunk: int) -> np.ndarray:
    """classify_by_images on checked inputs."""
    reference = torch.from_numpy(np.concatenate(images_per_class)).float()
    classes = torch.cat([torch.full((len(x),), c) for c, x in enumerate(images_per_class)])
    n_classes = len(images_per_class)
    k = min(k, len(reference))
    if k < 1:
        raise DisentangleError("no generated images to classify by")
    out = []
    for start in range(0, len(queries), chunk):
        batch = torch.from_numpy(np.asarray(queries[start:start + chunk], np.float32))
        nearest = torch.cdist(batch.flatten(1), reference).topk(k, largest=False).indices
        votes = torch.zeros(len(batch), n_classes)
        votes.scatter_add_(1, classes[nearest], torch.ones(nearest.shape))
        # tie-break by rank: the nearer neighbour's class gets the larger tiny bonus
        bonus = torch.zeros(len(batch), n_classes)
        rank = torch.linspace(1e-3, 1e-6, k).expand(len(batch), k)
        bonus.scatter_reduce_(1, classes[nearest], rank, reduce="amax")
        out.append((votes + bonus).argmax(1))
    return torch.cat(out).numpy()


def _pixels(x, name: str, unit: bool = False) -> np.ndarray:
    """(N, pixels) float32, checked; `unit`: in [0, 1] as well."""
    arr = np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x)
    if not np.issubdtype(arr.dtype, np.floating):
        raise DisentangleError(f"{name} must be floats in [0, 1], got dtype {arr.dtype} "
                               "(divide 0..255 pixels by 255)")
    arr = as_codes(arr, name)
    if unit and (arr.min() < -1e-3 or arr.max() > 1 + 1e-3):
        raise DisentangleError(f"{name} must be floats in [0, 1], got values in "
                               f"[{arr.min():g}, {arr.max():g}]")
    return arr.astype(np.float32)


def generator_cluster_accuracy(images_per_class: Sequence[np.ndarray], real: np.ndarray,
                               labels: np.ndarray, k: int = NEIGHBOURS) -> float:
    """Hungarian-matched accuracy of the real images' classes read through G's categories;
    every image a row of pixels in [0, 1], as `images_by_value` draws them."""
    images_per_class, real = _checked(images_per_class, real, "real", unit=True)
    return cluster_accuracy(_classify(images_per_class, real, k, CHUNK), np.asarray(labels))
