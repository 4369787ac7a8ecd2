"""Q posteriors: how Q's head outputs become a distribution over one code.

Q outputs the *parameters* of a distribution, never the code itself. Every log Q(c|x) in the
toolkit goes through `log_prob`: `distribution(head)`'s density, or a faster closed form that the
contract check holds to it, so there is one way to score.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch.distributions import Distribution

from disentangle.codes import CodeType
from disentangle.errors import DisentangleError


def draws_within(code: CodeType, allowed, n: int = 1000) -> bool:
    """Whether n prior draws of `code` (a fixed seed) all take values in `allowed`: how a
    posterior for one kind of discrete value (class indices, bits) tells the codes it can score
    from other discrete codes of the same shape (a code of ±1 values is not a Bernoulli's)."""
    draws = code.sample(n, torch.Generator().manual_seed(0))
    return bool(torch.isin(draws, torch.as_tensor(allowed, dtype=draws.dtype)).all())


class Posterior(ABC):
    """Q(c|x) for one code, built from `width` columns of Q's head output.

    Subclasses set `kind` and implement `supports`, `width`, `distribution` and `estimate`;
    `to_event` has a default. Q's head outputs parameters: `distribution` turns them into a
    `torch.distributions.Distribution` and every log Q(c|x) goes through it.
    """

    kind: ClassVar[str]  # registry name

    def __init__(self, code: CodeType):
        if not self.supports(code):
            raise DisentangleError(f"posterior '{self.kind}' cannot score code '{code.spec}'")
        self.code = code

    @classmethod
    @abstractmethod
    def supports(cls, code: CodeType) -> bool:
        """Whether this posterior can score values of that code."""

    @property
    @abstractmethod
    def width(self) -> int:
        """Head outputs this posterior needs."""

    @abstractmethod
    def distribution(self, head: torch.Tensor) -> Distribution:
        """(n, width) head outputs -> a batch of n distributions over one code value."""

    def to_event(self, values: torch.Tensor) -> torch.Tensor:
        """(n, dims) code values -> what `distribution(head).log_prob` takes.

        Default: the values unchanged, right for an `Independent` distribution over `dims`
        columns. Override it when the distribution wants another form; the categorical
        posterior, for one, turns the (n, 1) float class index into an (n,) long tensor.
        """
        if type(self)._event is not Posterior._event:  # an older plugin overrides _event
            warnings.warn(f"posterior '{self.kind}' overrides Posterior._event, the deprecated "
                          "name of to_event: override to_event instead", DeprecationWarning,
                          stacklevel=2)
            return self._event(values)
        return values

    def _event(self, values: torch.Tensor) -> torch.Tensor:
        """Deprecated: the old, private name of `to_event`; overriding it still works."""
        if type(self)._event is not Posterior._event:  # an override's super()._event(values)
            return values
        warnings.warn("Posterior._event is deprecated; call to_event instead",
                      DeprecationWarning, stacklevel=2)
        return self.to_event(values)

    def log_prob(self, head: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """log Q(c|x) per sample, (n,): `distribution(head)`'s. A subclass may override it with a
        closed form that is cheaper per training step; the contract check requires it to agree
        with `distribution(head).log_prob` within 1e-5 nats."""
        return self.distribution(head).log_prob(self.to_event(values))

    @abstractmethod
    def estimate(self, head: torch.Tensor) -> torch.Tensor:
        """Point estimate of the code for real data, (n, dims): the mean or the mode of
        `distribution(head)` (class index, mean or probability), never a transform of it."""

    def max_log_density(self) -> float | None:
        """The largest log Q(c|x) this posterior can give any value, or None when it has no upper
        limit (a learned σ). With it, plots show the L_I a code can reach instead of an entropy
        it never can (a fixed-σ Gaussian never reaches a continuous code's h(c))."""
        return None

    def __repr__(self) -> str:
        return f"<posterior {self.kind} for {self.code.spec}>"
