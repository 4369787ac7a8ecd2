"""UDR, the Unsupervised Disentanglement Ranking (Duan et al., ICLR 2020), as disentanglement_lib
computes it: the comparator that Lin et al. (2020) set ModelCentrality against.

Every run encodes the same real images. For two runs i and j, R(i, j) is the matrix of how
strongly each of i's code dimensions determines each of j's: |Lasso coefficients| of j's
standardised codes regressed on i's (α = 0.1, disentanglement_lib's default) or |Spearman
correlations|. A pair scores high when R is close to a permutation: every row and every column
has one dominant entry. The relative strength of R is

    (mean over columns of max² / sum + mean over rows of max² / sum) / 2   (0/0 counted as 0)

and a run's UDR is the median of the pair scores UDR(j, i) over the other runs j. GAN codes have
no per-dimension KL, so no dimension is filtered out (disentanglement_lib drops latents whose KL is
under 0.01); categorical codes enter as their class probabilities, so that the classes of two runs
can match in any order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from disentangle.errors import DisentangleError
from disentangle.evaluation._checks import standardise

CORRELATIONS = ("lasso", "spearman")
LASSO_ALPHA = 0.1  # disentanglement_lib's


def relative_strength(matrix: np.ndarray) -> float:
    """How close a nonnegative (d_i, d_j) dependence matrix is to a permutation (1: exactly)."""
    m = np.asarray(matrix, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        columns = np.nan_to_num(m.max(axis=0) ** 2 / m.sum(axis=0))
        rows = np.nan_to_num(m.max(axis=1) ** 2 / m.sum(axis=1))
    return float((np.nanmean(columns) + np.nanmean(rows)) / 2)


def spearman_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|Spearman correlation| of every column of a (N, d_a) with every column of b (N, d_b)."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a, axis=0), rankdata(b, axis=0)  # ties get their average rank
    ra, rb = ra - ra.mean(0), rb - rb.mean(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = (ra.T @ rb) / np.outer(np.linalg.norm(ra, axis=0), np.linalg.norm(rb, axis=0))
    return np.abs(np.nan_to_num(corr))  # a constant column correlates with nothing


def lasso_matrix(a: np.ndarray, b: np.ndarray, seed: int = 0) -> np.ndarray:
    """|Lasso coefficients| (d_a, d_b) of b's columns regressed on a's."""
    from sklearn.linear_model import Lasso

    model = Lasso(alpha=LASSO_ALPHA, random_state=seed).fit(a, b)
    return np.abs(np.asarray(model.coef_).reshape(b.shape[1], a.shape[1])).T


def udr(representations: Sequence[np.ndarray], correlation: str = "lasso",
        seed: int = 0) -> dict[str, list]:
    """Each run's codes of the same N images, (N, d_i) each -> {"pairwise": UDR(i, j) matrix
    (diagonal 0, unused), "scores": each run's median over the others}."""
    if correlation not in CORRELATIONS:
        raise DisentangleError(f"UDR correlation must be one of {', '.join(CORRELATIONS)}, "
                               f"got '{correlation}'")
    if len(representations) < 2:
        raise DisentangleError("model selection needs at least 2 runs to compare")
    n = {r.shape[0] for r in representations}
    if len(n) != 1:
        raise DisentangleError(f"UDR needs the codes of the same images from every run; got "
                               f"{sorted(n)} rows")
    standardised = []
    for r in representations:
        standardised.append(standardise(np.asarray(r, dtype=np.float64))[0])
    k = len(standardised)
    pairwise = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            if i != j:
                matrix = (lasso_matrix(standardised[i], standardised[j], seed)
                          if correlation == "lasso"
                          else spearman_matrix(standardised[i], standardised[j]))
                pairwise[i, j] = relative_strength(matrix)
    return {"pairwise": pairwise.tolist(), "scores": udr_scores(pairwise)}


def udr_scores(pairwise: np.ndarray) -> list[float]:
    """Each run's UDR from the pair scores: the median of UDR(j, i) over the other runs j."""
    pairwise = np.asarray(pairwise, dtype=np.float64)
    return [float(np.median(np.delete(pairwise[:, i], i))) for i in range(len(pairwise))]
