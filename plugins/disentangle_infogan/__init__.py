"""Built-in methods: InfoGAN and its vanilla-GAN baseline, registered like any third party's."""

from disentangle import Component, Details, hookimpl

from .cr import InfoGANCR
from .method import GAN, InfoGAN


@hookimpl
def disentangle_methods():
    yield Component("infogan", InfoGAN,
                    "InfoGAN: GAN + λ·L_I reward for G; Q trains the shared trunk",
                    details=Details(paper="Chen et al. 2016"))
    yield Component("gan", GAN, "the paper's baseline: same nets, Q trained but no reward for G",
                    details=Details(paper="Chen et al. 2016, Fig. 1"))
    yield Component("infogan-cr", InfoGANCR,
                    "InfoGAN + contrastive regulariser: a pair discriminator H names the shared code",
                    details=Details(paper="Lin et al. 2020"))
