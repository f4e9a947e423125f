"""Finding a run's input kind by name, and rebuilding its fitted encoder from ``preprocessing.json``.

The core's kinds come first and need no plugin: a bundle of tables, text,
images or arrays predicts with its vertical's plugin uninstalled.  Any other
kind is one a plugin's loaders declared (``DataLoader(kind=...)``), so the
plugins are loaded only when the name is not the core's.  This lives outside
``data/`` because it reads the installed plugins, which import ``data/``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .data.encoding import Encoder
from .data.input_kind import InputKind
from .data.kinds import CORE_KINDS
from .errors import DataError, PluginError

if TYPE_CHECKING:  # pragma: no cover - plugins load only for a kind that is not the core's
    from .plugins import InstalledPlugins


def input_kind(name: str, plugins: InstalledPlugins | None = None, plugin: str | None = None) -> InputKind:
    """The input kind called ``name``: the core's, else the one an installed plugin declares.

    ``plugin`` names the plugin the run came from (its manifest's), for the
    fix when no installed plugin declares the kind.
    """
    if name in CORE_KINDS:
        return CORE_KINDS[name]
    if plugins is None:
        from .plugins import get_plugins

        plugins = get_plugins()
    found = plugins.input_kinds.get(name)
    if found is None:
        which = f" ({plugin})" if plugin else ""
        raise DataError(
            f"the input kind '{name}' is not declared by any installed plugin",
            f"install the plugin named in the run's manifest.json{which}",
        )
    return found[0]


def rebuild_encoder(kind: InputKind, spec: dict[str, Any]) -> Encoder | None:
    """The fitted encoder of ``kind`` that ``spec`` describes (``None`` for a kind without one).

    Any failure is the plugin's encoder or a bundle it cannot read; either
    way no prediction may be made with a guessed encoding.
    """
    if kind.encoder is None:
        return None
    try:
        encoder = kind.encoder.from_spec(spec)
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise PluginError(
            f"the encoder {encoder_name(kind.encoder)} of input kind '{kind.name}' cannot be rebuilt from "
            f"preprocessing.json ({type(error).__name__}: {first_line})",
            "install the plugin version named in the run's manifest.json, or implement its from_spec",
        ) from error
    if not isinstance(encoder, kind.encoder):
        raise PluginError(
            f"{encoder_name(kind.encoder)}.from_spec returned {type(encoder).__name__}, not an encoder of its class",
            "return cls(...) from from_spec",
        )
    return encoder


def encoder_name(encoder: type) -> str:
    """An encoder class by module and name, so an error points at the code to fix."""
    return f"{encoder.__module__}.{encoder.__qualname__}"
