"""FactorVAE disentanglement score (Kim & Mnih, 2018), as in disentanglement_lib.

Fix one factor and vary all others across a batch: in a disentangled code, the dimension that
encodes the fixed factor is the one that stops varying. Each batch therefore casts a vote
(fixed factor -> dimension of least normalised variance); a majority-vote classifier maps each
dimension to the factor it most often wins for, and its accuracy on fresh votes is the score.

Variances are normalised by the global variance of each dimension, so dimensions on different
scales compete fairly; dimensions whose global std is below ``prune_threshold`` (0.05, as in
disentanglement_lib's config) are collapsed to the prior and cannot vote. If every dimension is
pruned the score is 0 rather than undefined.

Our extension, ``blocks``: consecutive dimensions that vote as one unit, their variances summed
(the trace of the block's covariance). A categorical code as a one-hot block then varies by its
Gini impurity, 1 - Σ_k p_k², whatever order its classes have; disentanglement_lib has no such
codes, and without ``blocks`` every dimension is its own unit, as there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from disentangle.errors import DisentangleError
from disentangle.evaluation._checks import (
    as_rng,
    positive_int,
)
from disentangle.evaluation._sampling import chunks, encode, random_factors
from disentangle.evaluation.pool import CodePool, check_source


def _winners(codes: np.ndarray, global_var: np.ndarray, active_idx: np.ndarray,
             starts: np.ndarray | None = None) -> np.ndarray:
    """(n, batch, D) codes -> the active unit (dimension or block) of least normalised variance
    per batch."""
    local_var = codes.var(axis=1, ddof=1)
    if starts is not None:
        local_var = np.add.reduceat(local_var, starts, axis=1)  # (n, units)
    ratio = local_var[:, active_idx] / global_var[active_idx]
    return active_idx[np.argmin(ratio, axis=1)]


def _votes(
    sample_codes, sizes, rng, batch_size, num_votes, global_var, active, points_per_call, dim,
    starts
):
    k = sizes.size
    fixed = rng.integers(0, k, size=num_votes)
    active_idx = np.flatnonzero(active)
    votes = np.zeros((k, global_var.size), dtype=np.int64)
    if isinstance(sample_codes, CodePool):
        winners = np.empty(num_votes, dtype=np.int64)
        for sl in chunks(num_votes, batch_size, points_per_call):
            codes = sample_codes.fixed_batches(rng, fixed[sl], batch_size)
            winners[sl] = _winners(codes, global_var, active_idx, starts)
        np.add.at(votes, (fixed, winners), 1)
        return votes
    factors = random_factors(rng, sizes, (num_votes, batch_size))
    rows = np.arange(num_votes)
    factors[rows, :, fixed] = factors[rows, 0, fixed][:, None]
    winners = np.empty(num_votes, dtype=np.int64)
    for sl in chunks(num_votes, batch_size, points_per_call):
        block = factors[sl]
        codes = encode(sample_codes, block.reshape(-1, k), dim)
        winners[sl] = _winners(codes.reshape(block.shape[0], batch_size, dim), global_var,
                               active_idx, starts)
    np.add.at(votes, (fixed, winners), 1)
    return votes


def factor_vae_score(
    sample_codes: Callable[[np.ndarray], np.ndarray] | CodePool,
    factor_sizes: Sequence[int],
    rng,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    *,
    prune_threshold: float = 0.05,
    points_per_call: int = 8192,
    blocks: Sequence[int] | None = None,
) -> dict:
    """FactorVAE score of the representation that ``sample_codes`` computes.

    ``sample_codes(factor_indices)`` gets an (n, K) int array of factor indices (each column in
    ``0 .. factor_sizes[k]-1``) and must return the (n, D) codes of observations with exactly those
    factors. It is called with about ``points_per_call`` rows at a time. ``rng`` is a
    ``numpy.random.Generator`` or an int seed.

    ``sample_codes`` may instead be a ``CodePool`` of encoded observations: every batch is then
    drawn from the pool (``pool.py`` says why that keeps each batch's distribution), the global
    variance is the pool's own, and ``num_variance_estimate`` is not used.

    ``blocks``: the widths of consecutive dimensions that vote as one unit (summing to D), e.g.
    ``[10, 1, 1]`` for a one-hot categorical code then two scalars; None: every dimension alone.

    Returns ``score`` (= ``eval_accuracy``), ``train_accuracy``, ``eval_accuracy``,
    ``num_active_dims`` (active units) and the majority-vote ``classifier`` (factor per unit,
    -1 if pruned).
    """
    sizes = check_source(sample_codes, factor_sizes)
    rng = as_rng(rng)
    batch_size = positive_int(batch_size, "batch_size", minimum=2)
    num_train = positive_int(num_train, "num_train")
    num_eval = positive_int(num_eval, "num_eval")
    num_variance_estimate = positive_int(num_variance_estimate, "num_variance_estimate", minimum=2)
    if not isinstance(prune_threshold, (int, float)) or not prune_threshold >= 0:
        raise DisentangleError(f"prune_threshold must be a number >= 0; got {prune_threshold!r}")
    points_per_call = positive_int(points_per_call, "points_per_call")
    widths = _block_widths(blocks)  # their sum is checked once D is known

    if isinstance(sample_codes, CodePool):
        global_codes, dim = sample_codes.codes, sample_codes.dim
    else:
        rows = random_factors(rng, sizes, (num_variance_estimate,))
        parts = []
        dim = None
        for sl in chunks(num_variance_estimate, 1, points_per_call):
            parts.append(encode(sample_codes, rows[sl], dim))
            dim = parts[-1].shape[1]
        global_codes = np.concatenate(parts)
    global_var = global_codes.var(axis=0, ddof=1)
    starts = _block_starts(widths, dim)
    if starts is not None:
        global_var = np.add.reduceat(global_var, starts)  # (units,)
    active = np.sqrt(global_var) >= prune_threshold
    if not active.any():
        return {
            "score": 0.0,
            "train_accuracy": 0.0,
            "eval_accuracy": 0.0,
            "num_active_dims": 0,
            "classifier": np.full(global_var.size, -1),
        }

    args = (sample_codes, sizes, rng, batch_size)
    tail = (global_var, active, points_per_call, dim, starts)
    train_votes = _votes(*args, num_train, *tail)
    classifier = np.argmax(train_votes, axis=0)  # (units,): each unit's most frequent factor
    cols = np.arange(global_var.size)
    train_acc = train_votes[classifier, cols].sum() / train_votes.sum()
    eval_votes = _votes(*args, num_eval, *tail)
    eval_acc = eval_votes[classifier, cols].sum() / eval_votes.sum()
    classifier = np.where(active, classifier, -1)
    return {
        "score": float(eval_acc),
        "train_accuracy": float(train_acc),
        "eval_accuracy": float(eval_acc),
        "num_active_dims": int(active.sum()),
        "classifier": classifier,
    }


def _block_widths(blocks: Sequence[int] | None) -> list[int] | None:
    if blocks is None:
        return None
    widths = list(blocks)
    if not widths or any(isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1
                         for w in widths):
        raise DisentangleError(f"blocks must be positive widths summing to the codes' "
                               f"dimensions; got {widths}")
    return widths


def _block_starts(widths: list[int] | None, dim: int) -> np.ndarray | None:
    if widths is None:
        return None
    if sum(widths) != dim:
        raise DisentangleError(f"blocks must be positive widths summing to the codes' {dim} "
                               f"dimensions; got {widths}")
    return np.cumsum([0, *widths[:-1]])
