"""The plugin's own tests: the same contract checks disentangle runs on its built-ins."""

from disentangle.contracts import check_code, check_posterior
from disentangle.registry import Registry


def test_plugin_is_discovered_and_passes_the_contract():
    registry = Registry()  # found through the entry point, as a user's install finds it
    assert registry.get("codes", "vonmises").plugin == "vonmises"
    check_code("vonmises", registry)
    check_posterior("vonmises", registry)
