"""Calls into plugin code, so that a crash there names the plugin and the function that crashed.

A plugin's builder, loader or input kind is called from deep inside the core
(a trial, the split, ``vautoml predict``); an unexpected ``KeyError`` from
there would read as a vautoml bug, and the user would not know whom to tell.
:class:`InstalledPlugins` therefore hands out copies of what each plugin
registered whose functions are wrapped in :class:`Guarded`: an unexpected
exception becomes a :class:`PluginCrash` naming the plugin (its label, with
distribution and version) and the function, with the original exception kept
as ``__cause__`` (``--debug`` prints both tracebacks).  What a plugin raises on
purpose (any :class:`VautomlError`, such as a loader's ``DataError`` about bad
input) passes through unchanged, and so do ``KeyboardInterrupt`` and
``SystemExit``, which are not ``Exception``\\ s.

The core's own loaders and kinds that a plugin lists (``table_loader()``...)
are not wrapped: a crash in them is vautoml's bug, not the plugin's.  A
loader's encoder is an object made at load time, so it is named where it is
used instead (:func:`encoder_crash`).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .data.input_kind import InputKind
from .data.loader import DataLoader
from .errors import PluginError, VautomlError
from .vertical import Vertical

CRASH_FIX = "this is a bug in the plugin: report it to its authors; --debug shows the traceback"
CORE_PACKAGE = "vertical_automl."


class PluginCrash(PluginError):
    """Plugin code raised an exception it did not mean to; ``plugin`` and ``what`` say whose code and which call."""

    def __init__(self, plugin: str, what: str, error: Exception) -> None:
        self.plugin, self.what, self.error = plugin, what, error
        super().__init__(f"{plugin}: {what} failed: {type(error).__name__}: {error}", CRASH_FIX)

    def __reduce__(self) -> tuple[Any, ...]:  # copy and pickle rebuild it from its parts, not from its message
        return (type(self), (self.plugin, self.what, self.error))


@dataclass(frozen=True)
class Guarded:
    """A plugin function that turns its unexpected exceptions into :class:`PluginCrash`.

    A frozen dataclass rather than a closure, so two guards of the same
    function for the same plugin compare equal (input kinds are compared
    that way) and its repr shows what it wraps.
    """

    function: Callable[..., Any]
    plugin: str
    what: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.function(*args, **kwargs)
        except VautomlError:
            raise
        except Exception as error:
            raise PluginCrash(self.plugin, self.what, error) from error


def guard(function: Any, plugin: str, what: str) -> Any:
    """``function`` wrapped for ``plugin``; ``None``, the core's own functions and guarded ones are left as they are."""
    if function is None or isinstance(function, Guarded) or not callable(function):
        return function
    if (getattr(function, "__module__", None) or "").startswith(CORE_PACKAGE):
        return function
    return Guarded(function, plugin, what)


def guard_kind(kind: InputKind | None, plugin: str) -> InputKind | None:
    """A copy of ``kind`` whose ``read``, ``usage_code`` and ``examples`` name ``plugin`` when they crash."""
    if kind is None:
        return None
    where = f"of the '{kind.name}' input kind"
    return replace(
        kind,
        read=guard(kind.read, plugin, f"read {where}"),
        usage_code=guard(kind.usage_code, plugin, f"usage_code {where}"),
        examples=guard(kind.examples, plugin, f"examples {where}"),
    )


def guard_loader(loader: DataLoader, plugin: str) -> DataLoader:
    """A copy of ``loader`` whose ``can_load``, ``load`` and input kind name ``plugin`` when they crash."""
    where = f"of the '{loader.name}' loader"
    return replace(
        loader,
        can_load=guard(loader.can_load, plugin, f"can_load {where}"),
        load=guard(loader.load, plugin, f"load {where}"),
        kind=guard_kind(loader.kind, plugin),
    )


def guard_vertical(vertical: Vertical, plugin: str) -> Vertical:
    """A copy of ``vertical`` whose builder, dataset, report sections, usage code and loaders name ``plugin``."""
    where = f"of the '{vertical.name}' vertical"
    return replace(
        vertical,
        build_model=guard(vertical.build_model, plugin, f"build_model {where}"),
        default_data=guard(vertical.default_data, plugin, f"default_data {where}"),
        report_sections=guard(vertical.report_sections, plugin, f"report_sections {where}"),
        usage_code=guard(vertical.usage_code, plugin, f"usage_code {where}"),
        loaders=tuple(guard_loader(loader, plugin) for loader in vertical.loaders),
    )


def encoder_crash(error: Exception, encoder: object | None) -> PluginCrash | None:
    """``error`` as a crash of a plugin's ``encoder`` (named by its class and method), or ``None`` if not its own.

    Encoders are objects a loader creates, so they cannot be wrapped when
    plugins are collected; the core calls this where it fits and applies one.
    The method is the innermost frame of the traceback whose ``self`` is an
    instance of the encoder's class (``fit``, ``transform``, ``spec``...).
    """
    if encoder is None or isinstance(error, VautomlError):
        return None
    cls = type(encoder)
    if cls.__module__.startswith(CORE_PACKAGE):
        return None
    methods = [
        frame.f_code.co_name
        for frame, _ in traceback.walk_tb(error.__traceback__)
        if isinstance(frame.f_locals.get("self"), cls)
    ]
    if not methods:
        return None
    return PluginCrash(f"the encoder {cls.__module__}.{cls.__qualname__}", methods[-1], error)
