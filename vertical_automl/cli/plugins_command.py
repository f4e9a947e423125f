"""``vautoml plugins list``: what each installed plugin provides, and why one failed to load."""

from __future__ import annotations

import json

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
    help="Print name, distribution, version, verticals, hooks and load errors as JSON.",
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
    if not listing:
        click.echo(
            "No plugins installed. Install a vertical plugin: a package with an entry point in the 'vautoml' group",
            err=True,
        )
