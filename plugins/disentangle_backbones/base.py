"""What the built-in backbones have in common: the leaky-ReLU slope option and the shape check."""

from __future__ import annotations

from disentangle.backbones import Backbone
from disentangle.errors import DisentangleError


class PaperBackbone(Backbone):
    """A Backbone with the leaky-ReLU slope of D as a keyword option."""

    def __init__(self, leak: float = 0.1):  # 0.1 in the paper; the official code uses 0.01
        if isinstance(leak, bool) or not isinstance(leak, (int, float)) or not 0 <= leak < 1:
            raise DisentangleError(f"backbone '{self.name}': leak must be in [0, 1), got {leak!r}")
        self.leak = float(leak)

    def check(self, image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        shape = tuple(int(s) for s in image_shape)
        if len(shape) != 3 or not self.supports(shape):
            c, h, w = (list(shape) + [0, 0, 0])[:3]
            raise DisentangleError(
                f"backbone '{self.name}' does not support {c}x{h}x{w} images "
                f"({self.describe_sizes()}); pick another with --backbone or set --image-size"
            )
        return shape  # type: ignore[return-value]

    def describe_sizes(self) -> str:
        return "sizes: " + ", ".join(f"{h}x{w}" for h, w in self.default_for)
