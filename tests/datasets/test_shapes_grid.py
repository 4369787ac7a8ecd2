"""`shapes` trains on its whole factor grid (less the test images), like dSprites' train split."""

import numpy as np
import torch

from disentangle.data import grid_index
from disentangle.registry import get_registry
from disentangle.training import resolve
from disentangle_datasets.shapes import GRID_SIZE, render_sprites


def test_grid_split_is_the_whole_grid_but_the_test_images():
    shapes = get_registry().create("datasets", "shapes", image_size=32)
    assert shapes.training_split == "grid"
    grid = shapes.load("grid")
    test = shapes.grid_positions("test")
    positions = grid_index(grid.factors.numpy(), shapes.factors)
    assert len(grid) == GRID_SIZE - len(test) == 732_280
    assert np.array_equal(np.sort(np.concatenate([positions, test])), np.arange(GRID_SIZE))
    rows = np.random.default_rng(0).choice(len(grid), 50, replace=False)
    assert torch.equal(grid.images[rows],
                       torch.from_numpy(render_sprites(grid.factors[rows].numpy(), 32)))


def test_sprite_presets_use_the_authors_networks_and_two_g_steps():
    for dataset in ("shapes", "dsprites"):
        config = resolve("infogan-cr", {"dataset": dataset})
        assert (config.backbone, config.g_steps, config.spectral_norm) == ("sprites64", 2, True)
        assert (config.q_optimizer, config.q_spectral_norm) == ("d", False)
        assert config.codes == ["uniform:1"] * 5 and config.noise_dim == 5
