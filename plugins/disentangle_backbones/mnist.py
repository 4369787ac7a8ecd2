"""The MNIST networks of Chen et al., "InfoGAN" (NIPS 2016), appendix C, Table 1.

D: conv 4x4 64 s2 lReLU -> conv 4x4 128 s2 BN lReLU -> FC 1024 BN lReLU (the trunk, shared with Q)
-> FC 1 (D) | FC 128 BN lReLU -> FC out (Q). G: FC 1024 BN ReLU -> FC 7*7*128 BN ReLU ->
upconv 4x4 64 s2 BN ReLU -> upconv 4x4 C s2 sigmoid, so images lie in (0, 1).
"""

from __future__ import annotations

from torch import nn

from disentangle.backbones import Networks

from .base import PaperBackbone
from .layers import conv, fc, init_weights, q_head, upconv


class MnistBackbone(PaperBackbone):
    """The paper's 28x28 pair; any number of channels."""

    name = "mnist"
    output_range = (0.0, 1.0)
    default_for = ((28, 28),)

    def supports(self, image_shape):
        c, h, w = image_shape
        return c >= 1 and (h, w) == (28, 28)

    def build(self, image_shape, input_width, head_width):
        c, _, _ = self.check(image_shape)
        leak = self.leak
        generator = nn.Sequential(
            *fc(input_width, 1024, nn.ReLU()),  # (B, 1024)
            *fc(1024, 7 * 7 * 128, nn.ReLU()),  # (B, 6272)
            nn.Unflatten(1, (128, 7, 7)),  # (B, 128, 7, 7)
            *upconv(128, 64),  # (B, 64, 14, 14)
            nn.ConvTranspose2d(64, c, 4, 2, 1),  # (B, C, 28, 28)
            nn.Sigmoid(),  # (B, C, 28, 28) in (0, 1)
        )
        trunk = nn.Sequential(
            *conv(c, 64, leak, bn=False),  # (B, 64, 14, 14)
            *conv(64, 128, leak),  # (B, 128, 7, 7)
            nn.Flatten(),  # (B, 6272)
            *fc(7 * 7 * 128, 1024, nn.LeakyReLU(leak)),  # (B, 1024)
        )
        d_head = nn.Linear(1024, 1)  # (B, 1) real/fake logit
        q = q_head(1024, head_width, leak)  # (B, head_width)
        return Networks(*(init_weights(m) for m in (generator, trunk, d_head, q)))
