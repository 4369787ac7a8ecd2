"""Heatmaps of metric matrices (MI, DCI importance, SAP scores) and confusion matrices.

A single number hides *which* code dimension captured *which* factor; the matrix behind MIG or DCI
shows it at a glance. Figures are drawn with matplotlib's object API on an Agg canvas, never
through pyplot, so saving a plot neither needs a display nor changes the backend or figure state
of a caller that uses pyplot itself. matplotlib is imported on first use only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from disentangle.errors import DisentangleError


def _matrix(matrix) -> np.ndarray:
    try:
        m = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise DisentangleError("matrix must be a numeric 2-D array") from None
    if m.ndim != 2 or m.size == 0:
        raise DisentangleError(f"matrix must be a non-empty 2-D array; got shape {m.shape}")
    return m


def _names(names, n: int, what: str) -> list[str]:
    if names is None:
        return [str(i) for i in range(n)]
    names = [str(x) for x in names]
    if len(names) != n:
        raise DisentangleError(f"{what} has {len(names)} names for {n} {what.split('_')[0]}s")
    return names


def _target(path) -> Path:
    path = Path(path)
    if not path.parent.is_dir():
        raise DisentangleError(
            f"cannot save plot to {path}: directory {path.parent} does not exist"
        )
    return path


def _draw(m, rows, cols, path, title, xlabel, ylabel, cmap, fmt):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    h, w = m.shape
    fig = Figure(figsize=(max(4.0, 0.6 * w + 2.5), max(3.0, 0.45 * h + 1.8)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    finite = m[np.isfinite(m)]
    image = ax.imshow(m, cmap=cmap, aspect="auto")
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(w), labels=cols, rotation=45 if max(map(len, cols)) > 3 else 0, ha="right")
    ax.set_yticks(range(h), labels=rows)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if h * w <= 400 and finite.size:  # numbers stay legible only on small matrices
        mid = (finite.min() + finite.max()) / 2
        for i in range(h):
            for j in range(w):
                ax.text(j, i, format(m[i, j], fmt), ha="center", va="center", fontsize=7,
                        color="black" if m[i, j] > mid else "white")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def save_heatmap(
    matrix,
    row_names: Sequence[str] | None,
    col_names: Sequence[str] | None,
    path,
    title: str = "",
    *,
    xlabel: str = "factor",
    ylabel: str = "code dimension",
    cmap: str = "viridis",
    fmt: str = ".2f",
) -> Path:
    """Save a (rows x cols) heatmap with annotated cells (when small) to ``path``; returns it."""
    m = _matrix(matrix)
    rows = _names(row_names, m.shape[0], "row_names")
    cols = _names(col_names, m.shape[1], "col_names")
    return _draw(m, rows, cols, _target(path), title, xlabel, ylabel, cmap, fmt)


def save_confusion(
    matrix,
    path,
    title: str = "confusion",
    *,
    row_names: Sequence[str] | None = None,
    col_names: Sequence[str] | None = None,
) -> Path:
    """Save a confusion matrix (clusters x classes, as ``confusion`` returns) to ``path``."""
    m = _matrix(matrix)
    rows = _names(row_names, m.shape[0], "row_names")
    cols = _names(col_names, m.shape[1], "col_names")
    fmt = "d" if np.all(m == np.round(m)) else ".2f"
    shown = m.astype(np.int64) if fmt == "d" else m
    return _draw(shown, rows, cols, _target(path), title, "class", "cluster", "Blues", fmt)
