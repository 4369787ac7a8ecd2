"""The contract checks fail plugins that are wrong in the ways a third party got wrong in practice.

A correct Laplace code with its posterior passes; each variant changes one thing (the entropy,
the log-density, the estimate, the head width) and must fail with an AssertionError naming it.
"""

import math

import pytest
import torch
from torch.distributions import Independent, Laplace, Normal

from disentangle import Component, hookimpl
from disentangle.codes import CodeType
from disentangle.contracts import check_code, check_posterior
from disentangle.posteriors import Posterior
from disentangle.registry import Registry


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


def registry_with(code_cls, posterior_cls):
    class Plugin:
        @staticmethod
        @hookimpl
        def disentangle_codes():
            yield Component("laplace", code_cls, "Laplace(0, 1) dims")

        @staticmethod
        @hookimpl
        def disentangle_posteriors():
            yield Component("laplace", posterior_cls, "Laplace with learned location and scale")

    return Registry(plugins=[Plugin()], entry_points=False)


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

    code = LaplaceCode(1)
    head = torch.zeros(3, 2)
    expected = LaplacePosterior(code).distribution(head).log_prob(torch.full((3, 1), 0.5))
    assert torch.allclose(Legacy(code).log_prob(head, torch.zeros(3, 1)), expected)
    with pytest.warns(DeprecationWarning, match="override to_event"):
        LaplacePosterior(code)._event(torch.zeros(3, 1))
