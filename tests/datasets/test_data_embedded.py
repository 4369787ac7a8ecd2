"""The embedded datasets: `digits` (scikit-learn) and the procedural `shapes`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from disentangle.errors import DisentangleError

# --- digits -------------------------------------------------------------------------------------


def test_digits_layout_and_split(registry):
    from sklearn.datasets import load_digits

    dataset = registry.create("datasets", "digits")
    assert not dataset.needs_files and dataset.image_shape == (1, 28, 28)
    train, test = dataset.load("train"), dataset.load("test")
    assert train.images.shape == (1497, 1, 28, 28) and test.images.shape == (300, 1, 28, 28)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    # the fixed split: a permutation seeded with 0, the first 300 are test
    digits = load_digits()
    order = np.random.default_rng(0).permutation(1797)
    assert np.array_equal(test.labels.numpy(), digits.target[order[:300]])
    assert np.array_equal(train.labels.numpy(), digits.target[order[300:]])
    # MNIST layout: a 20x20 digit with a 4-pixel black border; shrunk back it is the 8x8 digit
    images = train.images.float()
    assert images[:, :, :4].max() == 0 and images[:, :, -4:].max() == 0
    assert images[:, :, :, :4].max() == 0 and images[:, :, :, -4:].max() == 0
    assert images.amax(dim=(1, 2, 3)).min() > 150  # every digit has bright strokes
    small = torch.nn.functional.interpolate(images[:, :, 4:24, 4:24], size=(8, 8), mode="area")
    original = torch.from_numpy(digits.images[order[300:]]).float()[:, None] * 255 / 16
    assert torch.corrcoef(torch.stack([small.flatten(), original.flatten()]))[0, 1] > 0.95


def test_digits_deterministic_with_and_without_cache(registry, tmp_path):
    cached = registry.create("datasets", "digits").load("test", tmp_path / "a")
    again = registry.create("datasets", "digits").load("test", tmp_path / "a")  # from the cache
    uncached = registry.create("datasets", "digits", cache=False).load("test", tmp_path / "b")
    assert (tmp_path / "a" / ".cache" / "digits.h5").is_file()
    assert not (tmp_path / "b").exists()
    for other in (again, uncached):
        assert torch.equal(cached.images, other.images)
        assert torch.equal(cached.labels, other.labels)


def test_digits_uses_default_data_dir_for_its_cache(registry, tmp_path):
    registry.create("datasets", "digits").load("train")
    assert (tmp_path / "default-data" / ".cache" / "digits.h5").is_file()


# --- shapes -------------------------------------------------------------------------------------

def small_shapes(registry, **options):
    return registry.create("datasets", "shapes", train_size=300, test_size=100, **options)


def test_shapes_grid_is_dsprites(registry):
    dataset = registry.create("datasets", "shapes")
    assert [(f.name, f.size) for f in dataset.factors] == [
        ("shape", 3), ("scale", 6), ("orientation", 40), ("posX", 32), ("posY", 32)]
    assert np.prod([f.size for f in dataset.factors]) == 737_280
    assert dataset.image_shape == (1, 64, 64) and not dataset.needs_files
    orientation = dataset.factors[2].values
    assert orientation[0] == 0 and orientation[-1] == pytest.approx(2 * np.pi * 39 / 40)
    assert dataset.factors[1].values == pytest.approx(np.linspace(0.5, 1, 6))


@pytest.mark.parametrize("size", [64, 32])
def test_shapes_load_render_agree(registry, size):
    dataset = small_shapes(registry, image_size=size)
    train, test = dataset.load("train"), dataset.load("test")
    assert train.images.shape == (300, 1, size, size) and test.images.shape == (100, 1, size, size)
    assert train.images.dtype == torch.uint8 and train.factors.dtype == torch.int64
    assert set(train.images.unique().tolist()) == {0, 255}  # binary, like dSprites
    assert train.labels is None
    sizes = torch.tensor([f.size for f in dataset.factors])
    assert ((train.factors >= 0) & (train.factors < sizes)).all()

    def grid(factors):
        return set(np.ravel_multi_index(tuple(factors.numpy().T), sizes.tolist()).tolist())

    assert len(grid(train.factors)) == 300 and not grid(train.factors) & grid(test.factors)
    assert torch.equal(dataset.render(train.factors.numpy()), train.images)
    assert torch.equal(dataset.render(test.factors[:7].numpy()[::-1].copy()),
                       test.images[:7].flip(0))


def test_shapes_deterministic(registry, tmp_path):
    a = small_shapes(registry).load("train", tmp_path / "a")
    b = small_shapes(registry, cache=False).load("train", tmp_path / "b")
    c = small_shapes(registry).load("train", tmp_path / "a")  # cached
    assert torch.equal(a.images, b.images) and torch.equal(a.factors, b.factors)
    assert torch.equal(a.images, c.images)
    other = small_shapes(registry, seed=1).load("train", tmp_path / "a")
    assert not torch.equal(a.factors, other.factors)


def test_shapes_factors_change_the_picture(registry):
    dataset = registry.create("datasets", "shapes")
    base = np.array([0, 5, 3, 16, 16])

    def vary(factor, values):
        rows = np.repeat(base[None], len(values), axis=0)
        rows[:, factor] = values
        return dataset.render(rows).float()[:, 0] / 255  # (N, 64, 64)

    shapes = vary(0, [0, 1, 2])
    assert all(not torch.equal(shapes[i], shapes[j]) for i, j in ((0, 1), (0, 2), (1, 2)))
    area = vary(1, range(6)).sum(dim=(1, 2))
    assert (area.diff() > 0).all()  # scale grows the sprite
    columns = torch.arange(64.0)
    xs = vary(3, [0, 8, 16, 31])
    centroid = (xs.sum(1) * columns).sum(1) / xs.sum(dim=(1, 2))
    assert (centroid.diff() > 0).all()  # posX moves it right...
    ys = vary(4, [0, 31])
    row_centroid = (ys.sum(2) * columns).sum(1) / ys.sum(dim=(1, 2))
    assert row_centroid[1] > row_centroid[0]  # ...and posY down
    turned = vary(2, [0, 5])  # 0 and 45 degrees: a square becomes a diamond, same area
    assert not torch.equal(turned[0], turned[1])
    assert abs(float(turned[0].sum() - turned[1].sum())) < 0.05 * float(turned[0].sum())
    square = dataset.render(np.array([[0, 5, 0, 16, 16]]))[0, 0] > 0
    assert square.any(dim=0).sum() == 20 == square.any(dim=1).sum()  # 20 px wide at scale 1


def reference_render(rows, size):
    """The whole image tested pixel by pixel in float64: what the windowed renderer must equal."""
    from disentangle_datasets import shapes as m

    out = np.zeros((len(rows), 1, size, size), np.uint8)
    c = (np.arange(size) + 0.5) / size
    for n, (shape, scale, angle, x, y) in enumerate(rows):
        half = m.FACTORS[1].values[scale] * m.SIDE / 2
        theta = m.FACTORS[2].values[angle]
        cx = m.FACTORS[3].values[x] * m.POS_SPAN + m.POS_LOW
        cy = m.FACTORS[4].values[y] * m.POS_SPAN + m.POS_LOW
        dx, dy = c[None, :] - cx, cy - c[:, None]
        u = (dx * np.cos(theta) + dy * np.sin(theta)) / half
        v = (dy * np.cos(theta) - dx * np.sin(theta)) / half
        if shape == 0:
            inside = np.maximum(abs(u), abs(v)) <= 1
        elif shape == 1:
            inside = u * u + 4 * v * v <= 1
        else:
            hx, hy = u * m.HEART_FIT, v * m.HEART_FIT + m.HEART_SHIFT
            inside = (hx * hx + hy * hy - 1) ** 3 <= hx * hx * hy ** 3
        out[n, 0] = inside * 255
    return out


@pytest.mark.parametrize("size", [64, 32])
def test_shapes_window_renderer_matches_whole_image(size):
    from disentangle_datasets.shapes import render_sprites

    rng = np.random.default_rng(size)
    corners = [[s, 5, a, x, y] for s in range(3) for a in range(0, 40, 3)
               for x in (0, 31) for y in (0, 31)]  # the largest sprites, nearest the edges
    rows = np.concatenate([np.array(corners), np.stack(
        [rng.integers(0, n, 300) for n in (3, 6, 40, 32, 32)], axis=1)])
    assert np.array_equal(render_sprites(rows, size), reference_render(rows, size))


@pytest.mark.parametrize(("options", "expected"), [
    ({"image_size": 48}, "64 or 32 pixels, not 48"),
    ({"train_size": 0}, "train_size must be a positive integer"),
    ({"test_size": 2.5}, "test_size must be a positive integer"),
    ({"seed": -1}, "seed must be a non-negative integer"),
    ({"train_size": 737_000, "test_size": 1_000}, "at most 737,280"),
])
def test_shapes_rejects_bad_options(registry, options, expected):
    with pytest.raises(DisentangleError, match=expected):
        registry.create("datasets", "shapes", **options)


def test_shapes_render_checks_indices(registry):
    dataset = registry.create("datasets", "shapes", image_size=32)
    with pytest.raises(DisentangleError, match="'posY' index 32 is outside 0..31"):
        dataset.render(np.array([[0, 0, 0, 0, 32]]))
    assert dataset.render(np.array([2, 5, 0, 16, 16])).shape == (1, 1, 32, 32)


def test_image_data_subset_keeps_rows_together_and_repeats_with_its_seed():
    from disentangle.datasets import ImageData

    n = 50
    data = ImageData(images=torch.arange(n, dtype=torch.uint8).reshape(n, 1, 1, 1).expand(n, 1, 2, 2),
                     labels=torch.arange(n), factors=torch.arange(n).reshape(n, 1) * 2)
    part = data.subset(10, seed=3)
    assert len(part) == 10 and part.attributes is None
    assert torch.equal(part.images[:, 0, 0, 0].long(), part.labels)  # rows stay aligned
    assert torch.equal(part.factors[:, 0], part.labels * 2)
    assert len(set(part.labels.tolist())) == 10  # without replacement
    assert torch.equal(data.subset(10, seed=3).labels, part.labels)
    assert not torch.equal(data.subset(10, seed=4).labels, part.labels)
    assert data.subset(None, seed=0) is data and data.subset(n, seed=0) is data


def test_shapes_train_and_test_are_the_two_parts_of_one_seeded_draw(registry):
    """`grid` is computed afresh from the test positions while `train` and `test` may come from
    the cache under the same key: the draw must stay this one, or test images leak into grid."""
    dataset = registry.create("datasets", "shapes", train_size=30, test_size=10, seed=3)
    chosen = np.random.default_rng(3).choice(737_280, 40, replace=False)
    assert np.array_equal(dataset.grid_positions("train"), chosen[:30])
    assert np.array_equal(dataset.grid_positions("test"), chosen[30:])
