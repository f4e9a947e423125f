"""``vautoml search``: its flags, how they become a search (or the resume of one), and the lines it ends with.

``search`` is a group so that ``vautoml search status RUN_ID`` (:mod:`.status_command`)
sits beside it, while ``vautoml search --plugin ...`` runs a search as ever.
Keras and torch load only once a search runs (:mod:`vertical_automl.pipeline`),
so ``vautoml search --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import UsageError
from ..plugins import get_plugins
from ..search_engine.study import MAX_WORKERS
from ..settings import (
    CROSS_VALIDATED_ROWS,
    DEFAULT_FOLDS,
    DEFAULT_MAX_TRIALS,
    MAX_BATCH,
    MAX_DEVICES,
    MAX_EPOCHS,
    MAX_FOLDS,
    MIN_BATCH,
    MIN_EPOCHS,
    ROWS_PER_BATCH_UNIT,
    ROWS_PER_BUDGET_SECOND,
    TARGET_STEPS,
    TUNERS,
    SearchSettings,
    parse_duration,
)
from .output import metrics_summary
from .status_command import status

if TYPE_CHECKING:
    from ..pipeline import SearchResult

DEFAULTS = SearchSettings()


def _parse_options(pairs: tuple[str, ...]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"'{pair}' is not KEY=VALUE (e.g. image_size=32)", param_hint="--data-option")
        options[key.strip()] = value.strip()
    return options


def _parse_duration(text: str | None) -> float | None:
    """'90s', '10m', '1h' or plain seconds."""
    if text is None:
        return None
    seconds = parse_duration(text)
    if seconds is None:
        raise click.BadParameter(f"'{text}' is not a duration such as 90s, 10m or 1h", param_hint="--time-budget")
    return seconds


def _loader_options(
    pairs: tuple[str, ...],
    target_column: str | None,
    text_column: str | None,
    no_header: bool,
    missing_values: tuple[str, ...],
) -> dict[str, str]:
    """-O pairs plus the table and text flags, which are shorthands for loader options.

    ``loading.OPTION_FLAGS`` maps these keys back to their flags, so a loader
    that does not take one is refused naming the flag the user typed.
    """
    options = _parse_options(pairs)
    flags = {
        "target_column": target_column,
        "text_column": text_column,
        "header": "false" if no_header else None,
        "missing_values": ";".join(missing_values) if missing_values else None,
    }
    for key, value in flags.items():
        if value is not None:
            options[key] = value
    return options


def _process_started() -> float:
    """This process's start as a ``time.monotonic()`` value, so a time budget also covers interpreter start-up.

    Read from /proc on Linux; elsewhere it is now.
    """
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return time.monotonic() - max(0.0, age)
    except (OSError, IndexError, ValueError, AttributeError):
        return time.monotonic()


def _progress(quiet: bool, verbose: bool) -> Any:
    """Live display on a terminal; plain log lines with --quiet, --verbose (Keras prints its own bars) or a pipe."""
    from ..search_engine.progress import LiveProgress, LogProgress

    if quiet or verbose or not sys.stderr.isatty():
        return LogProgress()
    return LiveProgress()


# Flags that --resume cannot change: the run continues with the request it started with.
_REQUEST_FLAGS = tuple(
    "plugin data test_data target_column text_column no_header missing_values data_options config tuner max_trials"
    " epochs batch_size time_budget max_failed_trials folds devices refit cost_fp cost_fn seed run_name storage".split()
)


@click.group(invoke_without_command=True, subcommand_metavar="[status RUN_ID]")
@click.option("--plugin", "plugin", help="Vertical to search: one of the installed ones (see 'vautoml plugins list').")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    help="Training data: an image folder, .npz/.h5, a CSV/TSV/Parquet table or a folder of .txt files per class. "
    "Default: the vertical's built-in dataset.",
)
@click.option(
    "--test-data",
    type=click.Path(path_type=Path),
    help="Held-out test data in the same format. Default: a stratified 20% of --data.",
)
@click.option(
    "--target-column",
    metavar="NAME|POS",
    help="Tables: the column to predict, by name or 1-based position (-1 = last). "
    "Default: a column named target/label/class/y/outcome, else the last.",
)
@click.option(
    "--text-column",
    metavar="NAME|POS",
    help="Text tables: the column holding the text. Default: the column with clearly the longest cells.",
)
@click.option(
    "--no-header", is_flag=True, help="Tables: the first line is data; columns are named column_1, column_2, ..."
)
@click.option(
    "--missing-values",
    multiple=True,
    metavar="[COLS=]VALUES",
    help="Tables: extra values that mean missing, for every column (0) or some (glucose,bmi=0). Repeatable.",
)
@click.option(
    "--data-option",
    "-O",
    "data_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Loader option, e.g. -O image_size=32, -O categorical=zip, -O positive_class=bad.",
)
@click.option(
    "--config",
    type=click.Path(path_type=Path),
    help="A search.toml: [search] settings and the [space] to search (depth, width, initializers, optimizers, "
    "learning rates, schedules, dropout, L1/L2, batch norm, batch size). Flags win over it.",
)
@click.option("--tuner", type=click.Choice(TUNERS), show_default=DEFAULTS.tuner)
@click.option(
    "--max-trials",
    type=click.IntRange(1),
    help="Most hyperparameter sets to try. "
    f"Default: no cap with --time-budget (the budget ends the search), else {DEFAULT_MAX_TRIALS}.",
)
@click.option(
    "--epochs",
    type=click.IntRange(1),
    help="Most epochs per trial (early stopping may end sooner). "
    f"Default: about {TARGET_STEPS} optimizer steps, {MIN_EPOCHS} to {MAX_EPOCHS} epochs.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    help=f"Default: from the training rows, one in {ROWS_PER_BATCH_UNIT}, "
    f"a power of two from {MIN_BATCH} to {MAX_BATCH}.",
)
@click.option(
    "--time-budget",
    metavar="DURATION",
    help="Wall-clock budget for the whole run up to the export, e.g. 90s, 10m, 1h: time is kept back for the refit, "
    "no trial starts once it is needed, a running one stops at its next epoch end.",
)
@click.option(
    "--max-failed-trials",
    type=click.IntRange(1, 1000),
    show_default=str(DEFAULTS.max_consecutive_failed_trials),
    help="Consecutive failed trials that end the search (the best completed trial is still exported).",
)
@click.option(
    "--folds",
    type=click.IntRange(1, MAX_FOLDS),
    help="Judge every trial on out-of-fold predictions of this many folds over train+validation, and export each "
    "chosen trial's fold models averaged; 1 = one validation split and a refit. "
    f"Default: {DEFAULT_FOLDS} for tables and text of at most {CROSS_VALIDATED_ROWS} train+validation rows "
    f"({ROWS_PER_BUDGET_SECOND} per second of a shorter --time-budget), else 1.",
)
@click.option(
    "--refit/--no-refit",
    default=True,
    show_default=True,
    help="Refit the best hyperparameters on train+validation, or export the best trial's own weights.",
)
@click.option(
    "--cost-fp",
    type=float,
    help="Binary tasks: cost of a false positive; "
    "with --cost-fn the threshold minimises validation cost (default: Youden's J).",
)
@click.option("--cost-fn", type=float, help="Binary tasks: cost of a false negative.")
@click.option(
    "--seed",
    type=click.IntRange(0, 2**32 - 1),
    show_default=str(DEFAULTS.seed),
    help="Seed for the split, the tuner and Keras.",
)
@click.option(
    "--run-name",
    metavar="NAME",
    help="Name the run (its id). Running the same command again with the same name continues it if it was interrupted.",
)
@click.option(
    "--resume",
    "resume_id",
    metavar="RUN_ID",
    help="Continue an interrupted run with the settings it started with; finished trials are not run again.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, MAX_WORKERS),
    default=None,
    help="Trials run at once, each in its own process with its share of the cores (and one GPU each, where there "
    "are GPUs). More workers join from other terminals or machines with 'vautoml worker RUN_ID'. Default: one per "
    "core (one per GPU), at most 8, or $VAUTOML_WORKERS; 1 with --tuner hyperband or grid; --resume: as the run "
    "started. --workers 1 searches in this one process.",
)
@click.option(
    "--devices",
    type=click.IntRange(1, MAX_DEVICES),
    default=None,
    help="Processes that train each model together, data-parallel: every trial, fold and refit is shared out over "
    "this many GPUs (NCCL) or, without GPUs, CPU processes (gloo), and each worker takes this many GPUs. Default: 1.",
)
@click.option(
    "--storage",
    metavar="URL",
    help="Keep a parallel search's trials in this database (e.g. postgresql+psycopg://user@host/db), for workers "
    "on other machines. Default: an SQLite file in the run folder.",
)
@click.option(
    "--registry",
    type=click.Path(path_type=Path),
    default=None,
    help="Model registry folder. Default: $VAUTOML_REGISTRY or ./registry.",
)
@click.option("--quiet", "-q", is_flag=True, help="No live display: one log line per trial and step.")
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Also show Keras's per-epoch progress bars (implies log lines instead of the live display).",
)
@click.pass_context
def search(
    ctx: click.Context,
    plugin: str | None,
    data: Path | None,
    test_data: Path | None,
    target_column: str | None,
    text_column: str | None,
    no_header: bool,
    missing_values: tuple[str, ...],
    data_options: tuple[str, ...],
    config: Path | None,
    tuner: str | None,
    max_trials: int | None,
    epochs: int | None,
    batch_size: int | None,
    time_budget: str | None,
    max_failed_trials: int | None,
    folds: int | None,
    refit: bool,
    cost_fp: float | None,
    cost_fn: float | None,
    seed: int | None,
    run_name: str | None,
    resume_id: str | None,
    workers: int | None,
    devices: int | None,
    storage: str | None,
    registry: Path | None,
    quiet: bool,
    verbose: bool,
) -> None:
    """Search models for a vertical and export the best one to the registry.

    'vautoml search status RUN_ID' shows a search's trials and workers, from another terminal while it runs.
    """
    if ctx.invoked_subcommand is not None:  # vautoml search status ...: that command does the work
        return
    from ..pipeline import resume as resume_run
    from ..pipeline import search as run_search

    started = _process_started()
    if quiet and verbose:
        raise UsageError("--quiet and --verbose contradict each other", "pass one of them")
    for record in get_plugins().records.values():
        for problem in record.errors:
            click.echo(f"Warning: plugin {record.label}: {problem} (see 'vautoml plugins list')", err=True)
    progress = _progress(quiet, verbose)
    if resume_id is not None:
        conflicting = [
            name for name in _REQUEST_FLAGS if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
        ]
        if conflicting:
            flags = ", ".join("--" + name.replace("_", "-") for name in conflicting)
            raise UsageError(
                f"--resume continues run {resume_id} with the settings it started with", f"leave out {flags}"
            )
        result = resume_run(
            resume_id, registry=registry, progress=progress, verbose=verbose, started=started, workers=workers
        )
    else:
        if plugin is None:
            raise UsageError(
                "missing option --plugin",
                "name a vertical with --plugin NAME (see 'vautoml plugins list'), "
                "or continue an interrupted run with --resume RUN_ID",
            )
        result = run_search(
            plugin,
            data,
            test_data=test_data,
            data_options=_loader_options(data_options, target_column, text_column, no_header, missing_values),
            config=config,
            tuner=tuner,
            max_trials=max_trials,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            time_budget=_parse_duration(time_budget),
            max_failed_trials=max_failed_trials,
            folds=folds,
            devices=devices,
            refit=refit,
            cost_fp=cost_fp,
            cost_fn=cost_fn,
            run_name=run_name,
            registry=registry,
            progress=progress,
            verbose=verbose,
            started=started,
            workers=workers,
            storage=storage,
        )
    _print_outcome(result)


search.add_command(status)


def _print_outcome(result: SearchResult) -> None:
    """What the run did, why it stopped and where its bundle and report are: the last lines of every search."""
    info = result.report["search"]
    trials = info["trials"]
    budget = f" of a {info['time_budget_seconds']:g}s budget" if info["time_budget_seconds"] else ""
    at_once = f" ({info['at_once']} at once)" if info.get("at_once", 1) > 1 else ""
    click.echo(
        f"run {result.run_id}: {trials.get('COMPLETED', 0)}/{trials['total']} trials completed{at_once}, "
        f"{info['time_used_seconds']:.0f}s used{budget} "
        f"(+{result.export_seconds:.1f}s export); {metrics_summary(result.report)}"
    )
    click.echo(f"search stopped: {info['stop_reason']}")
    click.echo(f"exported to {result.path}")
    click.echo(f"report: {result.path / 'report.html'} (open it in a browser)")
