"""The pictures of a run explain themselves: code, swept values, run and step on every traversal;
categorical columns in class order once `eval` knows the matching; info.png's dashed lines at the
bound each code can reach, its legend clear of the curves. Checked on the matplotlib objects."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from disentangle.training import artefacts
from disentangle.training.build import build_model

FOOT = "run r (infogan on toy), step 6"


def model_for(fast_config, codes):
    model, _ = build_model(fast_config(codes=codes), (1, 28, 28))
    return model


def grid_of(fig) -> np.ndarray:
    return np.asarray(fig.axes[0].images[0].get_array())


def texts(fig) -> str:
    return " | ".join(t.get_text() for t in fig.texts)


def ticks(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_xticklabels()]


def test_traversals_name_code_values_run_and_step(fast_config):
    model = model_for(fast_config, ["categorical:4", "uniform:2"])
    figures = dict(artefacts.traversal_figures(model, seed=1, foot=FOOT))
    assert list(figures) == ["traversal-c1.png", "traversal-c2-1.png", "traversal-c2-2.png"]
    cat, uni = figures["traversal-c1.png"], figures["traversal-c2-2.png"]
    assert "c1 categorical:4" in texts(cat) and FOOT in texts(cat)
    assert "c2 uniform:2, dimension 2 of 2" in texts(uni) and FOOT in texts(uni)
    assert ticks(cat) == ["0", "1", "2", "3"]
    assert ticks(uni) == ["-2.0", "-1.6", "-1.1", "-0.7", "-0.2", "+0.2", "+0.7", "+1.1", "+1.6",
                          "+2.0"]
    assert uni.axes[0].get_xlabel() == "value of c2[2]"
    assert grid_of(cat).shape == (8 * 30 + 2, 4 * 30 + 2)  # 8 rows x 4 categories, 28 px tiles
    # each tick sits over the centre of its column of tiles
    centres = cat.axes[0].get_xticks()
    np.testing.assert_allclose(centres, [2 + k * 30 + 13.5 for k in range(4)])


def test_categorical_columns_follow_the_matched_classes(fast_config):
    model = model_for(fast_config, ["categorical:4", "uniform:1"])
    plain = grid_of(dict(artefacts.traversal_figures(model, 1, FOOT))["traversal-c1.png"])
    order = [(2, "two"), (0, "zero"), (3, "three"), (1, None)]
    figures = dict(artefacts.traversal_figures(model, 1, FOOT, classes={"c1": order},
                                               only={"c1"}))
    assert list(figures) == ["traversal-c1.png"]
    fig = figures["traversal-c1.png"]
    assert ticks(fig) == ["two\n#2", "zero\n#0", "three\n#3", "-\n#1"]
    ordered = grid_of(fig)
    for column, (category, _) in enumerate(order):  # the same images, columns permuted
        np.testing.assert_array_equal(ordered[:, 2 + column * 30:column * 30 + 30],
                                      plain[:, 2 + category * 30:category * 30 + 30])


def test_class_order_puts_matched_categories_first():
    class Data:
        class_names = ("zero", "one", "two")

    assert artefacts.class_order(4, {3: 0, 0: 2, 1: 1}, Data()) == \
        [(3, "zero"), (1, "one"), (0, "two"), (2, None)]


def dashed(fig) -> list[float]:
    return [line.get_ydata()[0] for line in fig.axes[0].lines if line.get_linestyle() == "--"]


def test_info_plot_draws_the_reachable_bound_and_keeps_the_legend_off_the_curves(fast_config):
    model = model_for(fast_config, ["categorical:4", "uniform:1", "uniform:1@gaussian"])
    records = [{"step": s, "info/c1": 1.0, "info/c2": -0.5, "info/c3": 0.3} for s in (2, 4, 6)]
    fig = artefacts.info_figure(model, records, FOOT)
    fixed_sigma = math.log(2) - 0.5 * math.log(2 * math.pi)  # U(-1, 1) under N(mean, 1): -0.226
    assert dashed(fig) == pytest.approx([math.log(4), fixed_sigma])  # none for a learned σ
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "max -0.23" in labels[1] and "h = 0.69 out of reach" in labels[1]
    assert "no upper limit" in labels[2]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(renderer)
    axes = fig.axes[0].get_window_extent(renderer)
    assert legend.x0 >= axes.x1  # beside the axes, over no curve
    assert FOOT in fig._suptitle.get_text()


def test_reachable_bound_per_posterior(fast_config):
    model = model_for(fast_config, ["categorical:4", "uniform:2", "gaussian:1@gaussian-fixed",
                                    "uniform:1@gaussian"])
    bounds = [artefacts.reachable_bound(c) for c in model.latent.codes]
    assert bounds[0] == pytest.approx(math.log(4))
    assert bounds[1] == pytest.approx(2 * (math.log(2) - 0.5 * math.log(2 * math.pi)))
    assert bounds[2] == pytest.approx(0.5)  # N(0, 1) under N(mean, 1): ½ln2πe - ½ln2π
    assert bounds[3] is None


def test_samples_figure_is_labelled(fast_config):
    model = model_for(fast_config, ["categorical:4"])
    fig = artefacts.samples_figure(model, seed=1, foot=FOOT, n=20, ncol=10)
    assert FOOT in texts(fig) and "20 samples" in texts(fig)
    assert grid_of(fig).shape == (2 * 30 + 2, 10 * 30 + 2)
