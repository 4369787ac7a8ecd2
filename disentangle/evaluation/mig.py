"""Mutual Information Gap (Chen et al., 2018), as disentanglement_lib computes it.

A factor is well captured by a disentangled code when exactly one code dimension carries
information about it. The gap between the best and second-best dimension measures that "exactly
one"; dividing by H(v_k) puts every factor on a 0..1 scale. A factor encoded twice (duplicated
dimension) scores ~0, which is the intended penalty.
"""

from __future__ import annotations

import numpy as np

from disentangle.errors import DisentangleError
from disentangle.evaluation._checks import as_codes, as_factors, needs_gap, positive_int, same_n
from disentangle.evaluation.discrete_mi import entropies, mi_matrix


def mig(codes, factors, bins: int = 20) -> dict:
    """MIG of continuous codes (N, D) against integer factors (N, K).

    Returns ``score`` (mean over factors), ``per_factor`` (K,), the ``mi`` matrix (D, K) and the
    factor ``entropies`` (K,), all in nats where applicable.
    """
    codes = as_codes(codes, "codes")
    factors = as_factors(factors, "factors")
    same_n(("codes", codes), ("factors", factors))
    bins = positive_int(bins, "bins")
    needs_gap(codes, "mig")
    h = entropies(factors)
    if np.any(h == 0):
        k = int(np.flatnonzero(h == 0)[0])
        raise DisentangleError(
            f"factor {k} takes a single value (entropy 0), so MIG is undefined for it; drop it"
        )
    m = mi_matrix(codes, factors, bins=bins)
    top = np.sort(m, axis=0)[::-1]
    per_factor = (top[0] - top[1]) / h
    return {"score": float(per_factor.mean()), "per_factor": per_factor, "mi": m, "entropies": h}
