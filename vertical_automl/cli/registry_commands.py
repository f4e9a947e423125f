"""``vautoml registry list/show/compare/rm``: browsing the finished runs of a model registry.

Reading a run needs no Keras (:mod:`vertical_automl.registry.runs`), so these commands start fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import UsageError
from .options import REGISTRY_OPTION, registry_root
from .output import console, number
from .run_details import show_rows


@click.group("registry")
def registry_group() -> None:
    """Browse the model registry: list, show, compare and remove runs."""


@registry_group.command("list")
@click.option("--vertical", help="Only runs of this vertical.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@REGISTRY_OPTION
def registry_list(vertical: str | None, as_json: bool, root: Path | None) -> None:
    """List finished runs, oldest first."""
    from rich.markup import escape
    from rich.table import Table

    from ..registry.runs import list_runs

    rows = [run.summary() for run in list_runs(registry_root(root), vertical)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(
            f"No finished runs in {registry_root(root)}{' for ' + vertical if vertical else ''}. "
            "Start one with: vautoml search --plugin NAME (see 'vautoml plugins list')",
            err=True,
        )
        return
    table = Table(title=f"runs in {escape(str(registry_root(root)))}")
    for column in ("run", "vertical", "task", "created", "test metric", "trials", "seconds"):
        table.add_column(column, no_wrap=True)
    table.add_column("data")
    for row in rows:
        if row["damaged"]:  # why is printed below the table: its narrow data column would break the reason into words
            cells = (row["run_id"], row["vertical"], "-", row["created"], "DAMAGED", "-", "-", "see below")
            table.add_row(*(escape(number(v)) for v in cells), style="red")
            continue
        table.add_row(
            *(
                escape(number(v))
                for v in (
                    row["run_id"],
                    row["vertical"],
                    row["task"],
                    row["created"],
                    f"{row['metric']} {number(row['value'])}",
                    row["trials"],
                    f"{row['seconds'] or 0:.0f}",
                    row["data"],
                )
            )
        )
    console().print(table)
    for row in rows:
        if row["damaged"]:
            remove = f"vautoml registry rm {row['path']} --yes"
            click.echo(f"run {row['run_id']} is damaged: {row['damaged']}; remove it with '{remove}'")


@registry_group.command("show")
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest and report as JSON.")
@REGISTRY_OPTION
def registry_show(run: str, as_json: bool, root: Path | None) -> None:
    """Show one run (by id or folder): data, search, best hyperparameters, test metrics, files."""
    from rich.markup import escape
    from rich.table import Table

    from ..registry.runs import find_run

    found = find_run(registry_root(root), run)
    if as_json:
        shown = {"path": str(found.path), "manifest": found.manifest.to_json(), "report": found.report.to_json()}
        click.echo(json.dumps(shown, indent=2))
        return
    table = Table(title=f"run {escape(found.run_id)}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for field, text in show_rows(found):
        table.add_row(escape(field), escape(str(text)))
    console().print(table)


@registry_group.command("compare")
@click.argument("runs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON (rows of run id -> value).")
@REGISTRY_OPTION
def registry_compare(runs: tuple[str, ...], as_json: bool, root: Path | None) -> None:
    """Compare runs side by side: test metrics, search summary and best hyperparameters."""
    from rich.markup import escape
    from rich.table import Table

    from ..registry.runs import comparison, find_run

    if len(runs) < 2:
        raise UsageError(
            "compare needs at least two runs", "pass two or more run ids, e.g. from 'vautoml registry list'"
        )
    found = [find_run(registry_root(root), run) for run in runs]
    rows = comparison(found)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="run comparison")
    table.add_column("", no_wrap=True)
    for run in found:
        table.add_column(escape(run.run_id), no_wrap=True)
    for key, values in rows.items():
        cells = [number(values.get(run.run_id)) for run in found]
        style = "bold" if len(set(cells)) > 1 else None
        table.add_row(escape(key), *(escape(cell) for cell in cells), style=style)
    console().print(table)


@registry_group.command("rm")
@click.argument("runs", nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@REGISTRY_OPTION
def registry_rm(runs: tuple[str, ...], yes: bool, root: Path | None) -> None:
    """Delete runs from the registry."""
    from ..registry.runs import find_run, remove_run

    found = [find_run(registry_root(root), run, damaged=True) for run in runs]  # removing is what a damaged run needs
    if not yes:
        click.confirm(f"Delete {', '.join(str(run.path) for run in found)}?", abort=True)
    for run in found:
        remove_run(run)
        click.echo(f"removed {run.path}")
