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


def text_colour(rgba) -> str:
    """Black on light cells, white on dark ones, whatever the colour map: the rule follows the
    cell's luminance (ITU-R BT.709 weights), not its value, so it holds for viridis and Blues."""
    r, g, b = rgba[:3]
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else "white"


def heatmap_figure(m, rows, cols, title, xlabel, ylabel, cmap, fmt):
    """The annotated heatmap as a matplotlib Figure (on an Agg canvas), ready to save or inspect."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    h, w = m.shape
    fig = Figure(figsize=(max(4.0, 0.6 * w + 2.5), max(3.0, 0.45 * h + 1.8)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    finite = m[np.isfinite(m)]
    image = ax.imshow(m, cmap=cmap, aspect="auto")
    fig.colorbar(image, ax=ax)
    tilt = max(map(len, cols)) > 3  # long names slant, anchored at their tick
    ax.set_xticks(range(w), labels=cols, rotation=45 if tilt else 0,
                  ha="right" if tilt else "center", rotation_mode="anchor")
    ax.set_yticks(range(h), labels=rows)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if h * w <= 400 and finite.size:  # numbers stay legible only on small matrices
        for i in range(h):
            for j in range(w):
                colour = text_colour(image.cmap(image.norm(m[i, j])))
                ax.text(j, i, format(m[i, j], fmt), ha="center", va="center", fontsize=7,
                        color=colour)
    fig.tight_layout()
    return fig


def _save(fig, path: Path) -> Path:
    """At 120 dpi, as every picture of a run is saved (`save_figure`: atomic, no glyph noise)."""
    from disentangle.training.rundir import save_figure

    return save_figure(fig, path, dpi=120)


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
    target = _target(path)
    return _save(heatmap_figure(m, rows, cols, title, xlabel, ylabel, cmap, fmt), target)


def matched_order(matrix) -> np.ndarray:
    """Row order that puts the Hungarian matching on the diagonal: row j of the result is the
    cluster matched to class j; clusters left unmatched (more clusters than classes) follow."""
    from scipy.optimize import linear_sum_assignment

    m = _matrix(matrix)
    rows, cols = linear_sum_assignment(m, maximize=True)
    matched = [int(r) for _, r in sorted(zip(cols, rows))]
    return np.array(matched + [r for r in range(m.shape[0]) if r not in matched], dtype=np.int64)


def confusion_figure(matrix, title: str = "confusion", *, row_names=None, col_names=None):
    """The confusion matrix as a Figure, rows in matched order (see `matched_order`)."""
    m = _matrix(matrix)
    rows = _names(row_names, m.shape[0], "row_names")
    cols = _names(col_names, m.shape[1], "col_names")
    order = matched_order(m)
    m = m[order]
    rows = [rows[i] for i in order]
    fmt = "d" if np.all(m == np.round(m)) else ".2f"
    shown = m.astype(np.int64) if fmt == "d" else m
    return heatmap_figure(shown, rows, cols, title, "class",
                          "cluster (ordered by its matched class)", "Blues", fmt)


def save_confusion(
    matrix,
    path,
    title: str = "confusion",
    *,
    row_names: Sequence[str] | None = None,
    col_names: Sequence[str] | None = None,
) -> Path:
    """Save a confusion matrix (clusters x classes, as ``confusion`` returns) to ``path``, its
    rows reordered so that the diagonal holds the matched cluster-class pairs. Give the cluster
    and class ids as ``row_names`` and ``col_names``: ``confusion`` keeps only the values seen."""
    target = _target(path)
    return _save(confusion_figure(matrix, title, row_names=row_names, col_names=col_names), target)
