"""The contract checks fail plugins that are wrong in the ways a third party got wrong in practice.

A correct Laplace code with its posterior passes; each variant changes one thing (the entropy,
the log-density, the estimate, the head width) and must fail with an AssertionError naming it.
"""

import math

import pytest
import torch
from torch.distributions import Independent, Laplace, Normal

from disentangle import Component, DisentangleError, hookimpl
from disentangle.codes import CodeType
from disentangle.contracts import check_code, check_posterior
from disentangle.latent import Latent
from disentangle.posteriors import Posterior
from disentangle.registry import PluginError, Registry
from disentangle_codes.posteriors import BernoulliPosterior


class LaplaceCode(CodeType):
    """d independent Laplace(0, 1) dimensions: unbounded, differential H = d (1 + ln 2)."""

    kind = "laplace"
    discrete = False
    default_posterior = "laplace"

    def sample(self, n, generator=None, device=None):
        u = torch.rand(n, self.size, generator=generator, device=device) - 0.5
        return -u.sign() * torch.log1p(-2 * u.abs())

    def entropy(self):
        return self.size * (1 + math.log(2))

    def log_prob(self, values):
        return Laplace(0.0, 1.0).log_prob(values).sum(dim=1)


class LaplacePosterior(Posterior):
    kind = "laplace"

    @classmethod
    def supports(cls, code):
        return not code.discrete

    @property
    def width(self):
        return 2 * self.code.dims

    def distribution(self, head):
        loc, raw_scale = head.split(self.code.dims, dim=1)
        return Independent(Laplace(loc, torch.nn.functional.softplus(raw_scale) + 1e-3), 1)

    def estimate(self, head):
        return head[:, : self.code.dims]


class WrongEntropy(LaplaceCode):
    def entropy(self):  # a Normal's entropy, copied by mistake
        return 0.5 * self.size * math.log(2 * math.pi * math.e)


class NormalLogDensity(LaplacePosterior):
    def log_prob(self, head, values):  # a hand-written Normal density for a Laplace posterior
        loc, raw_scale = head.split(self.code.dims, dim=1)
        scale = torch.nn.functional.softplus(raw_scale) + 1e-3
        return Normal(loc, scale).log_prob(values).sum(dim=1)


class SigmoidEstimate(LaplacePosterior):
    def estimate(self, head):
        return torch.sigmoid(head[:, : self.code.dims])


class NarrowHead(LaplacePosterior):
    @property
    def width(self):  # one column per dim, but distribution() splits loc and scale
        return self.code.dims


class WideHead(LaplacePosterior):
    @property
    def width(self):  # a third block the distribution never reads
        return 3 * self.code.dims

    def distribution(self, head):
        return super().distribution(head[:, : 2 * self.code.dims])


def registry_with(code_cls, posterior_factory, name="laplace", builtins=False):
    """A registry holding a plugin with one code and one posterior, both called `name`
    (`builtins`: beside the installed plugins, as a third party's is)."""
    class Plugin:
        @staticmethod
        @hookimpl
        def disentangle_codes():
            yield Component(name, code_cls, f"the test's {name} code")

        @staticmethod
        @hookimpl
        def disentangle_posteriors():
            yield Component(name, posterior_factory, f"the test's {name} posterior")

    return Registry(plugins=[Plugin()], entry_points=builtins)


def test_a_correct_laplace_plugin_passes():
    registry = registry_with(LaplaceCode, LaplacePosterior)
    check_code("laplace", registry)
    check_posterior("laplace", registry)


def test_the_default_sweep_of_an_unbounded_prior_covers_its_bulk():
    sweep = LaplaceCode(1).sweep(9)
    # the 2nd and 98th percentiles of Laplace(0, 1) are -+ln(25) = -+3.22
    assert sweep[0] == pytest.approx(-math.log(25), abs=0.1)
    assert sweep[-1] == pytest.approx(math.log(25), abs=0.1) and len(sweep) == 9


