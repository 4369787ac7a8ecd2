"""The hooks a plugin may implement: one per kind of component.

Each hook yields (or returns a list of) `disentangle.Component` records. Implementations may take
fewer arguments than the spec, so hooks can gain arguments later without breaking old plugins.
"""

import pluggy

hookspec = pluggy.HookspecMarker("disentangle")


@hookspec
def disentangle_codes():
    """Latent-code types (priors): Component(name, factory(size) -> CodeType, summary)."""


@hookspec
def disentangle_posteriors():
    """Q posteriors: Component(name, factory(code) -> Posterior, summary)."""


@hookspec
def disentangle_backbones():
    """Generator/discriminator pairs: Component(name, factory() -> Backbone, summary)."""


@hookspec
def disentangle_datasets():
    """Image datasets: Component(name, factory(**options) -> Dataset, summary)."""


@hookspec
def disentangle_methods():
    """Training methods: Component(name, factory() -> Method, summary)."""
