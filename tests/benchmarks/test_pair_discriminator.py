"""The pair-discriminator probe trains H and fresh Hs of both designs on a run's generator without touching the run."""

import hashlib

import pytest

from benchmarks import pair_discriminator
from tests.conftest import run_cli

CODES = ("--code", "categorical:10", "--code", "uniform:1", "--code", "uniform:1")


def _run(tmp_path, method):
    done = run_cli("run", method, "--dataset", "digits", "--backbone", "tiny", *CODES,
                   "--steps", "2", "--batch-size", "8", "--quiet", "--out", tmp_path / method,
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path / method


def test_trains_both_copies_and_leaves_the_run_alone(tmp_path, capsys):
    run = _run(tmp_path, "infogan-cr")
    checkpoint = run / "checkpoints" / "latest.pt"
    before = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    rows = pair_discriminator.main([str(run), "--steps", "3", "--every", "2", "--batch", "8",
                                    "--held-out", "40", "--gap", "1.5"])
    assert [row["step"] for row in rows] == [0, 2, 3]
    for row in rows:
        for name in ("run's H", "fresh stacked", "fresh siamese"):
            assert 0 <= row[name] <= 1  # a share of the 40 held-out pairs:
            assert abs(row[name] * 40 - round(row[name] * 40)) < 1e-4
    assert "fresh siamese" in capsys.readouterr().out
    assert hashlib.sha256(checkpoint.read_bytes()).hexdigest() == before
    # one --seed, one result: the fresh Hs' spectral-norm vectors were drawn unseeded
    assert pair_discriminator.main([str(run), "--steps", "3", "--every", "2", "--batch", "8",
                                    "--held-out", "40", "--gap", "1.5"]) == rows


def test_every_h_trains_with_its_power_iteration(tmp_path, monkeypatch):
    """The run's own H came from load_run in eval mode and trained with spectral norm's vectors
    frozen, unlike the fresh Hs beside it."""
    from disentangle_infogan.cr import PairDiscriminator

    run = _run(tmp_path, "infogan-cr")
    modes = []
    forward = PairDiscriminator.forward

    def recording(self, first, second):
        modes.append(self.training)
        return forward(self, first, second)

    monkeypatch.setattr(PairDiscriminator, "forward", recording)
    pair_discriminator.main([str(run), "--steps", "1", "--batch", "8", "--held-out", "8"])
    trained = modes[3:6]  # after the three step-0 scorings: one training call per H
    assert trained == [True, True, True] and modes[:3] == [False] * 3


def test_a_run_without_h_is_one_clear_error(tmp_path):
    run = _run(tmp_path, "infogan")
    with pytest.raises(SystemExit) as exc:
        pair_discriminator.main([str(run), "--steps", "1"])
    assert "no pair discriminator" in str(exc.value) and "infogan-cr" in str(exc.value)


def test_scoring_leaves_h_as_it_was():
    """Scored in eval mode: spectral norm's power iteration would otherwise move H's `u` vectors
    on every scoring, so the score itself would change H."""
    import torch

    from disentangle_infogan.cr import PairDiscriminator

    torch.manual_seed(0)
    h = PairDiscriminator((1, 16, 16), num_codes=3, design="siamese").train()
    pairs = (torch.rand(6, 1, 16, 16), torch.rand(6, 1, 16, 16), torch.tensor([0, 1, 2, 0, 1, 2]))
    before = {k: v.clone() for k, v in h.state_dict().items()}
    first = pair_discriminator.accuracy(h, pairs)
    assert h.training
    assert all(torch.equal(v, before[k]) for k, v in h.state_dict().items())
    assert pair_discriminator.accuracy(h, pairs) == first