@pytest.mark.parametrize("code_cls, posterior_cls, check, message", [
    (WrongEntropy, LaplacePosterior, check_code, r"code 'laplace' \(size 2\): entropy\(\) is 2\.8379 nats but -E\[log p\(c\)\]"),
    (LaplaceCode, NormalLogDensity, check_posterior,
     r"posterior 'laplace' .*log_prob disagrees with its distribution Independent"),
    (LaplaceCode, SigmoidEstimate, check_posterior,
     r"posterior 'laplace' .*estimate\(\) is neither the mean nor the mode"),
    (LaplaceCode, NarrowHead, check_posterior,
     r"posterior 'laplace' .*declared width 3 \(head width mismatch\?\)"),
    (LaplaceCode, WideHead, check_posterior,
     r"posterior 'laplace' .*head columns \[6, 7, 8\] .*get no gradient"),
], ids=["wrong-entropy", "normal-log-density", "sigmoid-estimate", "narrow-head", "wide-head"])
def test_contract_names_what_is_wrong(code_cls, posterior_cls, check, message):
    registry = registry_with(code_cls, posterior_cls)
    with pytest.raises(AssertionError, match=message):
        check("laplace", registry)


def test_a_code_without_log_prob_is_told_to_define_it():
    class NoLogProb(LaplaceCode):
        log_prob = CodeType.log_prob

    with pytest.raises(AssertionError, match="code 'laplace'.*define log_prob"):
        check_code("laplace", registry_with(NoLogProb, LaplacePosterior))


def test_a_posterior_written_against_the_old_private_event_still_scores():
    class Legacy(LaplacePosterior):
        def _event(self, values):  # the old, private spelling of to_event
            return values * 0 + 0.5

    class LegacyCallingSuper(LaplacePosterior):
        def _event(self, values):  # an old override that defers to the default
            return super()._event(values) + 0.5

    code = LaplaceCode(1)
    head = torch.zeros(3, 2)
    expected = LaplacePosterior(code).distribution(head).log_prob(torch.full((3, 1), 0.5))
    for legacy in (Legacy, LegacyCallingSuper):
        with pytest.warns(DeprecationWarning, match="overrides Posterior._event.*override to_event"):
            assert torch.allclose(legacy(code).log_prob(head, torch.zeros(3, 1)), expected)
    with pytest.warns(DeprecationWarning, match="call to_event"):
        LaplacePosterior(code)._event(torch.zeros(3, 1))


class SignCode(CodeType):
    """d independent fair ±1 values: discrete and as wide as a Bernoulli code, but not 0/1."""

    kind = "sign"
    discrete = True
    default_posterior = "sign"

    def sample(self, n, generator=None, device=None):
        bits = torch.randint(0, 2, (n, self.size), generator=generator, device=device)
        return (2 * bits - 1).float()

    def entropy(self):
        return self.size * math.log(2)

    def log_prob(self, values):
        return torch.full((values.shape[0],), -self.size * math.log(2))


class SignPosterior(BernoulliPosterior):
    """The built-in Bernoulli over (c + 1) / 2; its estimate is the mode in the code's own ±1
    values."""

    kind = "sign"

    @classmethod
    def supports(cls, code):
        return code.kind == "sign"

    def to_event(self, values):
        return (values + 1) / 2

    def estimate(self, head):
        return torch.where(head > 0, 1.0, -1.0)


def sign_registry(posterior_factory=SignPosterior, code_cls=SignCode):
    return registry_with(code_cls, posterior_factory, name="sign", builtins=True)


def test_an_estimate_in_code_values_is_checked_through_to_event():
    registry = sign_registry()
    check_code("sign", registry)
    check_posterior("sign", registry)


def test_built_in_posteriors_do_not_claim_a_code_of_other_values():
    """The built-in Bernoulli posterior used to claim every discrete code as wide as its dims,
    and scored ±1 values as bits, silently; its contract check then failed on the new code."""
    registry = sign_registry()
    code = SignCode(2)
    for name in ("bernoulli", "categorical"):
        assert not registry.get("posteriors", name).component.factory.supports(code)
        check_posterior(name, registry)  # passes: it is not offered the sign code
    with pytest.raises(DisentangleError, match="posterior 'bernoulli' cannot score code 'sign:2'"):
        Latent.from_specs(["sign:2@bernoulli"], noise_dim=0, registry=registry)


