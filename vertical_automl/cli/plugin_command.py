"""``vautoml plugin new NAME``: start a vertical plugin of one's own (the work is :mod:`vertical_automl.scaffold`)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("plugin")
def plugin_group() -> None:
    """Create vertical plugins."""


@plugin_group.command("new")
@click.argument("name")
@click.option(
    "--directory",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to write the package vautoml-NAME/ into.",
)
def new(name: str, directory: Path) -> None:
    """Write vautoml-NAME/: a vertical with its own loader and model builder, sample data, and conformance tests."""
    from ..scaffold import new_plugin, plugin_names

    path = new_plugin(name, directory)
    names = plugin_names(name)
    click.echo(f"Wrote {path}")
    click.echo(f"Next: pip install -e {path}  then  vautoml plugins list  (shows '{names.name}')")
    click.echo(f"      cd {path} && python -m pytest   (vautoml's conformance suite on the shipped sample)")
