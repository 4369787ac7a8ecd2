"""Built-in backbones: the InfoGAN paper's networks and two general-purpose pairs, registered like
any third-party plugin."""

from disentangle import Component, Details, hookimpl

from .dcgan64 import Dcgan64Backbone
from .mnist import MnistBackbone
from .sprites64 import Sprites64Backbone
from .svhn32 import Svhn32Backbone
from .tiny import TinyBackbone


def _backbone(cls, summary):
    low, high = cls.output_range
    sizes = ", ".join(f"{h}x{w}" for h, w in cls.default_for) or None
    return Component(cls.name, cls, summary,
                     details=Details(default_for=sizes, range=f"({low:g}, {high:g})"))


@hookimpl
def disentangle_backbones():
    yield _backbone(MnistBackbone, "the paper's MNIST networks (28x28, sigmoid)")
    yield _backbone(Svhn32Backbone, "the paper's SVHN/CelebA networks (32x32, 1 or 3 ch., tanh)")
    yield _backbone(Dcgan64Backbone, "DCGAN-style 64x64 pair with InfoGAN's Q head (tanh)")
    yield _backbone(Sprites64Backbone, "InfoGAN-CR's small dSprites pair (64x64, sigmoid)")
    yield _backbone(TinyBackbone, "small fast pair for tests; any H, W divisible by 4 (tanh)")
