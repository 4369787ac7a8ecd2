"""dSprites (.npz) and 3D Shapes (.h5): factor grids, the fixed split, render-by-lookup, errors.

The real files hold 737,280 and 480,000 images; these tests shrink each dataset's factor grid
(a monkeypatched class attribute) and write a file that enumerates the small grid the same way.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch

from disentangle.errors import DisentangleError

from .dataset_files import DSPRITES_SMALL, grid_rows, write_dsprites, write_shapes3d


def test_published_grids():
    from disentangle_datasets.dsprites import DSprites
    from disentangle_datasets.shapes3d import Shapes3D

    assert [(f.name, f.size) for f in DSprites.factors] == [
        ("color", 1), ("shape", 3), ("scale", 6), ("orientation", 40), ("posX", 32), ("posY", 32)]
    assert np.prod([f.size for f in DSprites.factors]) == 737_280
    assert DSprites.factors[3].values[-1] == pytest.approx(2 * np.pi)
    assert [(f.name, f.size) for f in Shapes3D.factors] == [
        ("floor_hue", 10), ("wall_hue", 10), ("object_hue", 10), ("scale", 8), ("shape", 4),
        ("orientation", 15)]
    assert np.prod([f.size for f in Shapes3D.factors]) == 480_000
    assert Shapes3D.factors[3].values[0] == 0.75 and Shapes3D.factors[5].values[-1] == 30.0


def check_split_and_render(dataset, data_dir, factors, expected_images):
    """Splits partition the grid ~90/10; every image is the grid image of its factors."""
    sizes = [f.size for f in factors]
    seen = []
    for split in ("train", "test"):
        data = dataset.load(split, data_dir)
        assert data.images.dtype == torch.uint8 and data.factors.dtype == torch.int64
        assert data.factors.shape == (len(data), len(factors))
        grid = np.ravel_multi_index(tuple(data.factors.numpy().T), sizes)
        assert np.array_equal(data.images.numpy(), expected_images[grid])
        assert torch.equal(dataset.render(data.factors.numpy(), data_dir), data.images)
        seen.append(grid)
    assert sorted(np.concatenate(seen).tolist()) == list(range(int(np.prod(sizes))))
    assert len(seen[1]) == round(0.1 * np.prod(sizes))


def test_dsprites_load_and_render(registry, data_dir, small_dsprites):
    arrays = write_dsprites(data_dir)
    dataset = registry.create("datasets", "dsprites")
    check_split_and_render(dataset, data_dir, small_dsprites, arrays["imgs"][:, None] * 255)
    assert set(np.unique(dataset.load("test", data_dir).images.numpy())) <= {0, 255}
    # render takes any rows, in any order, and a single combination
    rows = grid_rows(small_dsprites)[[5, 0, 71, 5]]
    assert np.array_equal(dataset.render(rows, data_dir).numpy(),
                          arrays["imgs"][[5, 0, 71, 5]][:, None] * 255)
    assert dataset.render(rows[0], data_dir).shape == (1, 1, 64, 64)


def test_split_is_fixed(registry, data_dir, small_dsprites, tmp_path):
    write_dsprites(data_dir)
    other = tmp_path / "other"
    write_dsprites(other)
    a = registry.create("datasets", "dsprites").load("test", data_dir)
    b = registry.create("datasets", "dsprites").load("test", other)
    assert torch.equal(a.factors, b.factors) and torch.equal(a.images, b.images)


def test_render_rejects_bad_indices(registry, data_dir, small_dsprites):
    write_dsprites(data_dir)
    dataset = registry.create("datasets", "dsprites")
    with pytest.raises(DisentangleError, match="'shape' index 3 is outside 0..2"):
        dataset.render(np.array([[0, 3, 0, 0, 0, 0]]), data_dir)
    with pytest.raises(DisentangleError, match=r"must be \(N, 6\)"):
        dataset.render(np.zeros((2, 5), np.int64), data_dir)


def test_dsprites_needs_the_full_grid(registry, data_dir):
    write_dsprites(data_dir)  # the small grid, but the dataset expects the published one
    with pytest.raises(DisentangleError, match="72 rows, expected 737,280"):
        registry.create("datasets", "dsprites").load("train", data_dir)


def dsprites_error(registry, data_dir):
    with pytest.raises(DisentangleError) as err:
        registry.create("datasets", "dsprites").load("train", data_dir)
    assert "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz" in str(err.value)
    return str(err.value)


@pytest.mark.parametrize(("override", "expected"), [
    ({"latents_classes": None}, "no array 'latents_classes'"),
    ({"imgs": np.zeros((72, 64, 64), np.float32)}, "imgs is float32, expected uint8"),
    ({"imgs": np.zeros((72, 32, 32), np.uint8)}, r"imgs has shape \(72, 32, 32\)"),
    ({"imgs": np.full((72, 64, 64), 255, np.uint8)}, "0 and 1 only"),
    ({"latents_classes": grid_rows(DSPRITES_SMALL)[::-1].copy()}, "row-major order"),
    ({"latents_values": np.zeros((72, 5))}, r"latents_values has shape \(72, 5\)"),
], ids=["no-classes", "float-imgs", "small-imgs", "not-binary", "shuffled", "values-shape"])
def test_dsprites_wrong_contents(registry, data_dir, small_dsprites, override, expected):
    write_dsprites(data_dir, **override)
    assert re.search(expected, dsprites_error(registry, data_dir))


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("corrupt", [
    lambda p: p.write_text("just some text"),
    lambda p: p.write_bytes(p.read_bytes()[:2000]),
    lambda p: p.write_bytes(npy_bytes(np.zeros(3))),
], ids=["text", "truncated", "npy"])
def test_dsprites_broken_file(registry, data_dir, small_dsprites, corrupt):
    write_dsprites(data_dir)
    from disentangle_datasets.dsprites import FILENAME

    corrupt(data_dir / "dsprites" / FILENAME)
    assert "npz" in dsprites_error(registry, data_dir)


# --- 3D Shapes ----------------------------------------------------------------------------------

def test_shapes3d_load_and_render(registry, data_dir, small_shapes3d):
    arrays = write_shapes3d(data_dir)
    dataset = registry.create("datasets", "shapes3d")
    check_split_and_render(dataset, data_dir, small_shapes3d,
                           arrays["images"].transpose(0, 3, 1, 2))


def test_shapes3d_float32_labels_near_grid(registry, data_dir, small_shapes3d):
    rows = grid_rows(small_shapes3d)
    labels = np.stack([np.asarray(f.values)[rows[:, k]] for k, f in enumerate(small_shapes3d)], 1)
    arrays = write_shapes3d(data_dir, labels=labels.astype(np.float32))  # 0.1 is not exact
    dataset = registry.create("datasets", "shapes3d")
    check_split_and_render(dataset, data_dir, small_shapes3d,
                           arrays["images"].transpose(0, 3, 1, 2))


@pytest.mark.parametrize(("override", "expected"), [
    ({"labels": None}, "no dataset 'labels'"),
    ({"images": np.zeros((72, 32, 32, 3), np.uint8)}, r"images has shape \(72, 32, 32, 3\)"),
    ({"images": np.zeros((72, 64, 64, 3), np.float32)}, "images is float32, expected uint8"),
    ({"images": np.zeros((71, 64, 64, 3), np.uint8)}, "71 images but 72 label rows"),
    ({"labels": np.full((72, 6), 0.05)}, "floor_hue = 0.05, which is not one of its 2 grid"),
], ids=["no-labels", "small-images", "float-images", "count", "off-grid"])
def test_shapes3d_wrong_contents(registry, data_dir, small_shapes3d, override, expected):
    write_shapes3d(data_dir, **override)
    with pytest.raises(DisentangleError, match=expected) as err:
        registry.create("datasets", "shapes3d").load("train", data_dir)
    assert "3dshapes.h5" in str(err.value)


def test_shapes3d_not_hdf5(registry, data_dir, small_shapes3d):
    write_shapes3d(data_dir)
    path = data_dir / "3dshapes" / "3dshapes.h5"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DisentangleError, match="3dshapes.h5"):
        registry.create("datasets", "shapes3d").load("train", data_dir)
    path.write_text("text")
    with pytest.raises(DisentangleError, match="not a readable HDF5 file"):
        registry.create("datasets", "shapes3d").load("train", data_dir)


def test_split_grid_tests_on_the_last_part_of_its_seeded_permutation():
    """The cache key holds the seed and the fraction, not how the split is drawn from them: a
    changed draw would mix a cached test split with a freshly drawn train split."""
    from disentangle.data.grid import split_grid

    perm = np.random.default_rng(7).permutation(20)
    split = split_grid(20, 0.25, seed=7)
    assert np.array_equal(split["train"], perm[:15]) and np.array_equal(split["test"], perm[15:])
