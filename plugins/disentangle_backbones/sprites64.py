"""InfoGAN-CR's dSprites networks (Lin et al., ICML 2020; authors' code fjxmlzn/InfoGAN-CR): a small
64x64 pair, a tenth of `dcgan64`'s weights, for binary sprites in [0, 1].

D: four 4x4 stride-2 convs (32, 32, 64, 64 channels, leaky ReLU 0.2, no batch norm) -> FC 128 ->
the trunk's 128 features -> FC 1 (D) | FC 128 lReLU -> FC out (Q, no batch norm). G: FC 128 and
FC 64*4*4 (ReLU then BN), three upconvs (64, 32, 32; leaky ReLU then BN) and an upconv to C
channels with a sigmoid. The authors put spectral norm on D (our `--spectral-norm`, on in the
dsprites and shapes presets) and on Q's layers, which their D's Adam trains (`--q-optimizer d`,
in those presets too; `--q-spectral-norm`, off, as it held Q back in 4,000 steps;
docs/training.md, "What the shapes preset shows").
"""

from __future__ import annotations

from torch import nn

from disentangle.backbones import Networks

from .base import PaperBackbone
from .layers import init_weights


def _then_bn(layer: nn.Module, act: nn.Module, channels: int, bn: type[nn.Module]) -> list:
    return [layer, act, bn(channels)]  # the authors' order: activation, then batch norm


class Sprites64Backbone(PaperBackbone):
    name = "sprites64"
    output_range = (0.0, 1.0)
    default_for = ()  # chosen by the factor-dataset presets, not by image size

    def __init__(self, leak: float = 0.2):
        super().__init__(leak)

    def supports(self, image_shape):
        c, h, w = image_shape
        return c >= 1 and (h, w) == (64, 64)

    def describe_sizes(self) -> str:
        return "sizes: 64x64"

    def build(self, image_shape, input_width, head_width):
        c, _, _ = self.check(image_shape)
        leak = self.leak
        generator = nn.Sequential(
            *_then_bn(nn.Linear(input_width, 128), nn.ReLU(), 128, nn.BatchNorm1d),  # (B, 128)
            *_then_bn(nn.Linear(128, 64 * 4 * 4), nn.ReLU(), 64 * 4 * 4, nn.BatchNorm1d),
            nn.Unflatten(1, (64, 4, 4)),  # (B, 64, 4, 4)
            *_then_bn(nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.LeakyReLU(leak), 64,
                      nn.BatchNorm2d),  # (B, 64, 8, 8)
            *_then_bn(nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.LeakyReLU(leak), 32,
                      nn.BatchNorm2d),  # (B, 32, 16, 16)
            *_then_bn(nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.LeakyReLU(leak), 32,
                      nn.BatchNorm2d),  # (B, 32, 32, 32)
            nn.ConvTranspose2d(32, c, 4, 2, 1),  # (B, C, 64, 64)
            nn.Sigmoid(),  # in (0, 1), like dSprites' binary pixels
        )
        trunk = nn.Sequential(
            nn.Conv2d(c, 32, 4, 2, 1), nn.LeakyReLU(leak),  # (B, 32, 32, 32)
            nn.Conv2d(32, 32, 4, 2, 1), nn.LeakyReLU(leak),  # (B, 32, 16, 16)
            nn.Conv2d(32, 64, 4, 2, 1), nn.LeakyReLU(leak),  # (B, 64, 8, 8)
            nn.Conv2d(64, 64, 4, 2, 1), nn.LeakyReLU(leak),  # (B, 64, 4, 4)
            nn.Flatten(),  # (B, 1024)
            nn.Linear(64 * 4 * 4, 128), nn.LeakyReLU(leak),  # (B, 128) shared features
        )
        d_head = nn.Linear(128, 1)  # (B, 1) real/fake logit
        q_head = nn.Sequential(
            nn.Linear(128, 128), nn.LeakyReLU(leak),  # (B, 128)
            nn.Linear(128, head_width),  # (B, head_width) posterior parameters
        )
        return Networks(*(init_weights(m) for m in (generator, trunk, d_head, q_head)))
