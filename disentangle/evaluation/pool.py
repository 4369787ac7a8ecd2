"""A pool of encoded observations from which the intervention metrics draw their batches.

FactorVAE and BetaVAE, as disentanglement_lib runs them, render and encode a fresh batch of 64
observations for every vote: 970,000 encoded images for FactorVAE and 1,920,000 for BetaVAE at
its defaults, which is hours of CPU for a 64-px convolutional encoder. Both only ever ask for
"observations whose factor k has value v, the other factors uniform". If M observations are
drawn uniformly from the factor grid and encoded once, the pool points whose factor k equals v
*are* uniform over the other factors; so a batch drawn from them has exactly the distribution of
a freshly rendered batch, and both metrics (at dl's vote counts) can share one pool.

What changes is only the sampling variance: votes reuse pool points, so the score varies with the
pool as well as with the votes (docs/metrics.md, "The intervention pool"). Within a FactorVAE
batch points are drawn without replacement (so a batch never holds the same image twice, as with
fresh draws from a large grid), and a BetaVAE pair never pairs a point with itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from disentangle.errors import DisentangleError
from disentangle.evaluation._checks import as_codes, as_factor_sizes, as_factors, same_n

_MAX_KEYS = 1 << 22  # random keys drawn at once when choosing batch points without replacement


class CodePool:
    """Encoded observations (M, D) with their factor indices (M, K), grouped by factor value."""

    def __init__(self, codes, factors, factor_sizes: Sequence[int]):
        self.codes = as_codes(codes, "pool codes")
        self.factors = as_factors(factors, "pool factors")
        same_n(("pool codes", self.codes), ("pool factors", self.factors))
        self.sizes = as_factor_sizes(factor_sizes)
        if self.factors.shape[1] != self.sizes.size:
            raise DisentangleError(f"pool factors have {self.factors.shape[1]} columns but "
                                   f"factor_sizes names {self.sizes.size} factors")
        if (self.factors < 0).any() or (self.factors >= self.sizes).any():
            raise DisentangleError("pool factors hold an index outside 0..factor_sizes[k]-1")
        # Per factor: pool rows sorted by that factor's value, where each value's run starts,
        # how long it is, and each row's rank inside its run.
        self._order, self._start, self._count, self._rank = [], [], [], []
        for k, size in enumerate(self.sizes):
            order = np.argsort(self.factors[:, k], kind="stable")
            count = np.bincount(self.factors[:, k], minlength=size)
            start = np.concatenate([[0], np.cumsum(count)[:-1]])
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order)) - start[self.factors[order, k]]
            self._order.append(order)
            self._start.append(start)
            self._count.append(count)
            self._rank.append(rank)

    def __len__(self) -> int:
        return self.codes.shape[0]

    @property
    def dim(self) -> int:
        return self.codes.shape[1]

    def _check_value_present(self, k: int, values: np.ndarray) -> None:
        empty = self._count[k][values] == 0
        if empty.any():
            v = int(values[np.argmax(empty)])
            raise DisentangleError(f"the intervention pool ({len(self)} points) has no point with "
                                   f"factor {k} = {v}; use a larger pool")

    def fixed_batches(self, rng: np.random.Generator, fixed: np.ndarray,
                      batch_size: int) -> np.ndarray:
        """(n, batch_size, D) codes: batch i has factor ``fixed[i]`` at one uniformly drawn value
        and the others as the pool has them. Without replacement when the value has enough
        points, else with replacement."""
        n = len(fixed)
        values = np.array([rng.integers(0, self.sizes[k]) for k in fixed], dtype=np.int64)
        rows = np.empty((n, batch_size), dtype=np.int64)
        for k in range(self.sizes.size):
            mine = np.flatnonzero(fixed == k)
            if mine.size == 0:
                continue
            self._check_value_present(k, values[mine])
            for v in np.unique(values[mine]):
                votes = mine[values[mine] == v]
                count, start = int(self._count[k][v]), int(self._start[k][v])
                step = max(1, _MAX_KEYS // count)  # bounds the (votes, count) key matrix
                for part in np.array_split(votes, -(-votes.size // step)):
                    if count >= batch_size:  # distinct points: those with the smallest keys
                        keys = rng.random((part.size, count))
                        picks = np.argpartition(keys, batch_size - 1, axis=1)[:, :batch_size]
                    else:
                        picks = rng.integers(0, count, size=(part.size, batch_size))
                    rows[part] = self._order[k][start + picks]
        return self.codes[rows]

    def pairs(self, rng: np.random.Generator, shared: np.ndarray,
              batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Two (n, batch_size, D) code arrays: pair j of item i shares factor ``shared[i]`` (its
        first point is uniform over the pool, the second uniform over the *other* pool points
        with the same value of that factor)."""
        n = len(shared)
        first = rng.integers(0, len(self), size=(n, batch_size))
        second = np.empty_like(first)
        for k in range(self.sizes.size):
            mine = np.flatnonzero(shared == k)
            if mine.size == 0:
                continue
            a = first[mine]
            v = self.factors[a, k]
            count, start = self._count[k][v], self._start[k][v]
            if (count < 2).any():
                raise DisentangleError(f"the intervention pool ({len(self)} points) has a single "
                                       f"point with factor {k} = {int(v[count < 2][0])}; "
                                       "use a larger pool")
            j = np.floor(rng.random(a.shape) * (count - 1)).astype(np.int64)
            j += j >= self._rank[k][a]  # skip the first point itself
            second[mine] = self._order[k][start + j]
        return self.codes[first], self.codes[second]


def check_source(sample_codes, factor_sizes) -> np.ndarray:
    """The checked factor sizes, once ``sample_codes`` is known to be a pool or a callable."""
    if not (isinstance(sample_codes, CodePool) or callable(sample_codes)):
        raise DisentangleError(
            "sample_codes must be a CodePool or a callable: factor indices (N, K) -> codes (N, D)"
        )
    sizes = as_factor_sizes(factor_sizes)
    if np.any(sizes < 2):  # fixing it fixes nothing: its votes would only dilute the score
        k = int(np.argmax(sizes < 2))
        raise DisentangleError(f"factor {k} takes a single value (factor_sizes "
                               f"{tuple(sizes.tolist())}); drop constant factors (e.g. dSprites' "
                               "colour) before scoring")
    if isinstance(sample_codes, CodePool) and not np.array_equal(sizes, sample_codes.sizes):
        raise DisentangleError(f"factor_sizes {tuple(sizes)} differ from the pool's "
                               f"{tuple(sample_codes.sizes)}")
    return sizes
