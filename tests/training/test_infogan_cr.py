"""InfoGAN-CR (Lin et al. 2020): pair sampling, the authors' schedule, where the contrastive
gradient goes, resume across the schedule's switch, and a step on every backbone and code type."""

from __future__ import annotations

import json

import pytest
import torch

from disentangle.errors import DisentangleError
from disentangle.latent import Latent
from disentangle.model import LatentModel
from disentangle.registry import get_registry
from disentangle.training import fit, resume
from disentangle.training.checkpoint import load_checkpoint
from disentangle_infogan.cr import PAIR, InfoGANCR, PairDiscriminator

from .test_cli_run import FAST, cli
from .test_trainer import full_and_interrupted, read_jsonl

SPECS = ["categorical:5", "uniform:1", "uniform:1"]


def build(specs=SPECS, shape=(1, 28, 28), backbone="tiny", **options):
    registry = get_registry()
    latent = Latent.from_specs(specs, noise_dim=6, registry=registry)
    torch.manual_seed(0)
    nets = registry.create("backbones", backbone).build(shape, latent.input_width,
                                                        latent.head_width)
    model = LatentModel(latent, nets)
    method = InfoGANCR(**options)
    model.auxiliary.update(method.auxiliary_networks(latent, shape))
    return model, method, method.optimizers(model, None)


def one_step(**options):
    model, method, opts = build(**options)
    real = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    logs = method.step(model, opts, real, torch.Generator().manual_seed(2))
    return model, logs


def test_pairs_share_noise_and_exactly_the_chosen_code():
    latent = Latent.from_specs(SPECS, noise_dim=6, registry=get_registry())
    z, a, b, shared = InfoGANCR().sample_pairs(latent, 600, 0.0, torch.Generator().manual_seed(0),
                                               "cpu")
    assert z.shape == (600, 6)
    assert torch.bincount(shared, minlength=3).min() > 150  # every code gets chosen
    for i in range(3):
        equal = (a[i] == b[i]).all(1)
        assert equal[shared == i].all()
    # unshared continuous codes are drawn independently, so they (almost surely) differ
    for i in (1, 2):
        assert not (a[i] == b[i]).all(1)[shared != i].any()
    # an unshared categorical code agrees by chance only (1 in 5)
    agree = (a[0] == b[0]).all(1)[shared != 0].float().mean()
    assert 0.1 < agree < 0.3


def test_gap_keeps_unshared_uniform_codes_apart_and_in_range():
    latent = Latent.from_specs(SPECS, noise_dim=0, registry=get_registry())
    _, a, b, shared = InfoGANCR().sample_pairs(latent, 2000, 1.2, torch.Generator().manual_seed(0),
                                               "cpu")
    for i in (1, 2):
        rows = shared != i
        assert ((a[i] - b[i]).abs()[rows] >= 1.2 - 1e-6).all()
        assert a[i].abs().max() <= 1 and b[i].abs().max() <= 1
        assert (a[i] == b[i])[~rows].all()


def test_schedule_matches_the_authors_staging():
    method = InfoGANCR(cr_weight=3.0, cr_start=50, cr_gap=1.5, cr_gap_until=90, cr_gap_stages=3)
    assert [method.weight_at(s) for s in (0, 49, 50, 1000)] == [0.0, 0.0, 3.0, 3.0]
    assert [method.gap_at(s) for s in (0, 29, 30, 59, 60, 89, 90)] == \
        [1.5, 1.5, 1.0, 1.0, 0.5, 0.5, 0.0]
    assert [s for s in range(200) if method.resets_at(s)] == [30, 50, 60, 90]
    plain = InfoGANCR()
    assert plain.weight_at(0) == 2.0 and plain.gap_at(0) == 0.0
    assert not any(plain.resets_at(s) for s in range(10))


def test_contrastive_gradient_reaches_g_only_when_switched_on():
    # Same seeds: the D step is identical (it never sees pairs); G's gradient differs only by the
    # contrastive term, which is there exactly when α > 0.
    off, _ = one_step(cr_weight=0.0, g_steps=1, q_trains_trunk=False)
    on, logs = one_step(cr_weight=2.0, g_steps=1, q_trains_trunk=False)
    assert all(torch.equal(x, y) for x, y in zip(off.trunk.parameters(), on.trunk.parameters()))
    g_off = [p.grad for p in off.generator.parameters()]
    g_on = [p.grad for p in on.generator.parameters()]
    assert any(not torch.equal(x, y) for x, y in zip(g_off, g_on))
    assert {"cr/loss", "cr/accuracy"} <= set(logs)


