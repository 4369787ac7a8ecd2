"""Every registered component, built-in or not, passes the same contract."""

import pytest

from disentangle.contracts import check_component
from disentangle.registry import KINDS, get_registry

ENTRIES = [(kind, entry.name) for kind in KINDS for entry in get_registry().list(kind)]


@pytest.mark.parametrize("kind, name", ENTRIES, ids=[f"{k}:{n}" for k, n in ENTRIES])
def test_component_contract(kind, name):
    check_component(kind, name)


def test_every_kind_has_builtins():
    kinds = {kind for kind, _ in ENTRIES}
    assert {"codes", "posteriors"} <= kinds
