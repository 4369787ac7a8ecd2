"""Built-in latent-code types and Q posteriors, registered like any third-party plugin."""

from disentangle import Component, Details, hookimpl

from .codes import Bernoulli, Categorical, Gaussian, Uniform
from .posteriors import (
    BernoulliPosterior,
    CategoricalPosterior,
    FixedGaussianPosterior,
    GaussianPosterior,
)


def _code(cls, summary):
    return Component(cls.kind, cls, summary,
                     details=Details(discrete=cls.discrete, posterior=cls.default_posterior))


@hookimpl
def disentangle_codes():
    yield _code(Categorical, "uniform over K classes, one-hot in G's input; H = ln K")
    yield _code(Uniform, "d dims uniform on [-1, 1]; differential H = d ln 2")
    yield _code(Gaussian, "d dims N(0, 1); differential H = d/2 ln(2 pi e)")
    yield _code(Bernoulli, "d fair bits in {0, 1}; H = d ln 2")


@hookimpl
def disentangle_posteriors():
    yield Component("categorical", CategoricalPosterior, "softmax over K logits (categorical codes)")
    yield Component("gaussian", GaussianPosterior, "factored Gaussian, learned mean and std")
    yield Component("gaussian-fixed", FixedGaussianPosterior,
                    "factored Gaussian, learned mean, std fixed at 1 (official InfoGAN code)")
    yield Component("bernoulli", BernoulliPosterior, "independent bits from logits")