def test_h_learns_from_its_own_step_and_never_from_g():
    model, method, opts = build(g_steps=1)
    pair: PairDiscriminator = model.auxiliary[PAIR]
    before = [p.detach().clone() for p in pair.parameters()]
    seen = {}
    real_g_step = method.g_step

    def g_step(*args, **kwargs):  # H's weights at the G step are those its own step left
        seen["h"] = [p.detach().clone() for p in pair.parameters()]
        out = real_g_step(*args, **kwargs)
        seen["h_after"] = [p.detach().clone() for p in pair.parameters()]
        return out

    method.g_step = g_step
    method.step(model, opts, torch.rand(8, 1, 28, 28) * 2 - 1, torch.Generator().manual_seed(0))
    assert any(not torch.equal(b, a) for b, a in zip(before, seen["h"]))
    assert all(torch.equal(b, a) for b, a in zip(seen["h"], seen["h_after"]))
    assert int(pair.steps_done) == 1


def test_h_is_reset_when_the_term_switches_on():
    model, method, opts = build(cr_start=2, g_steps=1)
    pair = model.auxiliary[PAIR]
    real = torch.rand(8, 1, 28, 28) * 2 - 1
    for _ in range(2):
        method.step(model, opts, real, torch.Generator().manual_seed(0))
    assert opts["h"].state  # Adam has moments before the switch
    calls = []
    pair.reset = lambda g, real_reset=pair.reset: (calls.append(1), real_reset(g))
    method.step(model, opts, real, torch.Generator().manual_seed(0))
    assert calls == [1]


@pytest.mark.parametrize("design", ["stacked", "siamese"])
def test_both_pair_designs_give_logits_and_train_every_weight(design):
    pair = PairDiscriminator((1, 64, 64), 5, design)
    a, b = torch.rand(2, 6, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    logits = pair(a, b)
    assert logits.shape == (6, 5)
    logits.logsumexp(1).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in pair.parameters())


