"""Example third-party plugin: a circular code for angles and the von Mises posterior scoring it.

An angle code lives on the circle, so feeding θ itself to G would put -π and π far apart. G gets
(cos θ, sin θ) instead, and Q answers with a von Mises distribution, whose density wraps.
"""

import math

import torch
import torch.nn.functional as F
from torch.distributions import Independent, VonMises

from disentangle import Component, Details, hookimpl
from disentangle.codes import CodeType
from disentangle.posteriors import Posterior


class AngleCode(CodeType):
    """d independent angles, uniform on [-π, π); differential entropy d·ln 2π."""

    kind = "vonmises"
    discrete = False
    default_posterior = "vonmises"

    @property
    def width(self):
        return 2 * self.size  # (cos θ, sin θ) per angle

    def sample(self, n, generator=None, device=None):
        return (torch.rand(n, self.size, generator=generator, device=device) * 2 - 1) * math.pi

    def to_input(self, values):
        return torch.cat([values.cos(), values.sin()], dim=1)

    def entropy(self):
        return self.size * math.log(2 * math.pi)

    def log_prob(self, values):  # the prior's log-density; the contract checks entropy() with it
        inside = (values.abs() <= math.pi).all(dim=1)
        return torch.where(inside, -self.size * math.log(2 * math.pi), -math.inf)

    def sweep(self, steps=10):
        return torch.linspace(-math.pi, math.pi, steps + 1)[:-1]


class VonMisesPosterior(Posterior):
    """Q(θ|x) = von Mises with mean direction atan2(s, c) and concentration softplus(k)."""

    kind = "vonmises"

    @classmethod
    def supports(cls, code):
        return isinstance(code, AngleCode)

    @property
    def width(self):
        return 3 * self.code.size

    def distribution(self, head):
        cos, sin, raw_kappa = head.split(self.code.size, dim=1)
        loc = torch.atan2(sin, cos)
        return Independent(VonMises(loc, F.softplus(raw_kappa) + 1e-3), 1)

    def estimate(self, head):
        cos, sin, _ = head.split(self.code.size, dim=1)
        return torch.atan2(sin, cos)


@hookimpl
def disentangle_codes():
    yield Component("vonmises", AngleCode, "d angles uniform on the circle, fed to G as cos/sin",
                    details=Details(discrete=False, posterior="vonmises"))


@hookimpl
def disentangle_posteriors():
    yield Component("vonmises", VonMisesPosterior, "von Mises over angles (wraps at ±π)")
