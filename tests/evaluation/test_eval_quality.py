"""FID and KID: torchmetrics' computation checked against closed-form answers on hand-made
features; the weights' loading path on a small stand-in network (and on torch-fidelity's real
Inception architecture with random weights); `eval --fid` and `compare` end to end. No network."""

from __future__ import annotations

import json
import math
import re
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from disentangle.errors import DisentangleError
from tests.conftest import run_cli, short_digits_run
from tests.training.test_cli_run import cli

pytest.importorskip("torchmetrics")
pytest.importorskip("torch_fidelity")

from disentangle.evaluation import quality  # noqa: E402


class StandIn(nn.Module):
    """uint8 (N, 3, H, W) -> (N, 4) features, like Inception but tiny."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2)

    def forward(self, x):
        return self.conv(x.float() / 255).relu().mean((2, 3))


def stand_in(path, state):
    net = StandIn()
    net.load_state_dict(state)
    return net


@pytest.fixture
def stand_in_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(quality, "network", stand_in)
    torch.manual_seed(0)
    path = tmp_path / "stand-in.pth"
    torch.save(StandIn().state_dict(), path)
    return path


# --- the computation ---------------------------------------------------------------------------

def test_fid_of_a_shift_is_its_squared_length():
    x = torch.randn(300, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    shift = torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0, 1.5], dtype=torch.float64)
    assert quality.distances(x, x + shift)["fid"] == pytest.approx(float(shift @ shift), rel=1e-6)
    assert quality.distances(x, x)["fid"] == pytest.approx(0, abs=1e-6)


def test_fid_of_a_doubled_set_is_the_trace_of_its_covariance():
    x = torch.randn(300, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = x - x.mean(0)
    # means equal; Tr(S + 4S - 2 (4 S^2)^(1/2)) = Tr(S)
    trace = float(np.trace(np.cov(x.numpy(), rowvar=False)))
    assert quality.distances(x, 2 * x)["fid"] == pytest.approx(trace, rel=1e-6)


def test_fid_of_two_small_sets_by_hand():
    real = torch.tensor([[1.0, 0], [-1, 0], [0, 1], [0, -1]])  # mean 0, covariance 2/3 I
    fake = 2 * real + torch.tensor([3.0, 4.0])  # mean (3, 4), covariance 8/3 I
    # |(3, 4)|^2 + 2 (sqrt(2/3) - sqrt(8/3))^2 = 25 + 4/3
    assert quality.distances(real, fake)["fid"] == pytest.approx(25 + 4 / 3, rel=1e-6)


@pytest.mark.parametrize("real, fake, expected", [
    # k(x, y) = (x.y / d + 1)^3; with every point the same, MMD^2 = k(u,u) + k(v,v) - 2 k(u,v)
    ([[1.0]] * 5, [[0.0]] * 5, 8 + 1 - 2),
    ([[1.0, 0.0]] * 4, [[0.0, 1.0]] * 4, 1.5 ** 3 + 1.5 ** 3 - 2),
])
def test_kid_by_hand(real, fake, expected):
    out = quality.distances(torch.tensor(real), torch.tensor(fake), kid_subsets=3)
    assert out["kid"] == pytest.approx(expected, rel=1e-9) and out["kid_std"] == pytest.approx(0)
    assert out["kid_subset_size"] == len(real)


def test_kid_is_seeded():
    g = torch.Generator().manual_seed(2)
    real, fake = torch.randn(60, 3, generator=g), torch.randn(60, 3, generator=g) + 0.3
    first = quality.distances(real, fake, kid_subsets=20, kid_subset_size=30, seed=4)
    assert quality.distances(real, fake, kid_subsets=20, kid_subset_size=30, seed=4) == first
    assert first["kid_std"] > 0


def test_too_few_images_is_one_error():
    with pytest.raises(DisentangleError, match="at least 2 real and 2 generated"):
        quality.distances(torch.zeros(1, 3), torch.zeros(5, 3))


# --- loading the weights ------------------------------------------------------------------------

def test_missing_weights_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("DISENTANGLE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DisentangleError) as info:
        quality.load_extractor()
    message = str(info.value)
    assert str(tmp_path / "cache" / quality.WEIGHTS_NAME) in message
    assert "add --download to fetch them" in message and quality.WEIGHTS_URL in message


def test_stand_in_loads_and_extracts(stand_in_weights):
    extractor = quality.load_extractor(stand_in_weights)
    assert extractor.official is False and extractor.weights == str(stand_in_weights)
    images = torch.randint(0, 256, (5, 1, 12, 12), dtype=torch.uint8)
    feats = quality.features(extractor, lambda a, b: images[a:b], 5, 2, torch.device("cpu"))
    assert feats.shape == (5, 4) and feats.dtype == torch.float64
    assert torch.allclose(feats, extractor(images.expand(-1, 3, -1, -1)).double())


def test_download_goes_to_the_cache_with_the_published_hash(stand_in_weights, tmp_path,
                                                            monkeypatch):
    calls = []

    def fake_download(url, dst, hash_prefix=None, **kwargs):
        calls.append((url, hash_prefix))
        torch.save(StandIn().state_dict(), dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    monkeypatch.setenv("DISENTANGLE_CACHE_DIR", str(tmp_path / "cache"))
    quality.load_extractor(download=True)
    assert calls == [(quality.WEIGHTS_URL, quality.WEIGHTS_SHA256)]
    assert (tmp_path / "cache" / quality.WEIGHTS_NAME).is_file()
    quality.load_extractor(download=True)  # present now: not fetched again
    assert len(calls) == 1


@pytest.mark.parametrize("content, message", [
    (b"not a torch file", "not a readable weights file"),
    ({"conv.weight": torch.zeros(2, 2)}, "these are not the Inception weights"),
    ({"conv.weight": "text"}, "not a state dict of tensors"),
])
def test_wrong_weights_are_one_error(stand_in_weights, tmp_path, content, message):
    path = tmp_path / "bad.pth"
    path.write_bytes(content) if isinstance(content, bytes) else torch.save(content, path)
    with pytest.raises(DisentangleError, match=message):
        quality.load_extractor(path)


def test_the_real_inception_loads_from_a_local_file(tmp_path, monkeypatch):
    """torch-fidelity's own network and loader, given a file of the right shapes (random values:
    the real weights are not here, and no test touches the network)."""
    import torch_fidelity.feature_extractor_inceptionv3 as fidelity

    monkeypatch.setattr(fidelity, "load_state_dict_from_url", lambda *a, **k: {})
    monkeypatch.setattr(fidelity.FeatureExtractorInceptionV3, "load_state_dict",
                        lambda self, state: None)
    torch.manual_seed(0)
    shapes = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"]).state_dict()
    monkeypatch.undo()
    path = tmp_path / quality.WEIGHTS_NAME
    torch.save(shapes, path)
    extractor = quality.load_extractor(path)
    assert extractor.official is False  # random values: not the published file
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    assert extractor(images).shape == (2, 2048)


# --- through the command line -------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    return short_digits_run(tmp_path_factory.mktemp("fid"))


def test_eval_fid_and_compare(digits_run, stand_in_weights, capsys):
    code, out, err = cli(capsys, "eval", digits_run, "--fid", "--fid-samples", "40",
                         "--fid-weights", stand_in_weights, "--n", "100", "--bound-samples",
                         "100", "--json")
    assert code == 0, err
    sq = json.loads(out)["sample_quality"]
    assert (sq["real"], sq["generated"], sq["kid_subset_size"]) == (40, 40, 40)
    assert sq["fid"] > 0 and math.isfinite(sq["kid"]) and sq["official_weights"] is False
    assert sq["weights"] == str(stand_in_weights)
    assert json.loads((digits_run / "eval.json").read_text())["sample_quality"] == sq
    twin = shutil.copytree(digits_run, digits_run.parent / "twin")  # a run named twice: an error
    code, out, _ = cli(capsys, "compare", digits_run, twin)
    assert code == 0
    fid_row = next(line for line in out.splitlines() if "FID" in line)
    assert fid_row.count(f"{sq['fid']:.2f}") == 2 and "KID" in out


def test_eval_fid_without_weights_fails_in_one_line(digits_run, tmp_path):
    done = run_cli("eval", digits_run, "--fid", env={"DISENTANGLE_CACHE_DIR": str(tmp_path)})
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --fid needs the Inception weights")
    assert "--download" in lines[0]


def test_progress_follows_every_image(digits_run, stand_in_weights):
    from disentangle.training import load_run

    _, model, dataset = load_run(digits_run)
    seen = []
    out = quality.sample_quality(model, dataset.load("test").images,
                                 quality.load_extractor(stand_in_weights), 30, batch_size=8,
                                 advance=seen.append)
    assert (out["real"], out["generated"]) == (30, 30)
    assert seen == [8, 8, 8, 6] * 2  # 4 batches each


def test_eval_shows_the_fid_stage_as_a_count_of_images(digits_run, stand_in_weights, capsys):
    code, _, err = cli(capsys, "eval", digits_run, "--fid", "--fid-samples", "40",
                       "--fid-weights", stand_in_weights, "--n", "100", "--bound-samples", "100")
    assert code == 0, err
    assert re.search(r"fid_kid.*80/80", err), err  # 40 generated + 40 real images


class _Flat(nn.Module):
    """A generator that draws every pixel at `level` in [0, 1]."""

    def __init__(self, level: float):
        super().__init__()
        from disentangle.latent import Latent

        self.latent = Latent.from_specs(["uniform:1"], 2)
        self.level, self.weight = level, nn.Parameter(torch.ones(()))

    def generate(self, z, values):
        return torch.full((len(z), 1, 4, 4), self.level) * self.weight

    def from_range(self, x):
        return x


class _Recorder(nn.Module):
    """A stand-in feature network that keeps what it was fed."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        return x.float().flatten(1)[:, :4] + torch.randn(len(x), 4)


def test_generated_images_are_rounded_to_uint8_as_saved_images_are():
    recorder = _Recorder()
    real = torch.full((20, 1, 4, 4), 7, dtype=torch.uint8)
    quality.sample_quality(_Flat(0.999), real, recorder, 10, batch_size=10)
    assert (recorder.seen[0] == 255).all()  # 254.745 rounds to 255; truncating gives 254


def test_the_real_images_are_a_seeded_random_subset_not_the_first_ones():
    recorder = _Recorder()
    real = torch.cat([torch.zeros(50, 1, 4, 4), torch.full((50, 1, 4, 4), 255.0)]).to(torch.uint8)
    quality.sample_quality(_Flat(0.5), real, recorder, 50, batch_size=50)
    white = int((recorder.seen[1][:, 0, 0, 0] == 255).sum())
    assert 10 < white < 40  # the first 50 are all black