def test_siamese_h_does_not_care_which_image_comes_first():
    pair = PairDiscriminator((3, 32, 32), 4, "siamese").eval()  # eval: no power iteration
    a, b = torch.rand(2, 5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(pair(a, b), pair(b, a))
    stacked = PairDiscriminator((3, 32, 32), 4, "stacked").eval()
    assert not torch.allclose(stacked(a, b), stacked(b, a))


def test_h_from_a_checkpoint_written_before_head_was_split_out_loads():
    # Until this change H's last layer was `body.11` (64 px: 4 convs, flatten, FC, leaky ReLU).
    old = PairDiscriminator((1, 64, 64), 5).state_dict()
    old["body.11.weight"], old["body.11.bias"] = old.pop("head.weight"), old.pop("head.bias")
    fresh = PairDiscriminator((1, 64, 64), 5)
    fresh.reset(torch.Generator().manual_seed(3))
    fresh.load_state_dict(old)
    torch.testing.assert_close(fresh.head.weight, old["body.11.weight"])


def test_unknown_pair_design_is_refused():
    with pytest.raises(DisentangleError, match="cr_pair_net"):
        InfoGANCR(cr_pair_net="twin")


def test_needs_two_codes():
    with pytest.raises(DisentangleError, match="at least 2 codes"):
        build(specs=["categorical:5"])


@pytest.mark.parametrize("backbone,size", [("tiny", 16), ("mnist", 28), ("svhn32", 32),
                                           ("dcgan64", 64), ("sprites64", 64)])
def test_one_step_on_every_backbone(backbone, size):
    channels = 1
    model, method, opts = build(shape=(channels, size, size), backbone=backbone)
    real = torch.rand(4, channels, size, size) * 2 - 1
    logs = method.step(model, opts, real, torch.Generator().manual_seed(0))
    assert all(torch.isfinite(v) for v in logs.values())


@pytest.mark.parametrize("specs", [["bernoulli:2", "gaussian:1"], ["categorical:3", "uniform:2"]])
def test_every_code_type_can_be_shared(specs):
    model, method, opts = build(specs=specs)
    logs = method.step(model, opts, torch.rand(8, 1, 28, 28) * 2 - 1,
                       torch.Generator().manual_seed(0))
    assert torch.isfinite(logs["cr/loss"])


def test_resume_across_the_switch_is_bit_identical(fast_config):
    options = dict(method="infogan-cr", steps=12, checkpoint_every=4, sample_every=100,
                   cr_start=6, cr_gap=1.0, cr_gap_until=10, cr_gap_stages=2,
                   codes=["categorical:4", "uniform:1"])
    full, cut = full_and_interrupted(fast_config, 10, options)
    assert load_checkpoint(cut.run.latest)["step"] == 8  # after the switch at 6, mid-gap
    resumed = resume(cut.run.path, "infogan-cr")
    fit(resumed)
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert any(k.startswith(f"auxiliary.{PAIR}.") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)
    log_a, log_b = read_jsonl(full.run.metrics), read_jsonl(resumed.run.metrics)
    assert [r["cr/loss"] for r in log_a] == [r["cr/loss"] for r in log_b]


def test_cli_trains_infogan_cr_and_refuses_bad_options(capsys, toy_registry, tmp_path):
    code, _, err = cli(capsys, "run", "infogan-cr", *FAST, "--steps", "3", "--cr-start", "1",
                       "--out", tmp_path / "r")
    assert code == 0, err
    line = read_jsonl(tmp_path / "r", "metrics.jsonl")[-1]
    assert {"cr/loss", "cr/accuracy"} <= set(line)
    code, _, err = cli(capsys, "run", "infogan-cr", *FAST, "--steps", "3", "--cr-gap", "2.5",
                       "--out", tmp_path / "s")
    assert code != 0 and "--cr-gap" in err and "Traceback" not in err
    code, _, err = cli(capsys, "run", "infogan-cr", *FAST, "--steps", "2", "--cr-pair-net",
                       "siamese", "--out", tmp_path / "t")
    assert code == 0, err
    assert json.loads((tmp_path / "t" / "config.json").read_text())["config"]["cr_pair_net"] \
        == "siamese"
    code, _, err = cli(capsys, "run", "infogan-cr", *FAST, "--steps", "2", "--cr-pair-net",
                       "twin", "--out", tmp_path / "u")
    assert code != 0 and "--cr-pair-net" in err and "Traceback" not in err


def test_a_cr_option_for_another_method_is_an_error(capsys, toy_registry, tmp_path):
    code, _, err = cli(capsys, "run", "infogan", *FAST, "--steps", "2", "--cr-weight", "1",
                       "--out", tmp_path / "r")
    assert code != 0 and "--cr-weight" in err and "'infogan'" in err
    code, _, err = cli(capsys, "run", "infogan", *FAST, "--steps", "2", "--g-steps", "2",
                       "--out", tmp_path / "g")
    assert code == 0, err


# --- directions and schedules a flipped sign or a wrong rate would pass (a mutation audit) ------

def test_g_takes_two_steps_by_default_as_the_authors_do():
    assert InfoGANCR().g_steps == 2


def test_g_minimises_the_contrastive_cross_entropy_with_h():
    """G and H cooperate: G's extra loss is +α·CE (α > 0, CE > 0), never the adversarial −α·CE."""
    model, method, opts = build(g_steps=1, cr_start=0)
    seen = []
    g_step = method.g_step
    method.g_step = lambda *args, **kwargs: (seen.append(args[4]), g_step(*args, **kwargs))[1]
    method.step(model, opts, torch.rand(16, 1, 28, 28) * 2 - 1, torch.Generator().manual_seed(0))
    assert float(seen[0].detach()) > 0


def test_h_starts_its_adam_afresh_when_cr_switches_on():
    model, method, opts = build(g_steps=1, cr_start=2)
    real = torch.rand(8, 1, 28, 28) * 2 - 1
    for _ in range(3):
        method.step(model, opts, real, torch.Generator().manual_seed(0))
    weight = next(model.auxiliary[PAIR].parameters())
    assert int(opts["h"].state[weight]["step"]) == 1  # the step after the switch, alone


def test_h_learns_at_ds_rate():
    from types import SimpleNamespace

    model, method, _ = build()
    opts = method.optimizers(model, SimpleNamespace(lr_d=3e-4, lr_g=7e-4, beta1=None, beta2=None))
    assert opts["h"].param_groups[0]["lr"] == 3e-4
