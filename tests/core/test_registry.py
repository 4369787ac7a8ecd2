import sys
import types

import pytest

from disentangle import Component, DisentangleError, hookimpl
from disentangle.registry import DISABLE_ENV, PluginError, Registry


def plugin(name, **hooks):
    """A throwaway plugin module implementing the given hooks."""
    module = types.ModuleType(name)
    for hook, records in hooks.items():
        def impl(records=records):
            return list(records)
        impl.__name__ = f"disentangle_{hook}"
        setattr(module, impl.__name__, hookimpl(impl))
    return module


def thing(name, summary="a thing"):
    return Component(name, lambda *a, **k: (a, k), summary)


def test_builtins_are_registered_through_entry_points():
    registry = Registry()
    assert {"categorical", "uniform", "gaussian", "bernoulli"} <= set(registry.names("codes"))
    assert {"categorical", "gaussian", "gaussian-fixed", "bernoulli"} <= set(registry.names("posteriors"))
    assert registry.get("codes", "uniform").plugin == "codes"
    info = {p.name: p for p in registry.plugins()}["codes"]
    assert info.distribution == "disentangle" and info.version
    assert "categorical" in info.registers["codes"]


def test_list_with_wildcards_and_create_drops_none_options():
    registry = Registry(plugins=[plugin("p", codes=[thing("alpha"), thing("alps"), thing("beta")])],
                        entry_points=False)
    assert [e.name for e in registry.list("codes", "al*")] == ["alpha", "alps"]
    assert registry.create("codes", "beta", 3, a=None, b=2) == ((3,), {"b": 2})


def test_unknown_name_lists_known_names_and_suggests():
    registry = Registry()
    with pytest.raises(DisentangleError, match=r"unknown code 'categorcal'.*did you mean 'categorical'"):
        registry.get("codes", "categorcal")
    with pytest.raises(DisentangleError, match="unknown component kind"):
        registry.list("priors")


def test_two_plugins_claiming_one_name_are_both_named():
    one = plugin("plugin_one", codes=[thing("same")])
    two = plugin("plugin_two", codes=[thing("same")])
    with pytest.raises(DisentangleError, match="'plugin_one' and 'plugin_two'"):
        Registry(plugins=[one, two], entry_points=False)


@pytest.mark.parametrize("record, problem", [
    ("not a component", "not a disentangle.Component"),
    (Component("Bad Name", lambda: 0, "x"), "names are lower-case"),
    (Component("ok", 42, "x"), "not callable"),
    (Component("ok", lambda: 0, ""), "without a summary"),
])
def test_broken_registration_names_the_plugin(record, problem):
    with pytest.raises(PluginError, match=f"plugin 'broken'.*{problem}.*{DISABLE_ENV}=broken"):
        Registry(plugins=[plugin("broken", codes=[record])], entry_points=False)


def test_hook_that_raises_names_the_plugin():
    module = types.ModuleType("explodes")

    @hookimpl
    def disentangle_datasets():
        raise RuntimeError("boom")

    module.disentangle_datasets = disentangle_datasets
    with pytest.raises(PluginError, match="plugin 'explodes' failed while listing its datasets: boom"):
        Registry(plugins=[module], entry_points=False)


def test_misspelled_hook_fails_loudly():
    module = types.ModuleType("typo")

    @hookimpl
    def disentangle_codez():
        return []

    module.disentangle_codez = disentangle_codez
    with pytest.raises(PluginError, match="plugin 'typo' implements an unknown hook.*=typo"):
        Registry(plugins=[module], entry_points=False)


def test_environment_variable_disables_a_plugin(monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "codes")
    registry = Registry()
    assert "categorical" not in registry.names("codes")
    assert "codes" not in {p.name for p in registry.plugins()}


def test_plugin_failing_to_import_is_named(fake_site, tmp_path, monkeypatch):
    package = tmp_path / "src" / "broken_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('needs a missing library')\n")
    site = fake_site(package, "broken-plugin", {"broken": "broken_plugin"})
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(PluginError, match="plugin 'broken' failed to import.*needs a missing library"):
        Registry()
    monkeypatch.setenv(DISABLE_ENV, "broken")
    assert "categorical" in Registry().names("codes")
    sys.modules.pop("broken_plugin", None)


def test_an_entry_point_named_like_another_plugins_is_an_error(fake_site, tmp_path, monkeypatch):
    """A third party's entry point called `codes` used to knock out the built-in one (or itself),
    whichever came second on sys.path, without a word."""
    package = tmp_path / "src" / "clash_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    site = fake_site(package, "clash-plugin", {"codes": "clash_plugin"})
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(DisentangleError, match=r"two plugins share the entry-point name 'codes': "
                       r"clash_plugin from clash-plugin and disentangle_codes from disentangle"):
        Registry()
    sys.modules.pop("clash_plugin", None)


def test_one_distribution_seen_twice_on_the_path_is_one_plugin(fake_site, tmp_path, monkeypatch):
    package = tmp_path / "src" / "twice_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for where in ("a", "b"):  # e.g. an editable install beside a built copy
        site = fake_site(package, "twice-plugin", {"twice": "twice_plugin"})
        moved = tmp_path / where
        site.rename(moved)
        monkeypatch.syspath_prepend(str(moved))
    assert "twice" in {p.name for p in Registry().plugins()}
    sys.modules.pop("twice_plugin", None)


def test_a_module_named_in_the_environment_loads_without_installing(tmp_path, monkeypatch):
    """DISENTANGLE_PLUGINS: a plugin tried with the CLI before it is packaged."""
    from disentangle.registry import LOAD_ENV

    (tmp_path / "loose_plugin.py").write_text(
        "from disentangle import Component, hookimpl\n\n"
        "@hookimpl\ndef disentangle_methods():\n"
        "    yield Component('loose', lambda **options: None, 'a method from a loose module')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(LOAD_ENV, "loose_plugin, disentangle_codes")  # the second is installed
    registry = Registry()
    assert registry.get("methods", "loose").plugin == "loose_plugin"
    info = {p.name: p for p in registry.plugins()}
    assert info["loose_plugin"].distribution is None
    assert "codes" in info and "disentangle_codes" not in info  # installed: loaded once
    assert Registry(entry_points=False).names("methods") == []  # tests' isolated registries
    monkeypatch.setenv(DISABLE_ENV, "loose_plugin")
    assert "loose" not in Registry().names("methods")
    monkeypatch.setenv(LOAD_ENV, "no_such_plugin_module")
    with pytest.raises(PluginError, match=r"plugin 'no_such_plugin_module' failed to import "
                       r"\(DISENTANGLE_PLUGINS=no_such_plugin_module\): No module named"):
        Registry()
    sys.modules.pop("loose_plugin", None)
