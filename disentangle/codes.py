"""Latent-code types: the prior over one structured code c_i and everything derived from it.

One object declares how a code is sampled *and* which posterior scores it, so sampling and
scoring can never disagree (the most common bug in public InfoGAN ports). Values are always a
float tensor of shape (n, dims): a categorical code stores its class index in one column.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

from disentangle.errors import DisentangleError


class CodeType(ABC):
    """A prior P(c) over one code.

    Subclasses set the class variables and implement `sample`, `entropy` and `log_prob` (the
    contract checks compare the entropy with a Monte Carlo estimate of -E[log p(c)]). The rest
    has defaults: `dims` and `width` are `size`, `to_input` passes values to G unchanged, and
    `sweep` is described there.
    """

    kind: ClassVar[str]  # registry name, e.g. "categorical"
    discrete: ClassVar[bool]
    default_posterior: ClassVar[str]  # registry name of the posterior that scores it by default
    min_size: ClassVar[int] = 1

    def __init__(self, size: int):
        if isinstance(size, bool) or not isinstance(size, int) or size < self.min_size:
            raise DisentangleError(
                f"code '{self.kind}' needs a whole-number size >= {self.min_size}, got {size!r}"
            )
        self.size = size

    @property
    def dims(self) -> int:
        """Columns of a value tensor."""
        return self.size

    @property
    def width(self) -> int:
        """Columns this code takes in the generator input."""
        return self.size

    @property
    def differential(self) -> bool:
        """True when entropy() is a differential entropy (continuous codes): it can be negative,
        and a variational bound against it is a bound, never an MI estimate."""
        return not self.discrete

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
        """n draws from the prior, (n, dims) float."""

    def to_input(self, values: torch.Tensor) -> torch.Tensor:
        """(n, dims) values -> (n, width) generator input. Default: the values unchanged."""
        return values

    @abstractmethod
    def entropy(self) -> float:
        """H(c) in nats (a differential entropy for continuous codes)."""

    def log_prob(self, values: torch.Tensor) -> torch.Tensor:
        """log p(c) of (n, dims) values under the prior, (n,): a log-mass for discrete codes, a
        log-density for continuous ones. `entropy()` must equal -E[log p(c)]."""
        raise NotImplementedError(f"code '{self.kind}' does not define log_prob")

    def sweep(self, steps: int = 10) -> torch.Tensor:
        """Values of one dimension to sweep in a latent traversal, (S,).

        Default: for a discrete code, the distinct values of its first dimension in 10,000 prior
        draws, sorted; for a continuous one, `steps` even steps from the 2nd to the 98th
        percentile of those draws, which suits unbounded priors (N(0, 1): about -2.05..2.05).
        The built-in uniform code overrides it with -2..2, beyond its training range, as in the
        paper's figures.
        """
        draws = self.sample(10_000, torch.Generator().manual_seed(0))[:, 0].double()
        if self.discrete:
            return torch.unique(draws).float()
        low, high = torch.quantile(draws, torch.tensor([0.02, 0.98], dtype=torch.float64))
        return torch.linspace(float(low), float(high), steps)

    @property
    def spec(self) -> str:
        return f"{self.kind}:{self.size}"

    def __repr__(self) -> str:
        return f"<code {self.spec}>"


@dataclass(frozen=True)
class CodeSpec:
    """A parsed command-line code spec: TYPE:SIZE[@POSTERIOR]."""

    kind: str
    size: int
    posterior: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.size}" + (f"@{self.posterior}" if self.posterior else "")


_SPEC = re.compile(r"^(?P<kind>[a-z0-9][a-z0-9_.-]*):(?P<size>-?\d+)(?:@(?P<post>[a-z0-9][a-z0-9_.-]*))?$")


def parse_code_spec(text: str) -> CodeSpec:
    """'categorical:10', 'uniform:2', 'uniform:1@gaussian-fixed' -> CodeSpec."""
    match = _SPEC.match(text.strip())
    if not match:
        raise DisentangleError(
            f"bad code spec '{text}': write TYPE:SIZE or TYPE:SIZE@POSTERIOR, "
            "e.g. categorical:10, uniform:2, uniform:1@gaussian-fixed"
        )
    size = int(match["size"])
    if size < 1:
        raise DisentangleError(f"bad code spec '{text}': the size must be at least 1")
    return CodeSpec(match["kind"], size, match["post"])
