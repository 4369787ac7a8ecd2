"""The method interface: how one training step updates a LatentModel."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable
from typing import Any, ClassVar

import torch
from torch import nn

from disentangle.latent import Latent
from disentangle.model import LatentModel


class Method(ABC):
    """A training method for the GAN family. The trainer owns data, logging and checkpoints; a
    method owns its optimisers and its losses."""

    name: ClassVar[str]

    def auxiliary_networks(self, latent: Latent,
                           image_shape: tuple[int, int, int]) -> dict[str, nn.Module]:
        """Networks the method needs beyond the backbone's (e.g. InfoGAN-CR's pair discriminator),
        keyed by name. They live in `model.auxiliary`, so checkpoints, resume and `load_run` keep
        them with the rest of the weights. Default: none."""
        return {}

    @abstractmethod
    def optimizers(self, model: LatentModel, config: Any) -> dict[str, torch.optim.Optimizer]:
        """Optimisers keyed by name (they are checkpointed under those names)."""

    @abstractmethod
    def step(self, model: LatentModel, optimizers: dict[str, torch.optim.Optimizer],
             real: torch.Tensor, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """One update on a batch of real images in the backbone's range; returns detached scalars
        to log: at least 'loss_d', 'loss_g' and 'info/<code name>' (L_I per code, in nats)."""

    def capture_key(self, steps_done: int) -> Hashable | None:
        """Whether `step` can be recorded as a CUDA graph and replayed, and what its Python side
        depends on after `steps_done` completed steps (docs/training.md, "CUDA graph"). On CUDA
        the loop calls this before every step, records `step` once and replays the record while
        the key stays equal; a new key runs a few steps eagerly and records again. So `step` must
        read nothing back to the host and decide nothing in Python that the key does not name,
        and must create its optimisers' state in those eager steps. None (the default): `step`
        always runs eagerly."""
        return None
