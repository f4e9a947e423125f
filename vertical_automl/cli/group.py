"""The ``vautoml`` group: ``--debug``, the built-in commands, and one readable line for every failure.

A user error (:class:`~vertical_automl.errors.VautomlError`, or a bad flag)
is one ``Error: ... Fix: ...`` line and its exit code, never a traceback;
``--debug`` or ``VAUTOML_DEBUG`` shows the traceback instead.
"""

from __future__ import annotations

import os
from typing import Any

import click

from ..errors import RunInterrupted, StorageError, VautomlError
from .model_commands import evaluate, export_command, predict
from .plugin_command import plugin_group
from .plugins_command import plugins
from .registry_commands import registry_group
from .search_command import search
from .serve_command import serve
from .worker_command import worker


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
            from ..registry.disk import disk_full

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


main.add_command(plugins)
main.add_command(plugin_group)
main.add_command(search)
main.add_command(registry_group)
main.add_command(predict)
main.add_command(evaluate)
main.add_command(export_command)
main.add_command(serve)
main.add_command(worker)
