"""`in_mode`: a module in the asked-for mode for a block, then back as it was."""

import pytest
from torch import nn

from disentangle.model import in_mode


def _net() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Dropout())


@pytest.mark.parametrize("start, asked", [(True, False), (False, True), (True, True),
                                          (False, False)])
def test_the_block_runs_in_the_asked_mode_and_the_old_one_comes_back(start, asked):
    net = _net().train(start)
    with in_mode(net, asked) as inside:
        assert inside is net
        assert all(m.training == asked for m in net.modules())
    assert all(m.training == start for m in net.modules())


def test_the_old_mode_comes_back_when_the_block_raises():
    net = _net().train()
    with pytest.raises(RuntimeError), in_mode(net, False):
        raise RuntimeError("inside")
    assert net.training and net[1].training


def test_nothing_is_switched_when_the_mode_is_already_right(monkeypatch):
    net = _net().eval()
    calls = []
    monkeypatch.setattr(net, "train", lambda mode=True: calls.append(mode))
    with in_mode(net, False):
        pass
    assert calls == []
