"""Plugin discovery and isolation (pluggy, ``vautoml`` entry-point group).

Every plugin, built-in or third-party, is found through an entry point in the
``vautoml`` group.  A plugin that fails to import, implements a hook that
does not exist, or raises inside a hook is recorded against its name and
distribution and skipped; the other plugins keep working.  Which plugins load
is chosen with two environment variables, each a comma-separated list of
entry-point or distribution names:

* ``VAUTOML_LOAD_PLUGINS``: load only these (set but empty: load none);
* ``VAUTOML_DISABLE_PLUGINS``: load all but these.

A name in either that matches no installed entry point is recorded as a
plugin of its own with an error (``vautoml plugins list`` shows it, ``search``
warns), and the unknown-vertical error names it: a typo in the variable is
otherwise invisible, and looks like a missing plugin.

A data loader registered for a vertical no installed plugin provides, or one
whose declaration is invalid, is refused with an error on the registering
plugin's record.  What the plugins registered is handed out as guarded copies
(:mod:`.plugin_calls`), so a crash in a plugin's code, wherever the core calls
it, names the plugin and the function.
"""

from __future__ import annotations

import difflib
import functools
import importlib.metadata
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pluggy

from . import hookspecs
from .data.input_kind import InputKind
from .data.kinds import CORE_KINDS
from .data.loader import DataLoader
from .errors import PluginError
from .plugin_calls import guard_kind, guard_loader, guard_vertical
from .plugin_records import NOT_INSTALLED, PluginRecord, ProvidedLoader
from .vertical import Vertical

ENTRY_POINT_GROUP = "vautoml"


