"""The ``vautoml`` command line.

Start-up stays light: this module imports click, rich and the plugin
registry only; Keras and torch load inside ``search`` when a search starts.
Every :class:`~vertical_automl.errors.VautomlError` becomes one line on
stderr and a non-zero exit code; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from .errors import RunInterrupted, StorageError, UsageError, VautomlError
from .plugins import get_plugins
from .settings import (
    DEFAULT_MAX_TRIALS,
    MAX_BATCH,
    MAX_EPOCHS,
    MIN_BATCH,
    MIN_EPOCHS,
    ROWS_PER_BATCH_UNIT,
    TARGET_STEPS,
    TUNERS,
    SearchSettings,
    parse_duration,
)

DEFAULTS = SearchSettings()


class VautomlGroup(click.Group):
    """Turns user errors into one line and an exit code, unless --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:  # a bad flag or value: one line like every vautoml error, not click's three
            command = error.ctx.command_path if error.ctx is not None else "vautoml"
            click.echo(f"Error: {error.format_message().rstrip('. ')}. Fix: see '{command} --help'", err=True)
            ctx.exit(error.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except VautomlError as error:
            if _debug(ctx):
                raise
            click.echo(f"Error: {error}{_notes(error)}", err=True)
            ctx.exit(error.exit_code)
        except RunInterrupted as interrupt:
            click.echo(
                f"Interrupted; run {interrupt.run_id} was not exported. "
                f"Continue it with: vautoml search --resume {interrupt.run_id}",
                err=True,
            )
            ctx.exit(130)
        except KeyboardInterrupt:
            click.echo("Interrupted; nothing was written to the registry.", err=True)
            ctx.exit(130)
        except Exception as error:  # an unexpected failure still gets one readable line
            if _debug(ctx):
                raise
            from .registry.disk import disk_full

            if disk_full(error):  # e.g. predict --output on a full disk: not a bug, and nothing to report
                where = getattr(error, "filename", None)
                click.echo(
                    f"Error: the disk is full{f' (writing {where})' if where else ''}: {error}. "
                    "Fix: free space on that disk and run the command again",
                    err=True,
                )
                ctx.exit(StorageError.exit_code)
            click.echo(
                f"Error: unexpected {type(error).__name__}: {error}. "
                f"Fix: re-run with --debug for the traceback and report it{_notes(error) or '.'}",
                err=True,
            )
            ctx.exit(1)


def _notes(error: BaseException) -> str:
    """Notes added on the way up (e.g. that a failed run was kept), on the same line."""
    return "".join(f". {note}" for note in getattr(error, "__notes__", []))


def _debug(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(root.params.get("debug")) or os.environ.get("VAUTOML_DEBUG", "") not in ("", "0")


@click.group(cls=VautomlGroup)
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="vertical-automl")
def main(debug: bool) -> None:
    """vautoml: search, train and export Keras models for industry verticals."""
    if debug:  # read by the search too, which then lets KerasTuner print each failed trial's traceback
        os.environ["VAUTOML_DEBUG"] = "1"


@main.group()
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
    from rich.console import Console
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
    Console(width=max(120, Console().width)).print(table)
    if not listing:
        click.echo(
            "No plugins installed. Install a vertical plugin: a package with an entry point in the 'vautoml' group",
            err=True,
        )


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
    """-O pairs plus the table and text flags, which are shorthands for loader options."""
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


def _summary(report: dict[str, Any]) -> str:
    metrics = report["test_metrics"]
    if report["task"] == "regression":
        return f"test MAE {metrics['mae']:.4g}, RMSE {metrics['rmse']:.4g}, R2 {metrics['r2']:.4f}"
    if report["task"] == "binary":
        binary = metrics["binary"]
        return (
            f"test ROC-AUC {binary['roc_auc']:.4f}, accuracy {metrics['accuracy']:.4f} "
            f"at threshold {binary['threshold']:.3f}, macro F1 {metrics['macro_f1']:.4f}"
        )
    return f"test accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}"


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
    from .search_engine.progress import LiveProgress, LogProgress

    if quiet or verbose or not sys.stderr.isatty():
        return LogProgress()
    return LiveProgress()


# Flags that --resume cannot change: the run continues with the request it started with.
_REQUEST_FLAGS = (
    "plugin",
    "data",
    "test_data",
    "target_column",
    "text_column",
    "no_header",
    "missing_values",
    "data_options",
    "config",
    "tuner",
    "max_trials",
    "epochs",
    "batch_size",
    "time_budget",
    "max_failed_trials",
    "refit",
    "cost_fp",
    "cost_fn",
    "seed",
    "run_name",
)


@main.command()
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
    "--refit/--no-refit",
    default=True,
    show_default=True,
    help="Refit the best hyperparameters on train+validation, or export the best trial's own weights.",
)
@click.option(
    "--cost-fp",
    type=float,
    help="Binary tasks: cost of a false positive; with --cost-fn the threshold minimises validation cost "
    "(default: Youden's J).",
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
    refit: bool,
    cost_fp: float | None,
    cost_fn: float | None,
    seed: int | None,
    run_name: str | None,
    resume_id: str | None,
    registry: Path | None,
    quiet: bool,
    verbose: bool,
) -> None:
    """Search models for a vertical and export the best one to the registry."""
    from .pipeline import resume as resume_run
    from .pipeline import search as run_search

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
        result = resume_run(resume_id, registry=registry, progress=progress, verbose=verbose, started=started)
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
            refit=refit,
            cost_fp=cost_fp,
            cost_fn=cost_fn,
            run_name=run_name,
            registry=registry,
            progress=progress,
            verbose=verbose,
            started=started,
        )
    info = result.report["search"]
    trials = info["trials"]
    budget = f" of a {info['time_budget_seconds']:g}s budget" if info["time_budget_seconds"] else ""
    click.echo(
        f"run {result.run_id}: {trials.get('COMPLETED', 0)}/{trials['total']} trials completed, "
        f"{info['time_used_seconds']:.0f}s used{budget} "
        f"(+{result.export_seconds:.1f}s export); {_summary(result.report)}"
    )
    click.echo(f"search stopped: {info['stop_reason']}")
    click.echo(f"exported to {result.path}")
    click.echo(f"report: {result.path / 'report.html'} (open it in a browser)")


