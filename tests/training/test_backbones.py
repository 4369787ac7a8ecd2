"""The built-in backbones: shapes, ranges, options, initialisation, and default choice."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from disentangle import DisentangleError
from disentangle.registry import get_registry
from disentangle.training.build import choose_backbone

CASES = [("mnist", (1, 28, 28)), ("mnist", (3, 28, 28)), ("svhn32", (3, 32, 32)),
         ("svhn32", (1, 32, 32)), ("dcgan64", (1, 64, 64)), ("dcgan64", (3, 64, 64)),
         ("tiny", (1, 28, 28)), ("tiny", (3, 32, 32)), ("tiny", (1, 64, 64))]


@pytest.mark.parametrize("name, shape", CASES)
def test_backbone_shapes_and_range_in_train_mode(name, shape):
    backbone = get_registry().create("backbones", name)
    nets = backbone.build(shape, input_width=20, head_width=7)
    images = nets.generator(torch.randn(3, 20)).detach()
    assert images.shape == (3, *shape)
    low, high = backbone.output_range
    assert low <= float(images.min()) and float(images.max()) <= high
    features = nets.trunk(images)
    assert nets.d_head(features).shape == (3, 1)
    assert nets.q_head(features).shape == (3, 7)


def test_weights_are_initialised_from_n_0_002():
    nets = get_registry().create("backbones", "mnist").build((1, 28, 28), 74, 12)
    big = next(m for m in nets.trunk.modules() if isinstance(m, nn.Linear))  # 6272 -> 1024
    weight = big.weight.detach()
    assert abs(float(weight.std()) - 0.02) < 0.001
    assert abs(float(weight.mean())) < 0.001


def test_leak_is_an_option():
    registry = get_registry()
    nets = registry.create("backbones", "mnist", leak=0.01).build((1, 28, 28), 74, 12)
    slopes = {m.negative_slope for m in nets.trunk.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.01}
    default = registry.create("backbones", "mnist").build((1, 28, 28), 74, 12)
    slopes = {m.negative_slope for m in default.trunk.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.1}
    with pytest.raises(DisentangleError, match="leak"):
        registry.create("backbones", "mnist", leak=2)


def test_unsupported_shape_is_a_clear_error():
    with pytest.raises(DisentangleError, match="does not support 1x32x32"):
        get_registry().create("backbones", "mnist").build((1, 32, 32), 74, 12)


@pytest.mark.parametrize("shape, name", [((1, 28, 28), "mnist"), ((3, 32, 32), "svhn32"),
                                         ((1, 32, 32), "svhn32"), ((3, 64, 64), "dcgan64")])
def test_default_backbone_follows_image_size(shape, name):
    assert choose_backbone(None, shape)[0] == name


def test_no_default_for_odd_sizes():
    with pytest.raises(DisentangleError, match="no backbone is the default for 48x48"):
        choose_backbone(None, (1, 48, 48))
    assert choose_backbone("tiny", (1, 48, 48))[0] == "tiny"


@pytest.mark.parametrize("q_too", [False, True])
def test_spectral_norm_bounds_every_d_layer_and_q_only_when_asked(q_too):
    from disentangle.training import RunConfig
    from disentangle.training.build import build_model

    config = RunConfig(codes=["uniform:2"], noise_dim=4, backbone="svhn32", spectral_norm=True,
                       q_spectral_norm=q_too)
    model, _ = build_model(config, (3, 32, 32))
    layers = (torch.nn.Conv2d, torch.nn.Linear)
    parts = (model.trunk, model.d_head) + ((model.q_head,) if q_too else ())
    bounded = [m for part in parts for m in part.modules() if isinstance(m, layers)]
    assert bounded and all(parametrize.is_parametrized(m, "weight") for m in bounded)
    free = (model.generator,) + (() if q_too else (model.q_head,))
    assert not any(parametrize.is_parametrized(m) for part in free for m in part.modules())
    model.train()
    with torch.no_grad():
        for _ in range(30):  # power iterations run on training forwards
            model.q_head(model.discriminate(torch.rand(4, 3, 32, 32) * 2 - 1)[1])
    for layer in bounded:
        weight = layer.weight.detach().reshape(layer.weight.shape[0], -1)  # normalised weight
        assert float(torch.linalg.matrix_norm(weight, ord=2)) == pytest.approx(1.0, abs=0.02)
