"""The built-in Q posteriors. Each turns raw head outputs into a torch distribution; none applies
a softmax or sigmoid before the likelihood (the "softmax twice" bug of several public ports)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Categorical, Independent, Normal

from disentangle.posteriors import Posterior, draws_within

MIN_STD = 1e-3  # keeps a learned std from collapsing to zero and the bound from exploding


class CategoricalPosterior(Posterior):
    """Softmax over K logits."""

    kind = "categorical"

    @classmethod
    def supports(cls, code):
        return (code.discrete and code.dims == 1 and code.width == code.size
                and draws_within(code, range(code.size)))  # values are class indices

    @property
    def width(self):
        return self.code.size

    def distribution(self, head):
        return Categorical(logits=head)

    def to_event(self, values):
        return values[:, 0].long()  # Categorical.log_prob takes (n,) class indices

    def log_prob(self, head, values):
        """Categorical(logits=head).log_prob, as one fused log-softmax and pick: the same numbers
        without normalising the logits into a distribution object every training step."""
        return -F.cross_entropy(head, self.to_event(values), reduction="none")

    def estimate(self, head):
        return head.argmax(dim=1, keepdim=True).float()


class GaussianPosterior(Posterior):
    """Factored Gaussian with a learned std (softplus of a second output, floored)."""

    kind = "gaussian"

    @classmethod
    def supports(cls, code):
        return not code.discrete

    @property
    def width(self):
        return 2 * self.code.dims

    def distribution(self, head):
        mean, raw_std = head.split(self.code.dims, dim=1)
        return Independent(Normal(mean, F.softplus(raw_std) + MIN_STD), 1)

    def estimate(self, head):
        return head[:, : self.code.dims]


class FixedGaussianPosterior(Posterior):
    """Factored Gaussian with std fixed at 1, as in the official InfoGAN code."""

    kind = "gaussian-fixed"

    @classmethod
    def supports(cls, code):
        return not code.discrete

    @property
    def width(self):
        return self.code.dims

    def distribution(self, head):
        return Independent(Normal(head, torch.ones_like(head)), 1)

    def log_prob(self, head, values):
        """The unit-σ Normal's log-density summed over the code's dims, written out: what
        `distribution(head).log_prob` gives, without building a distribution every step."""
        return self.max_log_density() - 0.5 * (values - head).square().sum(dim=1)

    def estimate(self, head):
        return head

    def max_log_density(self):
        return -0.5 * self.code.dims * math.log(2 * math.pi)  # the mean exactly on the value


class BernoulliPosterior(Posterior):
    """Independent bits from logits; the estimate is P(bit = 1)."""

    kind = "bernoulli"

    @classmethod
    def supports(cls, code):
        return code.discrete and code.width == code.dims and draws_within(code, (0, 1))

    @property
    def width(self):
        return self.code.dims

    def distribution(self, head):
        return Independent(Bernoulli(logits=head), 1)

    def estimate(self, head):
        return torch.sigmoid(head)
