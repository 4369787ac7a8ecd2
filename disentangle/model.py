"""A latent-variable image model: G, D's trunk with its real/fake head, and Q's head on the same
trunk. Everything evaluation needs (generate, encode, the MI bound) goes through here, so it works
for any method that trains one."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from disentangle.backbones import Networks
from disentangle.latent import Latent


@contextmanager
def in_mode(module: nn.Module, train: bool) -> Iterator[nn.Module]:
    """``module`` in train (True) or eval mode for the block, then back in the mode it was in.
    Module.train walks every submodule, so nothing is switched when the mode is already right
    (the InfoGAN-CR step asks for G's mode up to twice a step)."""
    was_training = module.training
    if was_training != train:
        module.train(train)
    try:
        yield module
    finally:
        if was_training != train:
            module.train(was_training)


class LatentModel(nn.Module):
    def __init__(self, latent: Latent, networks: Networks,
                 output_range: tuple[float, float] = (-1.0, 1.0)):
        super().__init__()
        self.latent = latent
        self.generator = networks.generator
        self.trunk = networks.trunk
        self.d_head = networks.d_head
        self.q_head = networks.q_head
        self.auxiliary = nn.ModuleDict()  # a method's own extra networks (Method.auxiliary_networks)
        self.output_range = output_range

    def generate(self, z: torch.Tensor, values: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.generator(self.latent.generator_input(z, values))  # (B, C, H, W)

    def sample(self, n: int, generator: torch.Generator | None = None):
        """Fresh (images, z, code values) from the prior."""
        device = next(self.parameters()).device
        z, values = self.latent.sample(n, generator, device)
        return self.generate(z, values), z, values

    def discriminate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.trunk(x)  # (B, F)
        return self.d_head(features).view(-1), features  # (B,), (B, F)

    def to_range(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) -> float in the generator's output range."""
        low, high = self.output_range
        return images_uint8.float().mul_((high - low) / 255.0).add_(low)

    def from_range(self, images: torch.Tensor) -> torch.Tensor:
        """Generator output -> float in [0, 1] for saving."""
        low, high = self.output_range
        return ((images - low) / (high - low)).clamp(0, 1)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """Real images (in range) -> per-code point estimates, Q's raw head output, D features."""
        features = self.trunk(x)
        head = self.q_head(features)
        return self.latent.estimates(head), head, features

    @torch.no_grad()
    def information_bound(self, n: int, batch_size: int = 500,
                          generator: torch.Generator | None = None) -> list[float]:
        """L_I per code on n fresh generator samples (eval mode): E[log Q(c|x)] + H(c)."""
        totals = [0.0] * len(self.latent.codes)
        done = 0
        while done < n:
            b = min(batch_size, n - done)
            images, _, values = self.sample(b, generator)
            head = self.q_head(self.trunk(images))
            for i, lq in enumerate(self.latent.log_q(head, values)):
                totals[i] += float(lq.sum())
            done += b
        return [t / n + c.code.entropy() for t, c in zip(totals, self.latent.codes)]
