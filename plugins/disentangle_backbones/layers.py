"""Small pieces the built-in backbones share: weight init, reshaping, the usual conv blocks."""

from __future__ import annotations

from torch import nn

INIT_STD = 0.02  # weights ~ N(0, 0.02), as in the InfoGAN and DCGAN papers


def init_weights(module: nn.Module) -> nn.Module:
    """Conv/linear weights ~ N(0, 0.02), biases 0; batch-norm scale ~ N(1, 0.02), shift 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, INIT_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, INIT_STD)
            nn.init.zeros_(m.bias)
    return module


def conv(c_in: int, c_out: int, leak: float, bn: bool = True) -> list[nn.Module]:
    """4x4 stride-2 convolution halving H and W, [batch norm], leaky ReLU."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.LeakyReLU(leak))
    return layers


def upconv(c_in: int, c_out: int, bn: bool = True) -> list[nn.Module]:
    """4x4 stride-2 transposed convolution doubling H and W, [batch norm], ReLU."""
    layers: list[nn.Module] = [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.ReLU())
    return layers


def fc(n_in: int, n_out: int, act: nn.Module, bn: bool = True) -> list[nn.Module]:
    """Fully connected, [batch norm], activation."""
    layers: list[nn.Module] = [nn.Linear(n_in, n_out, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm1d(n_out))
    layers.append(act)
    return layers


def q_head(features: int, head_width: int, leak: float, hidden: int = 128) -> nn.Sequential:
    """The paper's Q head on D's features: FC hidden, BN, leaky ReLU, FC to the posterior params."""
    return nn.Sequential(
        *fc(features, hidden, nn.LeakyReLU(leak)),  # (B, hidden)
        nn.Linear(hidden, head_width),  # (B, head_width) raw parameters, no softmax here
    )
