"""Generator cluster accuracy (disentangle/evaluation/generator_classes.py): G's categories read
through the nearest generated images, without the run's Q."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from disentangle import DisentangleError
from disentangle.evaluation import generator_cluster_accuracy
from disentangle.evaluation.generator_classes import classify_by_images, images_by_value
from disentangle.latent import Latent


def blobs(centres: np.ndarray, n: int, rng, spread: float = 0.05) -> list[np.ndarray]:
    """n noisy copies of each centre, one array per class, pixels in [0, 1]."""
    return [np.clip(c + spread * rng.standard_normal((n, centres.shape[1])), 0, 1).astype(
        np.float32) for c in centres]


def test_a_generator_whose_categories_are_the_classes_scores_1_under_any_numbering():
    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 1, (4, 16))
    real = blobs(centres, 30, rng)
    labels = np.repeat([2, 0, 3, 1], 30)  # real class of centre k is perm[k]
    fakes = blobs(centres, 50, rng)
    assert generator_cluster_accuracy(fakes, np.concatenate(real), labels) == 1.0
    # one category drawing two classes: one of the two is matched, the other is all errors
    merged = [np.concatenate(fakes[:2]), fakes[2], fakes[3]]
    assert generator_cluster_accuracy(merged, np.concatenate(real), labels) == pytest.approx(0.75)


def test_a_generator_that_ignores_its_code_scores_about_chance():
    rng = np.random.default_rng(1)
    centres = rng.uniform(0, 1, (4, 16))
    real, labels = np.concatenate(blobs(centres, 250, rng)), np.repeat(np.arange(4), 250)
    pool = np.concatenate(blobs(centres, 100, rng))
    same = [pool[rng.permutation(len(pool))[:100]] for _ in range(4)]  # every value: any class
    assert generator_cluster_accuracy(same, real, labels) < 0.4  # chance 0.25


def test_votes_and_ties():
    reference = [np.array([[0.0], [0.1], [0.2]]), np.array([[1.0], [1.1], [5.0]])]
    queries = np.array([[0.05], [1.05], [0.3], [0.62]])
    # k = 3: two of the three nearest decide (0.62: 1.0 and 1.1 against 0.2)
    assert classify_by_images(reference, queries, k=3).tolist() == [0, 1, 0, 1]
    # k = 2: 0.2 (class 0) and 1.0 (class 1) tie in votes; the nearer one wins
    assert classify_by_images(reference, np.array([[0.55], [0.65]]), k=2).tolist() == [0, 1]
    # chunks give the same answer as one pass
    many = np.random.default_rng(2).uniform(-1, 6, (50, 1))
    assert (classify_by_images(reference, many, k=3, chunk=7)
            == classify_by_images(reference, many, k=3)).all()


class Painter(torch.nn.Module):
    """A stand-in model: category k of c1 lights pixel k; c2 and z only dim the image."""

    def __init__(self):
        super().__init__()
        self.latent = Latent.from_specs(["categorical:3", "uniform:1"], 2)
        self.scale = torch.nn.Parameter(torch.ones(()))

    def generate(self, z, values):
        images = torch.zeros(len(z), 1, 2, 2)
        images.view(len(z), -1)[torch.arange(len(z)), values[0][:, 0].long()] = 1
        return images * (0.75 + 0.25 * values[1].view(-1, 1, 1, 1).abs()) * self.scale

    def from_range(self, images):
        return images


def test_images_by_value_fixes_the_code_and_shares_every_other_draw():
    model = Painter()
    images = images_by_value(model, 0, per_class=7, seed=3, batch_size=3)
    assert [x.shape for x in images] == [(7, 4)] * 3 and images[0].dtype == np.float32
    for k, x in enumerate(images):
        assert (x.argmax(1) == k).all()  # the value set is the one drawn
    # the other codes and z are the same draws for every value: the lit pixel's level matches
    assert np.allclose(images[0].max(1), images[2].max(1))
    real = np.eye(4, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]
    assert generator_cluster_accuracy(images, real, np.array([5, 6, 7, 5, 6, 7])) == 1.0
    with pytest.raises(DisentangleError, match="c2 .* is not discrete"):
        images_by_value(model, 1)


GEN = [np.full((20, 16), 0.2, np.float32), np.full((20, 16), 0.8, np.float32)]
REAL = np.r_[np.full((10, 16), 0.2), np.full((10, 16), 0.8)]
LABELS = np.r_[np.zeros(10, int), np.ones(10, int)]


@pytest.mark.parametrize("gen, real, labels, message", [
    (GEN, (REAL * 255).astype(np.uint8), LABELS, "real must be floats in [0, 1], got dtype "
                                                 "uint8"),
    (GEN, REAL * 255, LABELS, "real must be floats in [0, 1], got values in [51, 204]"),
    (GEN, np.full((20, 16), np.nan), LABELS, "real contains NaN"),
    (GEN, np.random.rand(10, 100), LABELS[:10], "must have the same number of pixels: 16 != 100"),
    ([], REAL, LABELS, "images_per_class is empty"),
    ([GEN[0], GEN[1] * 2], REAL, LABELS, "images_per_class[1] must be floats in [0, 1]"),
])
def test_inputs_it_would_misread_are_refused(gen, real, labels, message):
    """uint8 pixels against float images scored 0.5 where 1.0 was right, with no error."""
    assert generator_cluster_accuracy(GEN, REAL, LABELS) == 1.0
    with pytest.raises(DisentangleError, match=re.escape(message)):
        generator_cluster_accuracy(gen, real, labels)
