"""Heatmap and confusion plots are written as PNG files without touching pyplot."""

import numpy as np
import pytest

from disentangle.errors import DisentangleError
from disentangle.evaluation import save_confusion, save_heatmap
from disentangle.evaluation.plots import confusion_figure, heatmap_figure, matched_order


def test_heatmap_and_confusion_written(tmp_path):
    path = save_heatmap(np.random.default_rng(0).random((4, 3)), ["z0", "z1", "z2", "z3"],
                        ["shape", "scale", "x"], tmp_path / "mi.png", "MI")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    path = save_confusion(np.array([[5, 0], [1, 4]]), tmp_path / "conf.png")
    assert path.stat().st_size > 1000


def test_plot_errors(tmp_path):
    with pytest.raises(DisentangleError, match="names"):
        save_heatmap(np.zeros((2, 2)), ["a"], ["b", "c"], tmp_path / "x.png", "t")
    with pytest.raises(DisentangleError, match="does not exist"):
        save_confusion(np.zeros((2, 2)), tmp_path / "missing" / "x.png")
    with pytest.raises(DisentangleError, match="2-D"):
        save_confusion(np.zeros(3), tmp_path / "x.png")


def cell_texts(fig) -> dict[tuple[int, int], tuple[str, str]]:
    """{(row, column): (text, colour)} of the annotated cells."""
    ax = fig.axes[0]
    return {(round(t.get_position()[1]), round(t.get_position()[0])): (t.get_text(), t.get_color())
            for t in ax.texts}


@pytest.mark.parametrize("figure, dark_high", [
    (lambda m: confusion_figure(m), True),  # Blues: large counts are navy
    (lambda m: heatmap_figure(m.astype(float), ["a", "b", "c"], ["x", "y", "z"], "", "f", "c",
                              "viridis", ".0f"), False),  # viridis: large values are yellow
])
def test_cell_text_stays_readable_on_any_colour_map(figure, dark_high):
    m = np.diag([40, 40, 40])  # already matched: rows stay in place
    cells = cell_texts(figure(m))
    assert cells[(0, 0)][0] == "40" and cells[(0, 1)][0] == "0"
    on_high, on_zero = ("white", "black") if dark_high else ("black", "white")
    assert cells[(0, 0)][1] == on_high and cells[(0, 1)][1] == on_zero


def test_confusion_rows_follow_the_matching():
    m = np.array([[1, 9, 0], [0, 1, 8], [7, 0, 2], [3, 0, 0]])  # 4 clusters, 3 classes
    assert list(matched_order(m)) == [2, 0, 1, 3]  # the unmatched cluster last
    fig = confusion_figure(m, row_names=["10", "11", "12", "13"], col_names=["a", "b", "c"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["12", "10", "11", "13"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), m[[2, 0, 1, 3]])
    cells = cell_texts(fig)
    assert [cells[(i, i)][0] for i in range(3)] == ["7", "9", "8"]  # the diagonal is the match
    assert "matched" in ax.get_ylabel()


def test_slanted_factor_names_sit_under_their_columns():
    fig = heatmap_figure(np.ones((2, 2)), ["c1", "c2"], ["orientation", "scale"], "", "factor",
                         "code", "viridis", ".2f")
    labels = fig.axes[0].get_xticklabels()
    assert all(t.get_rotation() == 45 and t.get_rotation_mode() == "anchor" for t in labels)


def test_fewer_clusters_than_classes_keep_the_matched_class_order():
    m = np.array([[0, 0, 5], [6, 0, 0]])
    assert list(matched_order(m)) == [1, 0]
