"""``vautoml plugins list``: what each installed plugin provides, and why one failed to load."""

from __future__ import annotations

import json
from typing import Any

import click

from ..plugins import get_plugins
from .output import console


@click.group()
def plugins() -> None:
    """Inspect installed vertical plugins."""


@plugins.command("list")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print name, distribution, version, verticals, hooks, loaders (with their -O options) and errors as JSON.",
)
def plugins_list(as_json: bool) -> None:
    """List every installed vautoml plugin and what it provides."""
    listing = get_plugins().listing()
    if as_json:
        click.echo(json.dumps(listing, indent=2))
        return
    from rich.table import Table

    table = Table(title="vautoml plugins")
    for column in ("plugin", "distribution", "version", "verticals", "hooks", "status"):
        table.add_column(column)
    for row in listing:
        status = "[red]" + "; ".join(row["errors"]) + "[/red]" if row["errors"] else "ok"
        table.add_row(
            row["name"],
            row["distribution"],
            row["version"],
            ", ".join(row["verticals"]) or "-",
            ", ".join(row["hooks"]) or "-",
            status,
        )
    console().print(table)
    loaders = loader_table(listing)
    if loaders is not None:
        console().print(loaders)
    if not listing:
        click.echo(
            "No plugins installed. Install a vertical plugin: a package with an entry point in the 'vautoml' group",
            err=True,
        )


def loader_table(listing: list[dict[str, Any]]) -> Any:
    """Each plugin's loaders per vertical, with the ``-O`` options they take; ``None`` when no plugin has any.

    A loader registered for a vertical no installed plugin provides is
    flagged: it is never used, and the vertical name is usually misspelt.
    """
    from rich.markup import escape
    from rich.table import Table

    rows = [
        (row["name"], vertical, loader)
        for row in listing
        for vertical, loaders in row["loaders"].items()
        for loader in loaders
    ]
    if not rows:
        return None
    table = Table(title="data loaders (pass options as -O KEY=VALUE)")
    for column in ("plugin", "vertical", "loader", "reads", "options"):
        table.add_column(column)
    for plugin, vertical, loader in rows:
        options = "\n".join(f"-O {option['name']}: {option['help']}" for option in loader["options"]) or "-"
        where = (
            escape(vertical) if loader["vertical_installed"] else f"[red]{escape(vertical)} (no such vertical)[/red]"
        )
        table.add_row(escape(plugin), where, escape(loader["name"]), escape(loader["description"]), escape(options))
    return table