def test_a_posterior_factory_may_be_a_function():
    def make(code):
        return SignPosterior(code)  # refuses codes it does not support, as Posterior does

    check_posterior("sign", sign_registry(posterior_factory=make))


def test_a_code_with_a_minimum_size_is_checked_from_it():
    class AtLeastFour(SignCode):
        min_size = 4

    registry = sign_registry(code_cls=AtLeastFour)
    check_code("sign", registry)  # sizes 4 and 5; 3 must be refused, and is
    check_posterior("gaussian", registry)  # builds every code at a size it takes

    class RefusesNothing(AtLeastFour):
        def __init__(self, size):
            self.size = size

    with pytest.raises(AssertionError, match="code 'sign': size 3 must be refused"):
        check_code("sign", sign_registry(code_cls=RefusesNothing))


def test_a_bug_inside_a_factory_names_the_plugin_and_the_component():
    class Buggy(SignCode):
        def __init__(self, size):
            super().__init__(size)
            self.scale = None + 1  # a TypeError inside, not a wrong option

    registry = sign_registry(code_cls=Buggy)
    with pytest.raises(PluginError, match=r"plugin 'Plugin' failed to build its code 'sign': "
                       r"TypeError: unsupported operand"):
        registry.create("codes", "sign", 2)
    with pytest.raises(DisentangleError, match="code 'sign' rejected its options"):
        registry.create("codes", "sign", 2, colour="red")  # an option it does not take


def test_a_method_factory_must_take_what_the_trainer_passes():
    from disentangle.contracts import check_method
    from disentangle_infogan.method import InfoGAN

    class Plugin:
        @staticmethod
        @hookimpl
        def disentangle_methods():
            yield Component("bare", lambda: InfoGAN(), "takes no options")

    with pytest.raises(AssertionError, match="method 'bare': its factory must take the keyword "
                       "arguments q_trains_trunk and precision"):
        check_method("bare", Registry(plugins=[Plugin()], entry_points=False))


@pytest.mark.parametrize("extra, passes", [(torch.nn.Linear(1, 1), True), ("a name", False)])
def test_check_method_builds_the_methods_own_networks(extra, passes):
    """A method reading model.auxiliary in its step trained fine but failed check_method with a
    bare KeyError: the check built the model without its auxiliary_networks."""
    from disentangle.contracts import check_method
    from disentangle_infogan.method import InfoGAN

    class WithExtra(InfoGAN):
        def auxiliary_networks(self, latent, image_shape):
            return {**super().auxiliary_networks(latent, image_shape), "extra": extra}

        def step(self, model, optimizers, real, generator):
            assert model.auxiliary["extra"] is extra
            return super().step(model, optimizers, real, generator)

    class Plugin:
        @staticmethod
        @hookimpl
        def disentangle_methods():
            yield Component("extra", WithExtra, "InfoGAN with a network of its own")

    registry = Registry(plugins=[Plugin()])  # with the built-in codes the check's latent uses
    if passes:
        check_method("extra", registry)
    else:
        with pytest.raises(AssertionError, match="method 'extra': auxiliary_networks must return "
                           "a dict of name -> nn.Module"):
            check_method("extra", registry)


def test_details_that_misdescribe_the_code_fail_the_contract():
    from disentangle import Details

    class Plugin:
        @staticmethod
        @hookimpl
        def disentangle_codes():
            yield Component("laplace", LaplaceCode, "Laplace(0, 1) dims",
                            Details(discrete=True, posterior="laplace"))

        @staticmethod
        @hookimpl
        def disentangle_posteriors():
            yield Component("laplace", LaplacePosterior, "Laplace with learned scale")

    with pytest.raises(AssertionError, match="code 'laplace': its Details say discrete=True but "
                       "the code has False"):
        check_code("laplace", Registry(plugins=[Plugin()], entry_points=False))
