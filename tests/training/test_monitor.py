"""The held-out score logged during training (disentangle/training/monitor.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from disentangle.evaluation import cluster_accuracy, mig
from disentangle.registry import get_registry
from disentangle.training import start, train
from disentangle.training.monitor import HeldOutMonitor

from .test_trainer import read_jsonl


def test_score_lands_on_the_scoring_steps_and_is_drawn(fast_config):
    summary = train(fast_config(steps=6, log_every=2, score_every=4, sample_every=6))
    lines = read_jsonl(summary["run_dir"], "metrics.jsonl")
    scored = [r["step"] for r in lines if "heldout/cluster_accuracy" in r]
    assert scored == [4, 6]  # every 4th step on a logging step, and the last one
    assert all(0 <= r["heldout/cluster_accuracy"] <= 1 for r in lines if r["step"] in scored)
    assert summary["heldout"]["cluster_accuracy"] == lines[-1]["heldout/cluster_accuracy"]
    assert Path(summary["run_dir"], "heldout.png").is_file()


def test_no_score_when_off(fast_config):
    summary = train(fast_config(steps=4, score_every=0))
    lines = read_jsonl(summary["run_dir"], "metrics.jsonl")
    assert not any(k.startswith("heldout/") for r in lines for k in r)
    assert summary["heldout"] == {}


def test_score_is_evals_cluster_accuracy_on_the_test_split(fast_config):
    session = start(fast_config(steps=2))
    dataset = get_registry().create("datasets", "toy")
    monitor = HeldOutMonitor.build(dataset, None, torch.device("cpu"), session.model)
    test = dataset.load("test")
    assert len(monitor.images) == len(test)  # the toy test split is smaller than the sample
    session.model.eval()
    with torch.no_grad():
        _, head, _ = session.model.encode(session.model.to_range(monitor.images))
    pred = session.model.latent.split_head(head)[0].argmax(1).numpy()
    expected = cluster_accuracy(pred, monitor.labels)
    session.model.train()
    assert monitor.score(session.model)["heldout/cluster_accuracy"] == expected
    assert session.model.training  # scoring leaves the model in train mode


def test_factor_datasets_get_mig_of_the_code_estimates():
    from disentangle.latent import Latent
    from disentangle.model import LatentModel

    registry = get_registry()
    shapes = registry.create("datasets", "shapes", image_size=32)
    latent = Latent.from_specs(["uniform:1"] * 2, noise_dim=2, registry=registry)
    nets = registry.create("backbones", "tiny").build((1, 32, 32), latent.input_width,
                                                      latent.head_width)
    model = LatentModel(latent, nets)
    monitor = HeldOutMonitor.build(shapes, None, torch.device("cpu"), model)
    assert monitor.labels is None and monitor.factors.shape == (1000, 5)
    score = monitor.score(model)["heldout/mig"]
    model.eval()
    with torch.no_grad():
        codes = torch.cat(model.encode(model.to_range(monitor.images))[0], 1).numpy()
    assert np.isclose(score, mig(codes, monitor.factors)["score"])


def test_a_missing_test_split_means_no_score_not_a_failed_run(fast_config, monkeypatch):
    from disentangle.errors import DisentangleError
    from tests.training.conftest import Toy

    real_load = Toy.load

    def load(self, split="train", data_dir=None, download=False):
        if split == "test":
            raise DisentangleError("test file missing")
        return real_load(self, split, data_dir, download)

    monkeypatch.setattr(Toy, "load", load)
    summary = train(fast_config(steps=4, score_every=2))
    assert summary["heldout"] == {} and summary["steps"] == 4


def test_the_plot_leaves_a_callers_matplotlib_alone(tmp_path):
    """heldout.png was drawn through pyplot after `matplotlib.use("Agg")`: a notebook's backend
    changed the first time a run drew its pictures."""
    import subprocess
    import sys

    script = (
        "import sys, matplotlib\n"
        "matplotlib.use('svg')\n"
        "from pathlib import Path\n"
        "from disentangle.training.monitor import write_plot\n"
        "records = [{'step': 10, 'heldout/mig': 0.1}, {'step': 20, 'heldout/mig': 0.3}]\n"
        f"write_plot(records, Path({str(tmp_path / 'h.png')!r}))\n"
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["svg", "False"]
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def numbered_test_split(n: int = 1500):
    """A dataset whose n test images each hold their own row number (two uint8 pixels), with the
    label and the factors of that row derived from the number."""
    from types import SimpleNamespace

    from disentangle.datasets import Factor, ImageData

    row = torch.arange(n)
    images = torch.stack([row // 256, row % 256], 1).to(torch.uint8).reshape(n, 1, 1, 2)
    data = ImageData(images=images, labels=row % 2, factors=torch.stack([row % 2, row // 10], 1))
    factors = (Factor("parity", (0.0, 1.0)), Factor("tens", tuple(range(n // 10))))
    return SimpleNamespace(class_names=("even", "odd"), splits=("train", "test"),
                           factors=factors, load=lambda split, data_dir=None: data)


def test_the_held_out_sample_is_a_seeded_draw_with_its_labels_and_factors_aligned():
    """SAMPLE images drawn by a permutation seeded with SEED (not the first ones of the split),
    each kept with its own label and factors."""
    from types import SimpleNamespace

    from disentangle.latent import Latent
    from disentangle.training.monitor import SAMPLE, SEED

    # two code dimensions: MIG, a gap between the best two, has none to score with one
    model = SimpleNamespace(latent=Latent.from_specs(["categorical:2", "uniform:1"], 0))
    monitor = HeldOutMonitor.build(numbered_test_split(), None, torch.device("cpu"), model)
    expected = torch.randperm(1500, generator=torch.Generator().manual_seed(SEED))[:SAMPLE]
    pixels = monitor.images.reshape(-1, 2).long()
    row = pixels[:, 0] * 256 + pixels[:, 1]
    assert torch.equal(row, expected)
    assert np.array_equal(monitor.labels, (row % 2).numpy())
    assert np.array_equal(monitor.factors, torch.stack([row % 2, row // 10], 1).numpy())


def test_cluster_accuracy_is_that_of_the_best_categorical_code():
    """Of several categorical codes, the score is the one whose argmax matches the labels best."""
    from types import SimpleNamespace

    from disentangle.latent import Latent

    labels = np.array([0, 1, 2, 3] * 2)
    matching = torch.nn.functional.one_hot(torch.from_numpy(labels), 4).float()
    constant = torch.zeros(8, 4)
    constant[:, 0] = 1
    head = torch.cat([constant, matching], 1)  # c1 says 0 for all, c2 says the label
    model = SimpleNamespace(training=False, to_range=lambda x: x.float(),
                            latent=Latent.from_specs(["categorical:4"] * 2, 0),
                            encode=lambda x: ([], head, None))
    monitor = HeldOutMonitor(torch.zeros(8, 1, 2, 2, dtype=torch.uint8), labels, None)
    assert monitor.score(model) == {"heldout/cluster_accuracy": 1.0}


def test_mig_leaves_out_a_factor_that_never_varies_in_the_sample():
    """dSprites' colour takes one value: MIG is undefined for it, so the score must leave it out
    instead of failing the run at its first held-out score."""
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    factors = np.stack([np.zeros(200, np.int64), rng.integers(0, 4, 200),
                        rng.integers(0, 5, 200)], 1)
    codes = torch.from_numpy(factors[:, 1:] + rng.normal(0, 0.1, (200, 2))).float()
    model = SimpleNamespace(training=False, to_range=lambda x: x.float(),
                            encode=lambda x: ([codes[:, :1], codes[:, 1:]], None, None))
    monitor = HeldOutMonitor(torch.zeros(200, 1, 2, 2, dtype=torch.uint8), None, factors)
    assert monitor.score(model)["heldout/mig"] == mig(codes.numpy(), factors[:, 1:])["score"]
