"""``vautoml worker RUN_ID``: add a process, on this machine or another, to a parallel search under way.

Everything it needs is in the run folder (:mod:`vertical_automl.pipeline.worker`);
Keras and torch load only once the run has been checked.
"""

from __future__ import annotations

from pathlib import Path

import click

from .options import REGISTRY_OPTION, registry_root


@click.command()
@click.argument("run_id", metavar="RUN_ID")
@REGISTRY_OPTION
@click.option(
    "--threads",
    type=click.IntRange(1, 1024),
    default=None,
    help="CPU threads for this worker. Default: every core of this machine (give fewer when other workers share it).",
)
@click.option("--name", "label", default="joined", show_default=True, help="How the trials this worker runs name it.")
@click.option("--index", type=click.IntRange(0), default=None, hidden=True)  # set by the launcher for its workers
@click.option("--parent", type=int, default=None, hidden=True)  # the launcher's pid: its workers stop when it is gone
@click.option("--quiet", "-q", is_flag=True, help="Only the last line (otherwise one line per trial).")
def worker(
    run_id: str,
    root: Path | None,
    threads: int | None,
    label: str,
    index: int | None,
    parent: int | None,
    quiet: bool,
) -> None:
    """Run trials of the parallel search RUN_ID until it has none left."""
    import os

    from ..pipeline.worker import run_worker
    from ..search_engine.progress import LogProgress, SearchProgress
    from ..search_engine.workers import limit_threads

    if threads is not None:
        limit_threads(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    index = index if index is not None else os.getpid()  # a joined worker draws its own sampler stream
    try:
        summary = run_worker(
            run_id,
            registry_root(root),
            label=label,
            index=index,
            parent=parent,
            progress=SearchProgress() if quiet else LogProgress(),
        )
    except KeyboardInterrupt:
        click.echo(f"Interrupted; the trial this worker had goes back to run {run_id} to run again.", err=True)
        raise SystemExit(130) from None
    ran = ", ".join(summary.trial_ids) if summary.trial_ids else "none"
    click.echo(f"worker {summary.name}: ran {len(summary.trial_ids)} trial(s) ({ran}); run {run_id} has none left")
