"""The ``--registry`` option that the registry and model commands share, and the folder it defaults to."""

from __future__ import annotations

from pathlib import Path

import click

REGISTRY_OPTION = click.option(
    "--registry",
    "root",
    type=click.Path(path_type=Path),
    default=None,
    help="Model registry folder. Default: $VAUTOML_REGISTRY or ./registry.",
)


def registry_root(root: Path | None) -> Path:
    """``--registry`` if given, else ``$VAUTOML_REGISTRY`` or ``./registry``."""
    from ..registry.layout import default_root

    return root if root is not None else default_root()
