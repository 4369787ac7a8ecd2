"""Calling a user's ``sample_codes`` in large batches and checking what comes back.

The intervention metrics (FactorVAE, BetaVAE) need hundreds of thousands of encoded observations;
rendering and encoding them is the expensive part, and doing it 64 at a time (as
disentanglement_lib does) wastes the accelerator. All factor indices are drawn up front from the
caller's generator, so results do not depend on how the work is chunked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from disentangle.errors import DisentangleError


def random_factors(
    rng: np.random.Generator, sizes: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray:
    """Uniform factor indices of shape ``shape + (K,)``, one column per factor."""
    cols = [rng.integers(0, s, size=shape) for s in sizes]
    return np.stack(cols, axis=-1).astype(np.int64)


def encode(sample_codes: Callable, factor_rows: np.ndarray, dim: int | None = None) -> np.ndarray:
    """One call to ``sample_codes`` with a shape check; returns (n, D) float64 codes."""
    out = np.asarray(sample_codes(factor_rows), dtype=np.float64)
    n = factor_rows.shape[0]
    if out.ndim != 2 or out.shape[0] != n:
        raise DisentangleError(
            f"sample_codes must return an (N, D) array with one row per factor row; "
            f"got shape {out.shape} for {n} rows"
        )
    if dim is not None and out.shape[1] != dim:
        raise DisentangleError(
            f"sample_codes returned {out.shape[1]} code dims, earlier calls returned {dim}"
        )
    if out.shape[1] == 0:
        raise DisentangleError("sample_codes returned codes with 0 dimensions")
    if not np.all(np.isfinite(out)):
        raise DisentangleError("sample_codes returned NaN or infinite codes")
    return out


def chunks(num_groups: int, group_size: int, points_per_call: int) -> Iterator[slice]:
    """Slices over groups so that each call encodes about ``points_per_call`` points."""
    per_call = max(1, points_per_call // group_size)
    for start in range(0, num_groups, per_call):
        yield slice(start, min(num_groups, start + per_call))