@main.group("registry")
def registry_group() -> None:
    """Browse the model registry: list, show, compare and remove runs."""


_REGISTRY_OPTION = click.option(
    "--registry",
    "root",
    type=click.Path(path_type=Path),
    default=None,
    help="Model registry folder. Default: $VAUTOML_REGISTRY or ./registry.",
)


def _root(root: Path | None) -> Path:
    from .registry.layout import default_root

    return root if root is not None else default_root()


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.1f}"
    return "-" if value is None else str(value)


def _console() -> Any:
    from rich.console import Console

    return Console(width=max(120, Console().width))


@registry_group.command("list")
@click.option("--vertical", help="Only runs of this vertical.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@_REGISTRY_OPTION
def registry_list(vertical: str | None, as_json: bool, root: Path | None) -> None:
    """List finished runs, oldest first."""
    from rich.markup import escape
    from rich.table import Table

    from .registry.runs import list_runs

    rows = [run.summary() for run in list_runs(_root(root), vertical)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(
            f"No finished runs in {_root(root)}{' for ' + vertical if vertical else ''}. "
            "Start one with: vautoml search --plugin NAME (see 'vautoml plugins list')",
            err=True,
        )
        return
    table = Table(title=f"runs in {escape(str(_root(root)))}")
    for column in ("run", "vertical", "task", "created", "test metric", "trials", "seconds"):
        table.add_column(column, no_wrap=True)
    table.add_column("data")
    for row in rows:
        if row["damaged"]:  # why is printed below the table: its narrow data column would break the reason into words
            cells = (row["run_id"], row["vertical"], "-", row["created"], "DAMAGED", "-", "-", "see below")
            table.add_row(*(escape(_number(v)) for v in cells), style="red")
            continue
        table.add_row(
            *(
                escape(_number(v))
                for v in (
                    row["run_id"],
                    row["vertical"],
                    row["task"],
                    row["created"],
                    f"{row['metric']} {_number(row['value'])}",
                    row["trials"],
                    f"{row['seconds'] or 0:.0f}",
                    row["data"],
                )
            )
        )
    _console().print(table)
    for row in rows:
        if row["damaged"]:
            remove = f"vautoml registry rm {row['path']} --yes"
            click.echo(f"run {row['run_id']} is damaged: {row['damaged']}; remove it with '{remove}'")


@registry_group.command("show")
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest and report as JSON.")
@_REGISTRY_OPTION
def registry_show(run: str, as_json: bool, root: Path | None) -> None:
    """Show one run (by id or folder): data, search, best hyperparameters, test metrics, files."""
    from rich.markup import escape
    from rich.table import Table

    from .registry.runs import find_run

    found = find_run(_root(root), run)
    if as_json:
        click.echo(json.dumps({"path": str(found.path), "manifest": found.manifest, "report": found.report}, indent=2))
        return
    report, manifest = found.report, found.manifest
    search = report.get("search", {})
    table = Table(title=f"run {escape(found.run_id)}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    name, value = found.headline()
    budget = f" of a {search['time_budget_seconds']:g}s budget" if search.get("time_budget_seconds") else ""
    rows = [
        ("folder", str(found.path)),
        *((("report", str(found.path / "report.html")),) if (found.path / "report.html").exists() else ()),
        ("vertical / task", f"{manifest.get('vertical')} / {report.get('task')}"),
        ("created", manifest.get("created")),
        ("data", f"{manifest['data'].get('source')} (sha256 {manifest['data'].get('fingerprint', '')[:12]})"),
        ("test data", manifest["data"].get("test_source")),
        (
            "search",
            f"{search.get('tuner')}, objective {search.get('objective')} ({search.get('direction')}), "
            f"best {_number(search.get('best_score'))} in trial {search.get('best_trial')}",
        ),
        (
            "trials",
            ", ".join(f"{k} {v}" for k, v in search.get("trials", {}).items())
            + (f"; stopped early: {search['stopped_early']}" if search.get("stopped_early") else ""),
        ),
        ("time", f"{search.get('time_used_seconds') or 0:.1f}s used{budget}"),
        ("model", report.get("model", {}).get("training")),
        ("test " + name, _number(value)),
        *(
            (f"test {key}", _number(metric))
            for key, metric in {
                **report.get("test_metrics", {}),
                **report.get("test_metrics", {}).get("binary", {}),
            }.items()
            if isinstance(metric, (int, float)) and key != "examples"
        ),
        (
            "best hyperparameters",
            ", ".join(f"{k}={_number(v)}" for k, v in report.get("best_hyperparameters", {}).items()),
        ),
        ("report sections", ", ".join(report.get("sections", {})) or "-"),
        ("versions", ", ".join(f"{k} {v}" for k, v in manifest.get("libraries", {}).items())),
        (
            "exports",
            ", ".join(
                f"{fmt}: {e['file']} (max difference {e['max_abs_difference']:.2g})"
                for fmt, e in manifest.get("exports", {}).items()
            )
            or "-",
        ),
        (
            "files",
            ", ".join(f for f in manifest.get("files", []) if not f.startswith(("logs/", "plots/")))
            + f", {sum(f.startswith('plots/') for f in manifest.get('files', []))} plots"
            f" and {sum(f.startswith('logs/') for f in manifest.get('files', []))} trial logs",
        ),
    ]
    for field, text in rows:
        table.add_row(escape(field), escape(str(text)))
    _console().print(table)


@registry_group.command("compare")
@click.argument("runs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON (rows of run id -> value).")
@_REGISTRY_OPTION
def registry_compare(runs: tuple[str, ...], as_json: bool, root: Path | None) -> None:
    """Compare runs side by side: test metrics, search summary and best hyperparameters."""
    from rich.markup import escape
    from rich.table import Table

    from .registry.runs import comparison, find_run

    if len(runs) < 2:
        raise UsageError(
            "compare needs at least two runs", "pass two or more run ids, e.g. from 'vautoml registry list'"
        )
    found = [find_run(_root(root), run) for run in runs]
    rows = comparison(found)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="run comparison")
    table.add_column("", no_wrap=True)
    for run in found:
        table.add_column(escape(run.run_id), no_wrap=True)
    for key, values in rows.items():
        cells = [_number(values.get(run.run_id)) for run in found]
        style = "bold" if len(set(cells)) > 1 else None
        table.add_row(escape(key), *(escape(cell) for cell in cells), style=style)
    _console().print(table)


@registry_group.command("rm")
@click.argument("runs", nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_REGISTRY_OPTION
def registry_rm(runs: tuple[str, ...], yes: bool, root: Path | None) -> None:
    """Delete runs from the registry."""
    from .registry.runs import find_run, remove_run

    found = [find_run(_root(root), run, damaged=True) for run in runs]  # removing is what a damaged run needs
    if not yes:
        click.confirm(f"Delete {', '.join(str(run.path) for run in found)}?", abort=True)
    for run in found:
        remove_run(run)
        click.echo(f"removed {run.path}")


_MODEL_OPTION = click.option(
    "--model",
    "model",
    required=True,
    metavar="RUN|PATH",
    help="A run id from 'vautoml registry list', or a run folder.",
)


@main.command()
@_MODEL_OPTION
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    required=True,
    help="Raw inputs: a table file (CSV/TSV/Parquet), a .txt file (one text per line) or folder of .txt files, "
    "an image or a folder of images.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Write the predictions to this CSV file instead of standard output.",
)
@_REGISTRY_OPTION
def predict(model: str, data: Path, output: Path | None, root: Path | None) -> None:
    """Predict labels and class probabilities for raw inputs with a finished run's model."""
    import csv
    import io

    from .predictor import load

    predictor = load(model, _root(root))
    if not data.exists():
        raise UsageError(f"--data path '{data}' does not exist", "check the path")
    inputs = predictor.encode(data)
    scores = predictor.scores(inputs)
    labels = predictor.labels(scores)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if predictor.task == "regression":
        writer.writerow(["input", "prediction"])
        writer.writerows([name, f"{value:.6g}"] for name, value in zip(inputs.names, labels))
    else:
        writer.writerow(["input", "label", *(f"probability_{name}" for name in predictor.class_names)])
        writer.writerows(
            [name, label, *(f"{p:.6f}" for p in row)] for name, label, row in zip(inputs.names, labels, scores)
        )
    if output is None:
        click.echo(buffer.getvalue(), nl=False)
        return
    output.write_text(buffer.getvalue(), encoding="utf-8")
    click.echo(f"wrote {len(labels)} predictions to {output}", err=True)


@main.command()
@_MODEL_OPTION
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    required=True,
    help="Labelled data in the training data's format and columns.",
)
@click.option(
    "--output", type=click.Path(path_type=Path), help="Also write the metrics and report sections to this JSON file."
)
@_REGISTRY_OPTION
def evaluate(model: str, data: Path, output: Path | None, root: Path | None) -> None:
    """Score a finished run on labelled data: the search's test metrics and the vertical's report sections."""
    from .bundle.writer import write_json
    from .predictor import evaluate as evaluate_run

    if not data.exists():
        raise UsageError(f"--data path '{data}' does not exist", "check the path")
    result = evaluate_run(model, data, _root(root))
    if output is not None:
        write_json(output, result)
    click.echo(f"run {result['run_id']} on {result['data']} ({result['examples']} examples): {_summary(result)}")
    for name, section in result["sections"].items():
        click.echo(f"  section {name}: {section['title']}")


@main.command("export")
@click.argument("run", metavar="RUN|PATH")
@click.option(
    "--format",
    "fmt",
    required=True,
    metavar="onnx|weights",
    help="onnx: model.onnx for onnxruntime (needs pip install 'vertical-automl[onnx]'); "
    "weights: model.weights.h5 for Keras's load_weights.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Write here instead of into the run folder (a weights file must end in .weights.h5); "
    "the run's manifest is then left as it is.",
)
@_REGISTRY_OPTION
def export_command(run: str, fmt: str, output: Path | None, root: Path | None) -> None:
    """Export a finished run's model as ONNX or Keras weights, checked against the Keras model's predictions."""
    from .export import export_model
    from .registry.runs import find_run

    # Checked by export_model, not click.Choice, so a bad format is one line like every other vautoml error.
    result = export_model(find_run(_root(root), run).path, fmt, output)
    click.echo(
        f"wrote {result.path} (max difference from Keras {result.max_difference:.2g} on {result.inputs_checked} inputs)"
    )


get_plugins().call_each("register_commands", lambda record: {"cli": main})


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(prog_name="vautoml"))
