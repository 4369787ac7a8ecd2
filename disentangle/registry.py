"""The component registry: pluggy collects what every plugin offers, by kind and by name.

Built-ins and third parties come through the same door, the ``disentangle`` entry-point group.
Hook implementations are pure functions that yield `Component` records; the registry alone keeps
state, checks the records, and names the guilty plugin when something is wrong.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from disentangle import hookspecs
from disentangle.errors import DisentangleError

PROJECT = "disentangle"
DISABLE_ENV = "DISENTANGLE_DISABLE_PLUGINS"
LOAD_ENV = "DISENTANGLE_PLUGINS"  # modules to load as plugins without installing them
KINDS = ("codes", "posteriors", "backbones", "datasets", "methods")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

hookimpl = pluggy.HookimplMarker(PROJECT)


@dataclass(frozen=True)
class Details:
    """The extra columns `disentangle list KIND` shows for a component; set those that apply.

    Every field is optional and shown under its name (underscores as spaces) when set.
    """

    discrete: bool | None = None  # codes: H(c) is discrete (True) or differential (False)
    posterior: str | None = None  # codes: registry name of the default posterior
    shape: str | None = None  # datasets: image shapes, e.g. "1x64x64, 1x32x32"
    targets: str | None = None  # datasets: "10 classes", "40 attributes", "5 factors"
    files: str | None = None  # datasets: where the files go under the data dir, "none" if embedded
    default_for: str | None = None  # backbones: image sizes it is the default for, e.g. "64x64"
    range: str | None = None  # backbones: G's output range, e.g. "(-1, 1)"
    paper: str | None = None  # methods: the paper it implements

    def items(self) -> list[tuple[str, Any]]:
        """(column, value) for every field that is set, in declaration order."""
        return [(f.name.replace("_", " "), getattr(self, f.name)) for f in fields(self)
                if getattr(self, f.name) is not None]


@dataclass(frozen=True)
class Component:
    """What a plugin registers: a name, a factory that builds the component, a one-line summary,
    and optional `Details` for `disentangle list` (a dict with the same keys is accepted)."""

    name: str
    factory: Callable[..., Any]
    summary: str
    details: Details = field(default_factory=Details)

    def __post_init__(self):
        if isinstance(self.details, dict):
            known = {f.name for f in fields(Details)}
            values = {str(k).replace(" ", "_"): v for k, v in self.details.items()}
            unknown = sorted(set(values) - known)
            if unknown:
                raise DisentangleError(f"component '{self.name}': unknown details "
                                       f"{', '.join(unknown)} (known: {', '.join(sorted(known))})")
            object.__setattr__(self, "details", Details(**values))


@dataclass(frozen=True)
class Entry:
    """A registered component together with the plugin that registered it."""

    kind: str
    component: Component
    plugin: str

    @property
    def name(self) -> str:
        return self.component.name


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    registers: dict[str, list[str]]


class PluginError(DisentangleError):
    """A plugin failed to import or registered something broken."""

    def __init__(self, plugin: str, problem: str):
        self.plugin = plugin
        super().__init__(
            f"plugin '{plugin}' {problem} (disable it with {DISABLE_ENV}={plugin})"
        )


def _dist_name(ep: metadata.EntryPoint) -> str:
    return ep.dist.metadata["Name"] if ep.dist is not None else "an unknown distribution"


def _disabled() -> set[str]:
    return {p.strip() for p in os.environ.get(DISABLE_ENV, "").split(",") if p.strip()}


class Registry:
    """Every component of every loaded plugin, checked once at load time."""

    def __init__(self, plugins: Iterable[ModuleType | object] = (), entry_points: bool = True):
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._dists: dict[str, metadata.Distribution | None] = {}
        blocked = _disabled()
        for name in blocked:
            self.pm.set_blocked(name)
        if entry_points:
            self._load_entry_points(blocked)
            self._load_named_modules(blocked)
        for plugin in plugins:
            if self.pm.is_registered(plugin):  # already loaded through its entry point
                continue
            name = getattr(plugin, "__name__", None) or type(plugin).__name__
            self.pm.register(plugin, name=name)
            self._dists.setdefault(name, None)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(self.pm.get_name(exc.plugin) or repr(exc.plugin),
                              f"implements an unknown hook: {exc}") from None
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        for kind in KINDS:
            self._collect(kind)

    def _load_entry_points(self, blocked: set[str]) -> None:
        seen: dict[str, metadata.EntryPoint] = {}
        for ep in metadata.entry_points(group=PROJECT):
            if ep.name in blocked:
                continue
            if ep.name in seen:  # the same distribution found twice on sys.path is one plugin
                first = seen[ep.name]
                if (_dist_name(first), first.value) != (_dist_name(ep), ep.value):
                    raise DisentangleError(
                        f"two plugins share the entry-point name '{ep.name}': "
                        f"{first.value} from {_dist_name(first)} and {ep.value} from "
                        f"{_dist_name(ep)}; rename the entry point in your pyproject.toml "
                        "(names in use: `disentangle plugins`)")
                continue
            seen[ep.name] = ep
            try:
                plugin = ep.load()
            except Exception as exc:  # a third party's import error must not look like ours
                raise PluginError(ep.name, f"failed to import ({ep.value}): {exc}") from None
            self._register(plugin, ep.name, ep.dist)

    def _load_named_modules(self, blocked: set[str]) -> None:
        """The modules named in DISENTANGLE_PLUGINS (comma-separated, importable), each
        registered under its module name, as an entry point would register it: a plugin tried
        with the CLI before it is packaged."""
        names = [n.strip() for n in os.environ.get(LOAD_ENV, "").split(",") if n.strip()]
        for name in names:
            if name in blocked:
                continue
            try:
                module = importlib.import_module(name)
            except Exception as exc:
                raise PluginError(name, f"failed to import ({LOAD_ENV}={name}): {exc}") from None
            if not self.pm.is_registered(module):  # else installed too: its entry point won
                self._register(module, name, None)

    def _register(self, plugin: Any, name: str, dist: metadata.Distribution | None) -> None:
        try:
            self.pm.register(plugin, name=name)
        except ValueError as exc:
            raise PluginError(name, f"could not be registered: {exc}") from None
        except pluggy.PluginValidationError as exc:
            raise PluginError(name, f"has an invalid hook: {exc}") from None
        self._dists[name] = dist

    def _collect(self, kind: str) -> None:
        caller = getattr(self.pm.hook, f"disentangle_{kind}")
        for impl in caller.get_hookimpls():
            plugin = impl.plugin_name
            try:
                records = list(impl.function() or ())
            except Exception as exc:
                raise PluginError(plugin, f"failed while listing its {kind}: {exc}") from None
            for record in records:
                self._add(kind, record, plugin)

    def _add(self, kind: str, record: Any, plugin: str) -> None:
        if not isinstance(record, Component):
            raise PluginError(plugin, f"registered an object of type {type(record).__name__} "
                                      f"among its {kind}, not a disentangle.Component")
        if not isinstance(record.name, str) or not _NAME.match(record.name):
            raise PluginError(plugin, f"registered {kind[:-1]} name {record.name!r}: names are "
                                      "lower-case letters, digits, '-', '_' or '.'")
        if not callable(record.factory):
            raise PluginError(plugin, f"registered {kind[:-1]} '{record.name}' with a factory "
                                      "that is not callable")
        if not isinstance(record.summary, str) or not record.summary.strip():
            raise PluginError(plugin, f"registered {kind[:-1]} '{record.name}' without a summary")
        existing = self._entries[kind].get(record.name)
        if existing is not None:
            raise DisentangleError(
                f"{kind[:-1]} '{record.name}' is registered by two plugins, '{existing.plugin}' "
                f"and '{plugin}'; disable one with {DISABLE_ENV}={plugin}"
            )
        self._entries[kind][record.name] = Entry(kind, record, plugin)

    # --- queries -------------------------------------------------------------------------------

    def list(self, kind: str, pattern: str = "*") -> list[Entry]:
        """Entries of one kind whose name matches a shell-style wildcard pattern, sorted by name."""
        entries = self._kind(kind)
        return [entries[n] for n in sorted(entries) if fnmatch.fnmatchcase(n, pattern)]

    def names(self, kind: str) -> list[str]:
        return sorted(self._kind(kind))

    def get(self, kind: str, name: str) -> Entry:
        entries = self._kind(kind)
        if name in entries:
            return entries[name]
        guess = difflib.get_close_matches(name, entries, n=1)
        hint = f"; did you mean '{guess[0]}'?" if guess else ""
        known = ", ".join(sorted(entries)) or "none"
        raise DisentangleError(f"unknown {kind[:-1]} '{name}' (known: {known}){hint}")

    def create(self, kind: str, name: str, *args: Any, **kwargs: Any) -> Any:
        """Build a component; options left as None are dropped so the component's defaults stand."""
        entry = self.get(kind, name)
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        factory = entry.component.factory
        try:
            inspect.signature(factory).bind(*args, **kwargs)
        except TypeError as exc:  # options the factory does not take: the caller's mistake
            raise DisentangleError(f"{kind[:-1]} '{name}' rejected its options: {exc}") from None
        except ValueError:  # no signature to read (a builtin): the call itself will tell
            pass
        try:
            return factory(*args, **kwargs)
        except (DisentangleError, OSError):
            raise
        except Exception as exc:  # a bug in the plugin: name it (--debug shows the traceback)
            raise PluginError(entry.plugin, f"failed to build its {kind[:-1]} '{name}': "
                                            f"{type(exc).__name__}: {exc}") from exc

    def plugins(self) -> list[PluginInfo]:
        infos = []
        for plugin_name in sorted(n for n, p in self.pm.list_name_plugin() if p is not None):
            registers = {
                kind: [e.name for e in self.list(kind) if e.plugin == plugin_name] for kind in KINDS
            }
            dist = self._dists.get(plugin_name)
            infos.append(PluginInfo(
                name=plugin_name,
                distribution=dist.metadata["Name"] if dist is not None else None,
                version=dist.version if dist is not None else None,
                registers={k: v for k, v in registers.items() if v},
            ))
        return infos

    def _kind(self, kind: str) -> dict[str, Entry]:
        if kind not in self._entries:
            raise DisentangleError(f"unknown component kind '{kind}' (known: {', '.join(KINDS)})")
        return self._entries[kind]


_current: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loaded from entry points on first use."""
    global _current
    if _current is None:
        _current = Registry()
    return _current


def set_registry(registry: Registry | None) -> Registry | None:
    """Swap the process-wide registry (tests); returns the previous one. None reloads lazily."""
    global _current
    previous, _current = _current, registry
    return previous