def _names(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


class InstalledPlugins:
    """The installed plugins this process loaded, and what they registered: verticals, data loaders, commands."""

    def __init__(self, environ: Mapping[str, str] | None = None, plugins: Sequence[tuple[str, object]] = ()) -> None:
        """Load entry-point plugins chosen by ``environ``, plus ``plugins`` given as (name, object) pairs."""
        environ = os.environ if environ is None else environ
        self.manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.manager.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.verticals: dict[str, tuple[Vertical, PluginRecord]] = {}
        self.conflicts: dict[str, list[PluginRecord]] = {}
        self.extra_loaders: dict[str, list[DataLoader]] = {}  # loaders register_data_loaders adds, by vertical
        self.extra_loader_owners: list[tuple[DataLoader, PluginRecord]] = []  # the same, with who registered each
        self.input_kinds: dict[str, tuple[InputKind, PluginRecord]] = {}  # kinds plugins' loaders declare, by name
        self.unknown_names: dict[str, list[str]] = {}  # selection variable -> errors about names nothing installed has
        only = _names(environ.get("VAUTOML_LOAD_PLUGINS"))
        disabled = _names(environ.get("VAUTOML_DISABLE_PLUGINS")) or set()
        installed = self._load_entry_points(only, disabled)
        for name, plugin in plugins:
            self._register(plugin, self._new_record(name, "unpackaged", "0"))
        selections = {"VAUTOML_LOAD_PLUGINS": only or set(), "VAUTOML_DISABLE_PLUGINS": disabled}
        self._record_unknown_names(installed, selections)
        self._collect_verticals()
        self._collect_loaders()
        self._collect_input_kinds()
        self._guard_plugin_code()

    # -- discovery ---------------------------------------------------------

    def _new_record(self, name: str, distribution: str, version: str) -> PluginRecord:
        record = PluginRecord(name, distribution, version)
        if name in self.records:
            record.errors.append(f"plugin name '{name}' is already used by {self.records[name].distribution}; skipped")
            self.records[f"{name}@{distribution}"] = record
            return record
        self.records[name] = record
        return record

    def _load_entry_points(self, only: set[str] | None, disabled: set[str]) -> dict[str, str]:
        """Load the selected entry points; return every installed one, entry-point name to distribution."""
        installed = {}
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = entry_point.dist
            distribution = dist.metadata["Name"] if dist is not None else "unknown"
            installed[entry_point.name] = distribution
            wanted = {entry_point.name, distribution}
            if (only is not None and not wanted & only) or wanted & disabled:
                continue
            record = self._new_record(entry_point.name, distribution, dist.version if dist is not None else "unknown")
            if record.errors:
                continue
            try:
                plugin = entry_point.load()
            except Exception as error:  # any import failure must not stop the others
                record.errors.append(f"failed to import {entry_point.value}: {type(error).__name__}: {error}")
                continue
            self._register(plugin, record)
        return installed

    def _record_unknown_names(self, installed: dict[str, str], selections: dict[str, set[str]]) -> None:
        """Record each name in a selection variable that no installed entry point or distribution has."""
        known = set(installed) | set(installed.values())
        listed = ", ".join(sorted(installed)) or "none"
        for variable, names in selections.items():
            for name in sorted(names - known - set(self.records)):  # in-process plugins are not selected, yet known
                close = difflib.get_close_matches(name, sorted(known), n=1)
                guess = f"did you mean '{close[0]}'? " if close else ""
                error = f"{variable} names '{name}', which is not installed ({guess}installed: {listed})"
                self._new_record(name, NOT_INSTALLED, "").errors.append(error)
                self.unknown_names.setdefault(variable, []).append(error)

    def _register(self, plugin: object, record: PluginRecord) -> None:
        """Register one plugin object, rejecting hooks the specification does not know."""
        if record.errors:
            return
        unknown = [
            name
            for name in dir(plugin)
            if self.manager.parse_hookimpl_opts(plugin, name) is not None and not hasattr(hookspecs, name)
        ]
        if unknown:
            known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("register_")))
            record.errors.append(f"implements unknown hook(s) {', '.join(unknown)} (known: {known})")
            return
        try:
            self.manager.register(plugin, name=record.name)
        except (pluggy.PluginValidationError, ValueError) as error:
            record.errors.append(f"invalid hook implementation: {error}")
            return
        record.hooks = sorted(caller.name for caller in self.manager.get_hookcallers(plugin) or [])

    def call_each(self, hook_name: str, arguments: Callable[[PluginRecord], dict[str, Any]]) -> set[str]:
        """Call every implementation of a hook on its own, so a failure stays with its plugin.

        ``arguments(record)`` gives the keyword arguments for one plugin.
        Returns the names of the plugins whose implementation raised.
        """
        failed = set()
        for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
            record = self.records[impl.plugin_name]
            kwargs = arguments(record)
            try:
                impl.function(*[kwargs[arg] for arg in impl.argnames])
            except Exception as error:  # a plugin bug must not take the others down
                record.errors.append(f"{hook_name} failed: {type(error).__name__}: {error}")
                failed.add(record.name)
        return failed

    # -- what plugins registered ------------------------------------------

    def _collect_verticals(self) -> None:
        offered: dict[str, list[Any]] = {}
        failed = self.call_each(
            "register_verticals", lambda record: {"register": offered.setdefault(record.name, []).append}
        )
        claims: dict[str, list[tuple[Vertical, PluginRecord]]] = {}
        for plugin_name, registered in offered.items():
            record = self.records[plugin_name]
            if plugin_name in failed:
                continue
            for vertical in registered:
                problems = (
                    vertical.problems()
                    if isinstance(vertical, Vertical)
                    else [f"registered {vertical!r}, which is not a Vertical"]
                )
                if problems:
                    record.errors.extend(problems)
                    continue
                claims.setdefault(vertical.name, []).append((vertical, record))
                record.verticals.append(vertical.name)
                record.loaders += [ProvidedLoader(vertical.name, loader) for loader in vertical.loaders]
        for name, owners in claims.items():
            if len(owners) == 1:
                self.verticals[name] = owners[0]
                continue
            self.conflicts[name] = [record for _, record in owners]
            both = " and ".join(record.label for record in self.conflicts[name])
            for record in self.conflicts[name]:
                record.errors.append(f"vertical '{name}' is registered by two plugins: {both}")

    def _collect_loaders(self) -> None:
        """Take the extra loaders each plugin registers: valid ones, for a vertical an installed plugin provides.

        A refused loader is an error on the registering plugin's record (shown
        by ``vautoml plugins list``); one for an unknown vertical is also listed
        there, flagged, since a misspelt vertical name is the usual cause.
        """
        self._extra: list[tuple[str, DataLoader, PluginRecord]] = []  # (vertical, loader, owner), as registered
        offered: dict[str, list[tuple[Any, Any]]] = {}

        def registrar(record: PluginRecord) -> Callable[..., None]:
            def register(loader: DataLoader, vertical: str) -> None:
                offered.setdefault(record.name, []).append((loader, vertical))

            return register

        failed = self.call_each("register_data_loaders", lambda record: {"register": registrar(record)})
        available = ", ".join(sorted(self.verticals)) or "none"
        for plugin_name, registered in offered.items():
            record = self.records[plugin_name]
            if plugin_name in failed:  # as with verticals: a hook that raised registers nothing
                continue
            for loader, vertical in registered:
                if not isinstance(loader, DataLoader):
                    record.errors.append(f"registered {loader!r} as a data loader, which is not a DataLoader")
                    continue
                problems = loader.problems()
                if problems:
                    record.errors.extend(problems)
                    continue
                if vertical not in self.verticals and vertical not in self.conflicts:
                    record.errors.append(
                        f"registers loader '{loader.name}' for vertical '{vertical}', "
                        f"which no installed plugin provides (available: {available})"
                    )
                    record.loaders.append(ProvidedLoader(str(vertical), loader, vertical_installed=False))
                    continue
                self._extra.append((vertical, loader, record))
                record.loaders.append(ProvidedLoader(vertical, loader))

    def _collect_input_kinds(self) -> None:
        """Index the input kinds the loaders declare; one name must mean one kind, across all plugins."""
        offered: list[tuple[DataLoader, PluginRecord]] = [
            (loader, record) for vertical, record in self.verticals.values() for loader in vertical.loaders
        ]
        offered += [(loader, record) for _, loader, record in self._extra]
        for loader, record in offered:
            kind = loader.kind
            if kind is None:
                continue
            known = self.input_kinds.get(kind.name)
            if kind.name in CORE_KINDS and kind != CORE_KINDS[kind.name]:  # a bundle finds the core's first
                record.errors.append(
                    f"loader '{loader.name}' declares input kind '{kind.name}', the name of one of the core's kinds; "
                    "give it another name"
                )
            elif known is None:
                self.input_kinds[kind.name] = (kind, record)
            elif known[0] != kind:
                record.errors.append(
                    f"loader '{loader.name}' declares input kind '{kind.name}', "
                    f"which {known[1].label} already declares differently; give one of them another name"
                )

    def _guard_plugin_code(self) -> None:
        """Hand out copies of what plugins registered whose crashes name the plugin (:mod:`.plugin_calls`).

        Done once, here, so every caller (search, predict, evaluate, export)
        gets the guarded copies; the checks above ran on the originals.
        """
        self.verticals = {
            name: (guard_vertical(vertical, record.label), record)
            for name, (vertical, record) in self.verticals.items()
        }
        self.extra_loaders, self.extra_loader_owners = {}, []
        for vertical, loader, record in self._extra:
            guarded = guard_loader(loader, record.label)
            self.extra_loaders.setdefault(vertical, []).append(guarded)
            self.extra_loader_owners.append((guarded, record))
        self.input_kinds = {
            name: (guard_kind(kind, record.label), record)  # type: ignore[misc]
            for name, (kind, record) in self.input_kinds.items()
        }

    def get_vertical(self, name: str) -> tuple[Vertical, PluginRecord]:
        """The vertical called ``name`` and the plugin that registered it."""
        if name in self.conflicts:
            owners = " and ".join(record.label for record in self.conflicts[name])
            disable = self.conflicts[name][-1].name
            raise PluginError(
                f"vertical '{name}' is registered by two plugins: {owners}",
                f"uninstall one, or disable it with VAUTOML_DISABLE_PLUGINS={disable}",
            )
        if name not in self.verticals:
            available = ", ".join(sorted(self.verticals)) or "none loaded"
            broken = [
                record.label
                for record in self.records.values()
                if record.installed and record.errors and not record.verticals
            ]
            hint = f"; these plugins failed to load: {', '.join(broken)} (see 'vautoml plugins list')" if broken else ""
            problem = f"unknown plugin or vertical '{name}' (available: {available}){hint}"
            unknown = self.unknown_names.get("VAUTOML_LOAD_PLUGINS")  # a typo there leaves the wanted plugin out
            if unknown:
                raise PluginError(
                    f"{problem}; {'; '.join(unknown)}",
                    "set VAUTOML_LOAD_PLUGINS to installed entry-point or distribution names, "
                    "comma-separated, or unset it to load every plugin",
                )
            raise PluginError(problem, "pick one of the available names, or install the plugin that provides it")
        return self.verticals[name]

    def loaders_for(self, name: str) -> tuple[DataLoader, ...]:
        vertical, _ = self.get_vertical(name)
        return tuple(vertical.loaders) + tuple(self.extra_loaders.get(name, ()))

    def listing(self) -> list[dict[str, Any]]:
        return [record.as_dict() for record in self.records.values()]


@functools.lru_cache(maxsize=1)
def get_plugins() -> InstalledPlugins:
    """This process's plugins, loaded once on first use."""
    return InstalledPlugins()
