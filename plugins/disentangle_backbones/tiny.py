"""A small, fast pair for tests and smoke runs: two convs each way, any H and W divisible by 4
(28, 32 and 64 included), any number of channels; tanh output in (-1, 1)."""

from __future__ import annotations

from torch import nn

from disentangle.backbones import Networks
from disentangle.errors import DisentangleError

from .base import PaperBackbone
from .layers import conv, fc, init_weights, q_head, upconv


class TinyBackbone(PaperBackbone):
    """Not a default for any size: ask for it with --backbone tiny."""

    name = "tiny"
    output_range = (-1.0, 1.0)
    default_for = ()

    def __init__(self, leak: float = 0.1, width: int = 16):
        super().__init__(leak)
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise DisentangleError(
                f"backbone 'tiny': width must be a positive integer, got {width!r}")
        self.width = width

    def supports(self, image_shape):
        c, h, w = image_shape
        return c >= 1 and h >= 8 and w >= 8 and h % 4 == 0 and w % 4 == 0

    def describe_sizes(self):
        return "H and W must be multiples of 4, at least 8"

    def build(self, image_shape, input_width, head_width):
        c, h, w = self.check(image_shape)
        leak, k = self.leak, self.width
        h4, w4 = h // 4, w // 4
        generator = nn.Sequential(
            *fc(input_width, 64, nn.ReLU()),  # (B, 64)
            *fc(64, 2 * k * h4 * w4, nn.ReLU()),  # (B, 2k*H/4*W/4)
            nn.Unflatten(1, (2 * k, h4, w4)),  # (B, 2k, H/4, W/4)
            *upconv(2 * k, k),  # (B, k, H/2, W/2)
            nn.ConvTranspose2d(k, c, 4, 2, 1),  # (B, C, H, W)
            nn.Tanh(),  # (B, C, H, W) in (-1, 1)
        )
        trunk = nn.Sequential(
            *conv(c, k, leak, bn=False),  # (B, k, H/2, W/2)
            *conv(k, 2 * k, leak),  # (B, 2k, H/4, W/4)
            nn.Flatten(),  # (B, 2k*H/4*W/4)
            *fc(2 * k * h4 * w4, 64, nn.LeakyReLU(leak)),  # (B, 64)
        )
        d_head = nn.Linear(64, 1)  # (B, 1) real/fake logit
        q = q_head(64, head_width, leak, hidden=32)  # (B, head_width)
        return Networks(*(init_weights(m) for m in (generator, trunk, d_head, q)))
