"""The generator's input: incompressible noise z plus structured codes c_1..c_L, each paired with
the posterior that scores it and its weight λ in the information term."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from disentangle.codes import CodeType, parse_code_spec
from disentangle.errors import DisentangleError
from disentangle.posteriors import Posterior
from disentangle.registry import Registry, get_registry


@dataclass(frozen=True)
class LatentCode:
    name: str  # "c1", "c2", ... in order of the specs
    code: CodeType
    posterior: Posterior
    weight: float  # λ for this code's information term

    @property
    def spec(self) -> str:
        suffix = "" if self.posterior.kind == self.code.default_posterior else f"@{self.posterior.kind}"
        return self.code.spec + suffix


class Latent:
    """Samples (z, c), assembles G's input, and splits Q's head output per code."""

    def __init__(self, noise: CodeType | None, codes: Sequence[LatentCode]):
        self.noise = noise
        self.codes = list(codes)

    @classmethod
    def from_specs(cls, specs: Sequence[str], noise_dim: int, noise: str = "uniform",
                   lambda_discrete: float = 1.0, lambda_continuous: float = 0.1,
                   registry: Registry | None = None) -> Latent:
        registry = registry or get_registry()
        if noise_dim < 0:
            raise DisentangleError(f"--noise-dim must be >= 0, got {noise_dim}")
        noise_code = registry.create("codes", noise, noise_dim) if noise_dim else None
        codes = []
        for i, text in enumerate(specs, start=1):
            spec = parse_code_spec(text)
            code = registry.create("codes", spec.kind, spec.size)
            posterior = registry.create("posteriors", spec.posterior or code.default_posterior, code)
            weight = lambda_discrete if code.discrete else lambda_continuous
            codes.append(LatentCode(f"c{i}", code, posterior, weight))
        return cls(noise_code, codes)

    @property
    def noise_dim(self) -> int:
        return self.noise.width if self.noise is not None else 0

    @property
    def input_width(self) -> int:
        return self.noise_dim + sum(c.code.width for c in self.codes)

    @property
    def head_width(self) -> int:
        return sum(c.posterior.width for c in self.codes)

    def sample(self, n: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """z (n, noise_dim) and one (n, dims) value tensor per code."""
        z = (self.noise.sample(n, generator, device) if self.noise is not None
             else torch.zeros(n, 0, device=device))
        return z, [c.code.sample(n, generator, device) for c in self.codes]

    def generator_input(self, z: torch.Tensor, values: Sequence[torch.Tensor]) -> torch.Tensor:
        parts = [z] + [c.code.to_input(v) for c, v in zip(self.codes, values, strict=True)]
        return torch.cat(parts, dim=1)  # (n, input_width)

    def split_head(self, head: torch.Tensor) -> list[torch.Tensor]:
        return list(head.split([c.posterior.width for c in self.codes], dim=1))

    def log_q(self, head: torch.Tensor, values: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """log Q(c_i|x) per code, each (n,)."""
        return [c.posterior.log_prob(h, v)
                for c, h, v in zip(self.codes, self.split_head(head), values, strict=True)]

    def information_terms(self, head: torch.Tensor,
                          values: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """L_I per code: E[log Q(c|x)] + H(c), the variational lower bound on I(c; G(z, c))."""
        return [lq.mean() + c.code.entropy() for c, lq in zip(self.codes, self.log_q(head, values))]

    def estimates(self, head: torch.Tensor) -> list[torch.Tensor]:
        return [c.posterior.estimate(h) for c, h in zip(self.codes, self.split_head(head))]

    def specs(self) -> list[str]:
        return [c.spec for c in self.codes]
