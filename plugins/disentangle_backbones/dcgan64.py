"""A DCGAN-style 64x64 pair (Radford et al., ICLR 2016) with InfoGAN's Q head on D's features.

D: four 4x4 stride-2 convs (w, 2w, 4w, 8w channels; BN after all but the first; leaky ReLU) -> the
trunk's 8w*4*4 features -> FC 1 (D) | FC 128 BN lReLU -> FC out (Q). G mirrors it: FC 8w*4*4 BN
ReLU -> three upconvs with BN and ReLU -> upconv C tanh, so images lie in (-1, 1).
"""

from __future__ import annotations

from torch import nn

from disentangle.backbones import Networks
from disentangle.errors import DisentangleError

from .base import PaperBackbone
from .layers import conv, fc, init_weights, q_head, upconv


class Dcgan64Backbone(PaperBackbone):
    """DCGAN 64x64 pair; `width` is the channel count of D's first conv (and G's last hidden)."""

    name = "dcgan64"
    output_range = (-1.0, 1.0)
    default_for = ((64, 64),)

    def __init__(self, leak: float = 0.1, width: int = 64):
        super().__init__(leak)
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise DisentangleError(
                f"backbone 'dcgan64': width must be a positive integer, got {width!r}")
        self.width = width

    def supports(self, image_shape):
        c, h, w = image_shape
        return c >= 1 and (h, w) == (64, 64)

    def build(self, image_shape, input_width, head_width):
        c, _, _ = self.check(image_shape)
        leak, w = self.leak, self.width
        features = 8 * w * 4 * 4
        generator = nn.Sequential(
            *fc(input_width, features, nn.ReLU()),  # (B, 8w*16)
            nn.Unflatten(1, (8 * w, 4, 4)),  # (B, 8w, 4, 4)
            *upconv(8 * w, 4 * w),  # (B, 4w, 8, 8)
            *upconv(4 * w, 2 * w),  # (B, 2w, 16, 16)
            *upconv(2 * w, w),  # (B, w, 32, 32)
            nn.ConvTranspose2d(w, c, 4, 2, 1),  # (B, C, 64, 64)
            nn.Tanh(),  # (B, C, 64, 64) in (-1, 1)
        )
        trunk = nn.Sequential(
            *conv(c, w, leak, bn=False),  # (B, w, 32, 32)
            *conv(w, 2 * w, leak),  # (B, 2w, 16, 16)
            *conv(2 * w, 4 * w, leak),  # (B, 4w, 8, 8)
            *conv(4 * w, 8 * w, leak),  # (B, 8w, 4, 4)
            nn.Flatten(),  # (B, 8w*16)
        )
        d_head = nn.Linear(features, 1)  # (B, 1) real/fake logit
        q = q_head(features, head_width, leak)  # (B, head_width)
        return Networks(*(init_weights(m) for m in (generator, trunk, d_head, q)))
