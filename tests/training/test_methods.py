"""InfoGAN and the GAN baseline, checked against the known pitfalls of public ports
(REFERENCE §4): the MI term must reach G, Q's loss must reach the shared trunk exactly when asked,
sampling and scoring must use the same code objects, and logits must be softmaxed once."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from disentangle.latent import Latent
from disentangle.model import LatentModel
from disentangle.registry import get_registry

SPECS = ["categorical:5", "uniform:2"]


def build(method: str, q_trains_trunk: bool | None = None, precision: str | None = None,
          **options):
    registry = get_registry()
    latent = Latent.from_specs(SPECS, noise_dim=6, registry=registry)
    backbone = registry.create("backbones", "tiny")
    torch.manual_seed(0)
    model = LatentModel(latent, backbone.build((1, 28, 28), latent.input_width, latent.head_width),
                        backbone.output_range)
    algo = registry.create("methods", method, q_trains_trunk=q_trains_trunk, precision=precision,
                           **options)
    return model, algo, algo.optimizers(model, None)


def one_step(method: str, q_trains_trunk: bool | None = None, precision: str | None = None):
    model, algo, opts = build(method, q_trains_trunk, precision)
    real = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    logs = algo.step(model, opts, real, torch.Generator().manual_seed(2))
    return model, logs


def grads(module: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p)
            for p in module.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_methods_are_registered_with_their_defaults():
    registry = get_registry()
    assert registry.create("methods", "infogan").q_trains_trunk is True
    assert registry.create("methods", "gan").q_trains_trunk is False


def test_mi_term_gradient_reaches_the_generator():
    # With Q kept off the trunk, both methods take the very same D step; their G steps differ
    # only by the information reward, so G's gradients differ exactly when it reaches G.
    info_model, _ = one_step("infogan", q_trains_trunk=False)
    gan_model, _ = one_step("gan", q_trains_trunk=False)
    assert same(list(info_model.trunk.parameters()), list(gan_model.trunk.parameters()))
    g_info, g_gan = grads(info_model.generator), grads(gan_model.generator)
    assert not same(g_info, g_gan), "the information term sent no gradient to G"
    assert all(g.abs().sum() > 0 for g in g_info)


@pytest.mark.parametrize("method", ["infogan", "gan"])
def test_q_loss_reaches_the_trunk_when_on_and_not_when_off(method):
    on, _ = one_step(method, q_trains_trunk=True)
    off, _ = one_step(method, q_trains_trunk=False)
    plain, _ = one_step("gan", q_trains_trunk=False)  # D step without any Q term
    assert not same(grads(on.trunk), grads(off.trunk)), "Q's loss did not reach the trunk"
    assert same(grads(off.trunk), grads(plain.trunk)), "Q's loss reached the trunk while off"
    assert same(list(off.trunk.parameters()), list(plain.trunk.parameters()))


@pytest.mark.parametrize("method", ["infogan", "gan"])
def test_q_head_is_applied_and_trained(method):
    model, algo, opts = build(method)
    before = [p.detach().clone() for p in model.q_head.parameters()]
    algo.step(model, opts, torch.rand(16, 1, 28, 28) * 2 - 1, torch.Generator().manual_seed(0))
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.q_head.parameters())
    assert not same(before, [p.detach() for p in model.q_head.parameters()])


@pytest.mark.parametrize("method", ["infogan", "gan", "infogan-cr"])
@pytest.mark.parametrize("q_optimizer", ["g", "d"])
def test_q_head_learns_in_the_step_of_the_optimiser_that_holds_it(method, q_optimizer):
    model, algo, opts = build(method, q_optimizer=q_optimizer)
    owner, other = ("d", "g") if q_optimizer == "d" else ("g", "d")
    head = list(model.q_head.parameters())
    assert all(any(p is q for q in opts[owner].param_groups[0]["params"]) for p in head)
    assert not any(p is q for p in head for q in opts[other].param_groups[0]["params"])
    real = torch.rand(16, 1, 28, 28) * 2 - 1
    z, values = model.latent.sample(16, torch.Generator().manual_seed(0))
    fake = model.generate(z, values)
    before = [p.detach().clone() for p in head]
    algo.d_step(model, opts["d"], real, fake, values)
    after_d = [p.detach().clone() for p in head]
    algo.g_step(model, opts["g"], model.generate(z, values), values)
    after_g = [p.detach().clone() for p in head]
    assert same(before, after_d) == (q_optimizer == "g")
    assert same(after_d, after_g) == (q_optimizer == "d")


def test_q_head_in_d_leaves_the_baselines_trunk_alone():
    # gan keeps Q off the trunk: with Q's head in D's optimiser the D step scores Q on detached
    # features, so the trunk's gradients are those of the plain GAN loss.
    moved, _ = one_step("gan", q_trains_trunk=False)
    model, algo, opts = build("gan", q_trains_trunk=False, q_optimizer="d")
    real = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    algo.step(model, opts, real, torch.Generator().manual_seed(2))
    assert not any(p is q for p in model.q_head.parameters()
                   for q in opts["g"].param_groups[0]["params"])
    assert same(grads(model.trunk), grads(moved.trunk))


def test_unknown_q_optimizer_is_refused():
    from disentangle import DisentangleError

    with pytest.raises(DisentangleError, match="q_optimizer must be one of g, d, got 'q'"):
        get_registry().create("methods", "infogan", q_optimizer="q")


def test_d_weights_get_no_gradient_from_the_generator_step():
    model, algo, opts = build("infogan")
    seen = []
    for p in [*model.trunk.parameters(), *model.d_head.parameters()]:
        p.register_hook(lambda g: seen.append(g) or g)
    algo.step(model, opts, torch.rand(16, 1, 28, 28) * 2 - 1, torch.Generator().manual_seed(0))
    n_d = len(list(model.trunk.parameters())) + len(list(model.d_head.parameters()))
    assert len(seen) == n_d, "D's weights were differentiated outside the D step"


def test_sampling_and_scoring_use_the_same_code_objects(monkeypatch):
    model, algo, opts = build("infogan")
    sampled, scored = {}, {}
    for lc in model.latent.codes:
        def sample(n, generator=None, device=None, _code=lc.code, _name=lc.name,
                   _orig=type(lc.code).sample):
            values = _orig(_code, n, generator, device)
            sampled.setdefault(_name, []).append(values)
            return values

        def log_prob(head, values, _post=lc.posterior, _name=lc.name,
                     _orig=type(lc.posterior).log_prob):
            scored.setdefault(_name, []).append(values)
            return _orig(_post, head, values)

        monkeypatch.setattr(lc.code, "sample", sample)
        monkeypatch.setattr(lc.posterior, "log_prob", log_prob)
    algo.step(model, opts, torch.rand(16, 1, 28, 28) * 2 - 1, torch.Generator().manual_seed(0))
    for lc in model.latent.codes:
        assert len(sampled[lc.name]) == 1, "a code was sampled more than once in one step"
        assert scored[lc.name], f"{lc.name} was never scored"
        assert all(v is sampled[lc.name][0] for v in scored[lc.name]), \
            "Q scored values other than the ones G was given"


def test_information_term_is_log_softmax_once_plus_entropy():
    """The logged L_I equals -CE(logits, c) + ln K on Q's raw head (one softmax, inside the
    likelihood), and the fixed-σ Gaussian bound for the uniform code, both plus H(c)."""
    model, algo, opts = build("infogan")
    heads, values = [], []
    model.q_head.register_forward_hook(lambda m, i, o: heads.append(o.detach().clone()))
    orig = model.latent.sample

    def record(*args, **kwargs):
        out = orig(*args, **kwargs)
        values.append(out[1])
        return out

    model.latent.sample = record
    real = torch.rand(16, 1, 28, 28) * 2 - 1
    logs = algo.step(model, opts, real, torch.Generator().manual_seed(0))
    head = heads[-1]  # the G step's forward
    cat, uni = values[0]
    expected_c1 = -F.cross_entropy(head[:, :5], cat[:, 0].long()) + math.log(5)
    normal = torch.distributions.Normal(head[:, 5:7], 1.0)
    expected_c2 = normal.log_prob(uni).sum(1).mean() + 2 * math.log(2)
    assert torch.allclose(logs["info/c1"], expected_c1, atol=1e-5)
    assert torch.allclose(logs["info/c2"], expected_c2, atol=1e-5)


@pytest.mark.parametrize("name", ["mnist", "svhn32", "dcgan64", "tiny"])
def test_q_head_ends_in_raw_outputs(name):
    backbone = get_registry().create("backbones", name)
    shape = next(s for s in ((1, 28, 28), (3, 32, 32), (3, 64, 64)) if backbone.supports(s))
    nets = backbone.build(shape, 12, 7)
    assert isinstance(list(nets.q_head.modules())[-1], nn.Linear), "Q's head must end in a Linear"
    assert not any(isinstance(m, (nn.Softmax, nn.LogSoftmax, nn.Sigmoid))
                   for m in nets.q_head.modules())


@pytest.mark.parametrize("method", ["infogan", "gan"])
def test_logs_every_code_as_detached_tensors(method):
    _, logs = one_step(method)
    assert set(logs) == {"loss_d", "loss_g", "info/c1", "info/c2"}
    assert all(isinstance(v, torch.Tensor) and not v.requires_grad for v in logs.values())


def test_bf16_autocast_step_is_finite():
    _, logs = one_step("infogan", precision="bf16")
    assert all(torch.isfinite(v) for v in logs.values())


def test_unknown_precision_is_refused():
    from disentangle import DisentangleError

    with pytest.raises(DisentangleError, match="precision"):
        get_registry().create("methods", "infogan", precision="fp8")


# --- which way each loss moves (from a mutation audit: a flipped sign kept every gradient) -----

def _batch(model):
    z, values = model.latent.sample(64, torch.Generator().manual_seed(0))
    real = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return z, values, real


@torch.no_grad()
def _losses(model, real, fake, values):
    """D's loss (real as 1, fake as 0), G's non-saturating loss, and L_I per code."""
    logit_real, _ = model.discriminate(real)
    logit_fake, features = model.discriminate(fake)
    information = model.latent.information_terms(model.q_head(features), values)
    return (F.softplus(-logit_real).mean() + F.softplus(logit_fake).mean(),
            F.softplus(-logit_fake).mean(), information)


def test_a_d_step_logs_d_loss_and_lowers_it_while_raising_l_i():
    model, algo, opts = build("infogan", q_optimizer="d")
    z, values, real = _batch(model)
    fake = model.generate(z, values).detach()
    d_before, _, info_before = _losses(model, real, fake, values)
    logged = algo.d_step(model, opts["d"], real, fake, values)
    assert torch.allclose(logged, d_before, atol=1e-6)
    d_after, _, info_after = _losses(model, real, fake, values)
    assert d_after < d_before and sum(info_after) > sum(info_before)


def test_a_g_step_lowers_g_loss_while_raising_l_i():
    model, algo, opts = build("infogan")
    z, values, real = _batch(model)
    _, g_before, info_before = _losses(model, real, model.generate(z, values), values)
    algo.g_step(model, opts["g"], model.generate(z, values), values)
    _, g_after, info_after = _losses(model, real, model.generate(z, values), values)
    assert g_after < g_before and sum(info_after) > sum(info_before)


def test_the_information_reward_weighs_each_code_by_its_lambda():
    from disentangle_infogan.method import InfoGAN

    latent = Latent.from_specs(SPECS, noise_dim=6)  # λ: 1 for the categorical, 0.1 continuous
    reward = InfoGAN._reward(latent, [torch.tensor(1.0), torch.tensor(2.0)])
    assert float(reward) == pytest.approx(1.2)


def test_gradients_do_not_carry_over_from_one_step_to_the_next():
    real = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    a, algo, opts_a = build("infogan")
    b, _, opts_b = build("infogan")
    for model, opts, clear in ((a, opts_a, False), (b, opts_b, True)):
        algo.step(model, opts, real, torch.Generator().manual_seed(2))
        if clear:
            for p in model.parameters():
                p.grad = None
        algo.step(model, opts, real, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


def test_g_steps_takes_that_many_generator_steps():
    model, algo, opts = build("infogan", g_steps=3)
    calls = []
    g_step = algo.g_step
    algo.g_step = lambda *args, **kwargs: (calls.append(1), g_step(*args, **kwargs))[1]
    algo.step(model, opts, torch.rand(8, 1, 28, 28) * 2 - 1, torch.Generator().manual_seed(0))
    assert len(calls) == 3


def test_the_gan_baselines_generator_learns_from_d_alone_non_saturating():
    model, algo, opts = build("gan")
    z, values, _ = _batch(model)
    fake = model.generate(z, values)
    logit, _ = model.discriminate(fake)
    expected = torch.autograd.grad(F.softplus(-logit).mean(), list(model.generator.parameters()),
                                   retain_graph=True)
    algo.g_step(model, opts["g"], fake, values)
    assert all(torch.allclose(p.grad, e, atol=1e-7)
               for p, e in zip(model.generator.parameters(), expected))
