"""Heatmap and confusion plots are written as PNG files without touching pyplot."""

import numpy as np
import pytest

from disentangle.errors import DisentangleError
from disentangle.evaluation import save_confusion, save_heatmap


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
