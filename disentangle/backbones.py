"""The backbone interface: a generator, D's trunk shared with Q, and the two small heads."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from torch import nn


@dataclass
class Networks:
    generator: nn.Module  # (B, input_width) -> (B, C, H, W) in the backbone's output_range
    trunk: nn.Module  # D's shared layers: (B, C, H, W) -> (B, F) features
    d_head: nn.Module  # (B, F) -> (B, 1) real/fake logit
    q_head: nn.Module  # (B, F) -> (B, head_width) posterior parameters


class Backbone(ABC):
    """Builds Networks for one image shape. `default_for` lists the (H, W) it is chosen for when
    the user names no backbone."""

    name: ClassVar[str]
    output_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)
    default_for: ClassVar[tuple[tuple[int, int], ...]] = ()

    @abstractmethod
    def supports(self, image_shape: tuple[int, int, int]) -> bool:
        """Whether build() works for this (C, H, W)."""

    @abstractmethod
    def build(self, image_shape: tuple[int, int, int], input_width: int,
              head_width: int) -> Networks:
        """Fresh, initialised networks."""
