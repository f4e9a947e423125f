"""``vautoml search status RUN_ID``: a search's state, trials and workers, from another terminal while it runs.

What is read, and how a run's state is told, is :mod:`vertical_automl.search_engine.run_status`'s;
this prints it.  No Keras loads, so it answers at once beside a search that trains.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .options import REGISTRY_OPTION, registry_root
from .output import console, number

if TYPE_CHECKING:
    from ..search_engine.run_status import RunStatus, TrialRow

ERROR_WIDTH = 90  # characters of a trial's error or note in the table; --json has it whole
_AS_OF = " (as of the last trial to end)"  # a run in progress writes its time used after each trial


@click.command("status")
@click.argument("run_id", metavar="RUN_ID")
@REGISTRY_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
@click.pass_context
def status(ctx: click.Context, run_id: str, root: Path | None, as_json: bool) -> None:
    """Show a search's state, trials and workers.

    Running (a live process holds the run), interrupted (continue it with
    --resume), finished (where it was exported) or failed; the trials with
    their scores, epochs, seconds, workers and errors, running ones included.
    """
    from ..search_engine.run_status import read_status

    parent = ctx.parent.params.get("registry") if ctx.parent is not None else None  # vautoml search --registry R status
    found = read_status(registry_root(root if root is not None else parent), run_id)
    if as_json:
        click.echo(json.dumps(asdict(found), indent=2))
        return
    for line in summary_lines(found):
        click.echo(line)
    if found.trials:
        _print_tables(found)
    click.echo(f"next: {found.next_step}")
    if found.watch:
        click.echo("watch the same study with Optuna's tools:")
        for command in found.watch:
            click.echo(f"  {command}")


def summary_lines(found: RunStatus) -> list[str]:
    """The lines above the table: the state, how the search was asked for, its trials by status, and the best one."""
    held = f" (process {found.held_by} holds it)" if found.held_by else ""
    lines = [f"run {found.run_id}: {found.state}{held}; {found.folder}"]
    if found.plugin is not None:
        cap = f"at most {found.trial_cap} trials" if found.trial_cap is not None else "no trial cap"
        epochs = f", at most {found.max_epochs} epochs each" if found.max_epochs is not None else ""
        budget = f", time budget {_duration(found.time_budget_seconds)}" if found.time_budget_seconds else ""
        left = f" ({_duration(found.time_left_seconds)} left)" if found.time_left_seconds is not None else ""
        lines.append(f"plugin {found.plugin}, tuner {found.tuner}, {cap}{epochs}{budget}{left}")
    if found.seconds_used is not None:
        lines.append(f"time used: {_duration(found.seconds_used)}" + ("" if found.state == "finished" else _AS_OF))
    if found.counts:
        counts = ", ".join(
            f"{count} {name}" for name, count in found.counts.items() if count or name not in ("interrupted", "stopped")
        )
        lines.append(f"trials: {counts}")
    if found.best_trial is not None:
        direction = f" ({found.direction} is better)" if found.direction else ""
        lines.append(f"best: trial {found.best_trial}, score {number(found.best_score)}{direction}")
    if found.stop_reason:
        lines.append(f"search stopped: {found.stop_reason}")
    return lines


def _print_tables(found: RunStatus) -> None:
    from rich.markup import escape
    from rich.table import Table

    parallel = any(row.worker for row in found.trials)
    table = Table(title=f"trials of run {escape(found.run_id)}")
    for column in ("trial", "status", "score", "epochs", "seconds", *(("worker",) if parallel else ())):
        table.add_column(column, no_wrap=True)
    table.add_column("error / note")
    for row in found.trials:
        cells = (row.trial_id, row.status, number(row.score), _so_far(row, row.epochs_run), _seconds(row))
        table.add_row(*(escape(cell) for cell in (*cells, *((row.worker or "-",) if parallel else ()), _said(row))))
    console().print(table)
    if found.workers:
        workers = Table(title="workers")
        for column in ("worker", "trials", "last trial", "its status", "log"):
            workers.add_column(column, no_wrap=column != "log")
        for worker in found.workers:
            cells = (worker.name, str(worker.trials), worker.last_trial, worker.last_status, worker.log)
            workers.add_row(*(escape(cell or "-") for cell in cells))
        console().print(workers)


def _so_far(row: TrialRow, value: int | None) -> str:
    """A running trial's epochs are so far; an ended one's are what it trained."""
    return f"{value} so far" if value is not None and row.status == "RUNNING" else number(value)


def _seconds(row: TrialRow) -> str:
    if row.seconds is None:
        return "-"
    return f"{_duration(row.seconds)} so far" if row.status == "RUNNING" else f"{row.seconds:.1f}"


def _said(row: TrialRow) -> str:
    """The error, else the note, cut to the table's width."""
    text = " ".join((row.error or row.note or "-").split())
    return text if len(text) <= ERROR_WIDTH else text[: ERROR_WIDTH - 3] + "..."


def _duration(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``1h02m``: how long, at a glance."""
    whole = round(seconds or 0.0)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
