"""ModelCentrality (Lin, Thekumparampil, Fanti, Oh, ICML 2020): pick a well-disentangled model out
of several trained ones without any labels.

Each trained generator is a dataset with known factors: its own codes. Model j is scored as an
encoder on model i's generated images with a supervised disentanglement metric (the FactorVAE
score, as in the paper), taking i's codes as the ground truth. Models that disentangle the data's
true factors agree with one another; a model that learned something else agrees with few. With
s(i, j) that score, the similarity of two models is (s(i, j) + s(j, i)) / 2 and a model's
centrality is its mean similarity to the others; the medoid (highest centrality) is chosen.

As the factors of model i, each of its codes is one factor whose values are `slots` fixed draws
from the code's own prior (every code type can be sampled, so every code type works); the noise z
is drawn afresh for every image. Fixing a factor fixes that code exactly, as in the authors' data
(one code held, everything else resampled).

As an encoder, model j's categorical code enters one-hot, as one voting unit whose spread in a
batch is its Gini impurity (`factor_vae_score`'s `blocks`): which index a class gets is
arbitrary, and as a number a class split over categories 0 and 3 would vary more, and lose more
votes, than the same split over 0 and 1. The paper's codes are all continuous; this is our
extension.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from disentangle.errors import DisentangleError
from disentangle.evaluation.factor_vae import factor_vae_score
from disentangle.evaluation.pipeline import refuse_not_finite
from disentangle.model import LatentModel


@dataclass(frozen=True)
class CentralityConfig:
    slots: int = 64  # prior draws per code that a fixed factor picks from
    group_size: int = 64  # images per FactorVAE vote (disentanglement_lib's batch)
    num_train: int = 300  # votes that train the majority-vote classifier
    num_eval: int = 150  # votes it is scored on
    num_variance_estimate: int = 2000  # images for the global code variance
    batch_size: int = 1000  # images per generator/encoder call
    seed: int = 0


class _GeneratedFactors:
    """Model i as a factor dataset: factor indices -> its generated images, remembered per call so
    every encoder is scored on the very same images."""

    def __init__(self, model: LatentModel, cfg: CentralityConfig):
        self.model, self.cfg = model, cfg
        device = next(model.parameters()).device
        self.generator = torch.Generator(device=device).manual_seed(cfg.seed)
        self.tables = [c.code.sample(cfg.slots, self.generator, device)
                       for c in model.latent.codes]  # per code (slots, dims)
        self.sizes = [cfg.slots] * len(self.tables)
        self.calls: list[torch.Tensor] = []

    @torch.no_grad()
    def images(self, call: int, factor_indices: np.ndarray) -> torch.Tensor:
        if call < len(self.calls):
            return self.calls[call]
        model, device = self.model, self.tables[0].device
        index = torch.as_tensor(factor_indices, device=device)
        out = []
        for start in range(0, len(index), self.cfg.batch_size):
            rows = index[start:start + self.cfg.batch_size]
            z, _ = model.latent.sample(len(rows), self.generator, device)
            values = [table[rows[:, k]] for k, table in enumerate(self.tables)]
            out.append(model.generate(z, values))
        self.calls.append(torch.cat(out))
        return self.calls[-1]


def _one_hot(latent_code) -> bool:
    """A categorical code is read as the one-hot its code type feeds G (`to_input`)."""
    return latent_code.posterior.kind == "categorical"


def _blocks(model: LatentModel) -> list[int]:
    """Each code's width as the FactorVAE score reads it."""
    return [c.code.width if _one_hot(c) else c.code.dims for c in model.latent.codes]


@torch.no_grad()
def _codes(model: LatentModel, images: torch.Tensor, batch_size: int) -> np.ndarray:
    """The encoder's point estimates, a categorical code's class one-hot."""
    parts = []
    for start in range(0, len(images), batch_size):
        estimates, _, _ = model.encode(images[start:start + batch_size])
        values = [c.code.to_input(e) if _one_hot(c) else e
                  for c, e in zip(model.latent.codes, estimates, strict=True)]
        parts.append(torch.cat(values, dim=1).float().cpu())
    return torch.cat(parts).numpy()


def pairwise_scores(models: Sequence[LatentModel], cfg: CentralityConfig = CentralityConfig(),
                    advance: Callable[[int], None] | None = None,
                    names: Sequence[str] | None = None) -> np.ndarray:
    """(M, M) matrix: [i, j] is model j's FactorVAE score on model i's generated factors (the
    diagonal scores each model on its own codes); `advance(1)` as each pair is scored. `names`
    (default "model I") say whose networks overflowed, if any do."""
    if len(models) < 2:
        raise DisentangleError("model selection needs at least 2 runs to compare")
    names = list(names) if names is not None else [f"model {i}" for i in range(len(models))]
    for m in models:
        m.eval()
    scores = np.zeros((len(models), len(models)))
    for i, source in enumerate(models):
        factors = _GeneratedFactors(source, cfg)
        for j, encoder in enumerate(models):
            calls = itertools.count()  # the k-th call of every encoder gets the same images

            def sample_codes(indices, encoder=encoder, factors=factors, calls=calls, i=i, j=j):
                images = factors.images(next(calls), indices)
                refuse_not_finite(f"{names[i]}: G's images", images)
                codes = _codes(encoder, images, cfg.batch_size)
                refuse_not_finite(f"{names[j]}: Q's estimates of {names[i]}'s images", codes)
                return codes

            result = factor_vae_score(sample_codes, factors.sizes,
                                      np.random.default_rng(cfg.seed),
                                      batch_size=cfg.group_size, num_train=cfg.num_train,
                                      num_eval=cfg.num_eval,
                                      num_variance_estimate=cfg.num_variance_estimate,
                                      blocks=_blocks(encoder))
            scores[i, j] = result["eval_accuracy"]
            if advance is not None:
                advance(1)
    return scores


def centrality(scores: np.ndarray) -> np.ndarray:
    """Mean symmetrised similarity of each model to the others (the diagonal is left out)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1] or scores.shape[0] < 2:
        raise DisentangleError(f"pairwise scores must be a square matrix of at least 2 models, "
                               f"got shape {scores.shape}")
    similarity = (scores + scores.T) / 2
    m = len(scores)
    return (similarity.sum(axis=1) - np.diag(similarity)) / (m - 1)
