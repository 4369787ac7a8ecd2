"""Q posteriors: how Q's head outputs become a distribution over one code.

Q outputs the *parameters* of a distribution, never the code itself. Every log Q(c|x) in the
toolkit goes through `log_prob`, backed by `torch.distributions`, so there is one way to score.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch.distributions import Distribution

from disentangle.codes import CodeType
from disentangle.errors import DisentangleError


class Posterior(ABC):
    """Q(c|x) for one code, built from `width` columns of Q's head output."""

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

    @abstractmethod
    def _event(self, values: torch.Tensor) -> torch.Tensor:
        """(n, dims) code values -> the form `distribution(...).log_prob` takes."""

    def log_prob(self, head: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """log Q(c|x) per sample, (n,)."""
        return self.distribution(head).log_prob(self._event(values))

    @abstractmethod
    def estimate(self, head: torch.Tensor) -> torch.Tensor:
        """Point estimate of the code for real data, (n, dims): class index, mean or probability."""

    def max_log_density(self) -> float | None:
        """The largest log Q(c|x) this posterior can give any value, or None when it has no upper
        limit (a learned σ). With it, plots show the L_I a code can reach instead of an entropy
        it never can (a fixed-σ Gaussian never reaches a continuous code's h(c))."""
        return None

    def __repr__(self) -> str:
        return f"<posterior {self.kind} for {self.code.spec}>"
