"""The SVHN and CelebA (32x32) networks of Chen et al., "InfoGAN" (NIPS 2016), appendix C.

D: conv 4x4 64 s2 lReLU -> conv 128 s2 BN lReLU -> conv 256 s2 BN lReLU (the trunk: 4096 features)
-> FC 1 (D) | FC 128 BN lReLU -> FC out (Q). G: FC 2*2*448 BN ReLU -> upconv 256 s2 BN ReLU ->
upconv 128 s2 ReLU -> upconv 64 s2 ReLU -> upconv C s2 tanh, so images lie in (-1, 1).
"""

from __future__ import annotations

from torch import nn

from disentangle.backbones import Networks

from .base import PaperBackbone
from .layers import conv, fc, init_weights, q_head, upconv


class Svhn32Backbone(PaperBackbone):
    """The paper's 32x32 pair; 1 or 3 channels (any number works)."""

    name = "svhn32"
    output_range = (-1.0, 1.0)
    default_for = ((32, 32),)

    def supports(self, image_shape):
        c, h, w = image_shape
        return c >= 1 and (h, w) == (32, 32)

    def build(self, image_shape, input_width, head_width):
        c, _, _ = self.check(image_shape)
        leak = self.leak
        generator = nn.Sequential(
            *fc(input_width, 2 * 2 * 448, nn.ReLU()),  # (B, 1792)
            nn.Unflatten(1, (448, 2, 2)),  # (B, 448, 2, 2)
            *upconv(448, 256),  # (B, 256, 4, 4)
            *upconv(256, 128, bn=False),  # (B, 128, 8, 8)
            *upconv(128, 64, bn=False),  # (B, 64, 16, 16)
            nn.ConvTranspose2d(64, c, 4, 2, 1),  # (B, C, 32, 32)
            nn.Tanh(),  # (B, C, 32, 32) in (-1, 1)
        )
        trunk = nn.Sequential(
            *conv(c, 64, leak, bn=False),  # (B, 64, 16, 16)
            *conv(64, 128, leak),  # (B, 128, 8, 8)
            *conv(128, 256, leak),  # (B, 256, 4, 4)
            nn.Flatten(),  # (B, 4096)
        )
        d_head = nn.Linear(256 * 4 * 4, 1)  # (B, 1) real/fake logit
        q = q_head(256 * 4 * 4, head_width, leak)  # (B, head_width)
        return Networks(*(init_weights(m) for m in (generator, trunk, d_head, q)))
