"""The built-in code priors: categorical, uniform, gaussian and bernoulli (Chen et al. 2016 §5
uses the first two)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from disentangle.codes import CodeType


class Categorical(CodeType):
    """Uniform over K classes, fed to G one-hot; H(c) = ln K."""

    kind = "categorical"
    discrete = True
    default_posterior = "categorical"
    min_size = 2

    @property
    def dims(self) -> int:
        return 1

    def sample(self, n, generator=None, device=None):
        index = torch.randint(self.size, (n, 1), generator=generator, device=device)
        return index.float()  # (n, 1)

    def to_input(self, values):
        return F.one_hot(values[:, 0].long(), self.size).to(values.dtype)  # (n, K)

    def entropy(self):
        return math.log(self.size)

    def log_prob(self, values):
        return torch.full((values.shape[0],), -math.log(self.size))

    def sweep(self, steps=10):
        return torch.arange(self.size, dtype=torch.float32)


class Uniform(CodeType):
    """d independent U(-1, 1) dimensions; differential entropy d·ln 2."""

    kind = "uniform"
    discrete = False
    default_posterior = "gaussian-fixed"

    def sample(self, n, generator=None, device=None):
        return torch.rand(n, self.size, generator=generator, device=device) * 2 - 1

    def entropy(self):
        return self.size * math.log(2.0)

    def log_prob(self, values):
        inside = (values.abs() <= 1).all(dim=1)
        return torch.where(inside, -self.size * math.log(2.0), -math.inf)

    def sweep(self, steps=10):  # beyond the training range, as in the paper's figures
        return torch.linspace(-2.0, 2.0, steps)


class Gaussian(CodeType):
    """d independent N(0, 1) dimensions; differential entropy d/2·ln(2πe)."""

    kind = "gaussian"
    discrete = False
    default_posterior = "gaussian"

    def sample(self, n, generator=None, device=None):
        return torch.randn(n, self.size, generator=generator, device=device)

    def entropy(self):
        return 0.5 * self.size * math.log(2 * math.pi * math.e)

    def log_prob(self, values):
        return torch.distributions.Normal(0.0, 1.0).log_prob(values).sum(dim=1)


class Bernoulli(CodeType):
    """d independent fair bits in {0, 1}; H(c) = d·ln 2."""

    kind = "bernoulli"
    discrete = True
    default_posterior = "bernoulli"

    def sample(self, n, generator=None, device=None):
        return torch.randint(2, (n, self.size), generator=generator, device=device).float()

    def entropy(self):
        return self.size * math.log(2.0)

    def log_prob(self, values):
        return torch.full((values.shape[0],), -self.size * math.log(2.0))
