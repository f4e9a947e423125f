"""Parallel trials: trials per hour at 1 and 2 workers, and two searches at once against one alone.

``vautoml search --workers N`` runs N trials at once, each worker in its own
process with ``cores // N`` threads.  This script runs the real CLI
(``python -m vertical_automl.cli search ... --quiet``) as subprocesses, each
into its own temporary registry, for a table search (finance, German credit)
and an image search (vision, its built-in digits):

* the one-process engine: ``--workers 1`` (KerasTuner's own oracle);
* the parallel engine at one worker: ``--workers 1 --storage sqlite:///...``
  (a fresh SQLite file per run): the Optuna study with a single worker;
* the parallel engine at two workers: ``--workers 2``.

Every run is ``--tuner random --seed 0`` with the same ``--max-trials``,
``--epochs`` and ``--batch-size``, so the parallel engine proposes the same
list of trials at any worker count (values seeded by the trial number); the
script checks that the set of hyperparameter sets in ``trials.json`` is the
same as the parallel engine's at one worker and prints whether it is.  The
one-process engine proposes its own list, so its row is a baseline of the
engine a user gets without ``--workers``, not the same list.

Trials per hour are completed trials over the search phase's wall time
(``report.json``: ``search.phase_seconds.search``, from the data being split
to the last trial read back, worker start-up included) and over the whole
command's wall time (Python and torch start-up, loading, export).  Each
two-worker figure is shown as a ratio against both one-worker baselines
measured in the same run.  The refit is off (``--no-refit``): it is the same
one-process work at any worker count and would only dilute the whole-command
figure.

Concurrency: one one-process table search alone, then two of them (same
settings, separate run names, one registry) started at once, each with its
default threads; the slowdown is the mean wall time of the two over the one
alone.

Aims (issue 16): at least 1.7x the trials per hour for the table search at
two workers; two concurrent searches no slower than 2.5x one alone.  Nothing
is asserted.  Nothing else may run meanwhile (tests, searches, other
benchmarks): on a 2-core machine they take the very cores the workers are
measured on.  Run (from the repository root):

    python benchmarks/parallel.py [--quick] [--trials N] [--epochs E] [--only table,image,concurrent]

With the defaults it takes about 10-15 minutes on 2 cores; ``--quick`` is a
smoke run of a couple of minutes whose figures mean little.  ``--work DIR``
keeps each run's registry (with its worker logs) and output, to see why a
figure is what it is.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VAUTOML_SHARED_DATA", REPO.parent / "shared" / "data"))
GERMAN = SHARED / "german-credit" / "german.csv"
SEED = 0
BATCH_SIZE = 32
TABLE_AIM = 1.7  # trials per hour at 2 workers over 1, at least
CONCURRENT_AIM = 2.5  # two searches at once over one alone, at most
PARTS = ("table", "image", "concurrent")


@dataclass(frozen=True)
class Workload:
    """One search's data and the size of its list of trials (the same at every worker count)."""

    name: str
    arguments: tuple[str, ...]  # --plugin and the data flags
    trials: int
    epochs: int

    def command(self, registry: Path, run_name: str, engine: tuple[str, ...]) -> list[str]:
        return [
            sys.executable,
            "-m",
            "vertical_automl.cli",
            "search",
            *self.arguments,
            "--tuner",
            "random",
            "--seed",
            str(SEED),
            "--max-trials",
            str(self.trials),
            "--epochs",
            str(self.epochs),
            "--batch-size",
            str(BATCH_SIZE),
            "--no-refit",
            "--quiet",
            "--registry",
            str(registry),
            "--run-name",
            run_name,
            *engine,
        ]


@dataclass(frozen=True)
class Engine:
    """How a search runs its trials: its label in the table, its worker count, and whether it is the Optuna study."""

    label: str
    workers: int
    study: bool

    def flags(self, scratch: Path, run_name: str) -> tuple[str, ...]:
        """``--workers``, and for the study at one worker a fresh SQLite storage (the study at 2 uses the run's own)."""
        flags = ("--workers", str(self.workers))
        if self.study and self.workers == 1:
            flags += ("--storage", f"sqlite:///{(scratch / f'{run_name}.db').resolve()}")
        return flags


ONE_PROCESS = Engine("one-process", 1, False)
STUDY_ONE = Engine("parallel", 1, True)
STUDY_TWO = Engine("parallel", 2, True)
ENGINES = (ONE_PROCESS, STUDY_ONE, STUDY_TWO)


@dataclass(frozen=True)
class Measurement:
    """One finished search: its completed trials, search-phase and whole-command seconds, and the trials it ran."""

    workload: str
    engine: Engine
    completed: int
    search_seconds: float
    wall_seconds: float
    trial_set: tuple[str, ...]
    by_worker: str

    @property
    def per_hour_search(self) -> float:
        return per_hour(self.completed, self.search_seconds)

    @property
    def per_hour_wall(self) -> float:
        return per_hour(self.completed, self.wall_seconds)


def per_hour(trials: int, seconds: float) -> float:
    """Trials per hour over a window of ``seconds``."""
    return trials * 3600.0 / seconds if seconds > 0 else float("nan")


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("nan")


def trial_set(rows: list[dict]) -> tuple[str, ...]:
    """The hyperparameter sets a search tried, as a sorted multiset: the order workers finished them in is lost."""
    return tuple(sorted(json.dumps(row["hyperparameters"], sort_keys=True) for row in rows))


def trials_by_worker(rows: list[dict]) -> str:
    """How many trials each worker ran (``w0 7, w1 5``), by the name before its host; empty for one process."""
    counts = Counter(str(row["worker"]).split("@", 1)[0] for row in rows if row.get("worker"))
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))


def slowdown(together: list[float], alone: float) -> float:
    """Mean wall time of the searches run at once over the wall time of one alone."""
    return ratio(sum(together) / len(together), alone)


def verdict(value: float, aim: float, at_least: bool) -> str:
    met = value >= aim if at_least else value <= aim
    return f"{value:.2f}x (aim {'>=' if at_least else '<='} {aim:g}x): {'met' if met else 'NOT met'}"


def markdown(columns: list[str], rows: list[list[str]]) -> str:
    lines = [" | ".join(columns).join(("| ", " |")), "|" + " --- |" * len(columns)]
    return "\n".join([*lines, *(" | ".join(row).join(("| ", " |")) for row in rows)])


def child_environment() -> dict[str, str]:
    """This checkout and its plugins first on the searches' path: the checkout this script is in is measured."""
    paths = [str(REPO), *(str(p) for p in sorted((REPO / "plugins").iterdir()) if p.is_dir())]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")])}


def timed(command: list[str], log: Path) -> float:
    """Run ``command`` to the end with its output in ``log``; its wall seconds, or exit with the log's tail."""
    started = time.perf_counter()
    with open(log, "wb") as out:
        code = subprocess.run(command, env=child_environment(), stdout=out, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - started
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise SystemExit(f"{' '.join(command)}\nexited with code {code}:\n{tail}")
    return seconds


def published(registry: Path, run_name: str) -> Path:
    """The run's bundle folder, ``<registry>/<vertical>/<run>``."""
    found = list(registry.glob(f"*/{run_name}/report.json"))
    if len(found) != 1:
        raise SystemExit(f"no published run {run_name} in {registry}")
    return found[0].parent


def measure(workload: Workload, engine: Engine, scratch: Path) -> Measurement:
    run_name = f"{workload.name}-{engine.label}-{engine.workers}"
    registry = scratch / run_name
    wall = timed(workload.command(registry, run_name, engine.flags(scratch, run_name)), scratch / f"{run_name}.log")
    bundle = published(registry, run_name)
    search = json.loads((bundle / "report.json").read_text())["search"]
    rows = json.loads((bundle / "trials.json").read_text())
    found = Measurement(
        workload.name,
        engine,
        int(search["trials"].get("COMPLETED", 0)),
        float(search["phase_seconds"]["search"]),
        wall,
        trial_set(rows),
        trials_by_worker(rows),
    )
    print(
        f"  {workload.name:<6} {engine.label:<12} {engine.workers} worker(s): {found.completed} trials, "
        f"search {found.search_seconds:.1f} s, wall {wall:.1f} s",
        flush=True,
    )
    return found


def throughput_rows(results: list[Measurement]) -> list[list[str]]:
    """Every run, with the two-worker runs' ratios against both one-worker baselines of the same search."""
    rows = []
    for m in results:
        baselines = {r.engine: r for r in results if r.workload == m.workload}
        reference = baselines.get(STUDY_ONE)
        ratios = []
        for baseline in (ONE_PROCESS, STUDY_ONE):
            other = baselines.get(baseline)
            if m.engine != STUDY_TWO or other is None:
                ratios.append("")
                continue
            by_search = ratio(m.per_hour_search, other.per_hour_search)
            by_wall = ratio(m.per_hour_wall, other.per_hour_wall)
            ratios.append(f"{by_search:.2f}x / {by_wall:.2f}x")
        same = "" if reference is None or m is reference else ("yes" if m.trial_set == reference.trial_set else "no")
        rows.append(
            [
                m.workload,
                m.engine.label,
                str(m.engine.workers),
                str(m.completed),
                m.by_worker,
                f"{m.search_seconds:.1f}",
                f"{m.per_hour_search:.0f}",
                f"{m.wall_seconds:.1f}",
                f"{m.per_hour_wall:.0f}",
                *ratios,
                same,
            ]
        )
    return rows


def concurrency(workload: Workload, scratch: Path) -> tuple[float, list[float]]:
    """Wall seconds of one one-process search alone, then of each of two started at once."""
    registry = scratch / "concurrent"
    alone = timed(workload.command(registry, "alone", ONE_PROCESS.flags(scratch, "alone")), scratch / "alone.log")
    print(f"  one search alone: wall {alone:.1f} s", flush=True)
    names = ("first", "second")
    commands = [workload.command(registry, name, ONE_PROCESS.flags(scratch, name)) for name in names]
    with ThreadPoolExecutor(len(names)) as pool:
        together = list(pool.map(timed, commands, [scratch / f"{name}.log" for name in names]))
    print(f"  two searches at once: wall {' s, '.join(f'{s:.1f}' for s in together)} s", flush=True)
    return alone, together


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings: a smoke run, its figures mean little")
    parser.add_argument("--trials", type=int, help="trials per table search (default 12, --quick 4); images get half")
    parser.add_argument(
        "--epochs", type=int, help="epochs per table trial (default 20, --quick 3); images get a quarter"
    )
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated subset of: " + ", ".join(PARTS))
    parser.add_argument(
        "--work", type=Path, help="keep every run's registry, study and log in this folder (default: a temporary one)"
    )
    args = parser.parse_args()
    parts = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise SystemExit(f"--only {','.join(unknown)}: choose from {', '.join(PARTS)}")
    if {"table", "concurrent"} & set(parts) and not GERMAN.exists():  # the image search needs no shared data
        raise SystemExit(f"{GERMAN} not found; set VAUTOML_SHARED_DATA to the shared data folder")
    if args.work is not None and args.work.exists() and any(args.work.iterdir()):
        raise SystemExit(f"--work {args.work} is not empty: give a new folder (a run name found again would resume)")
    trials = args.trials or (4 if args.quick else 12)
    epochs = args.epochs or (3 if args.quick else 20)
    table = Workload(
        "table", ("--plugin", "finance", "--data", str(GERMAN), "--no-header", "--target-column", "-1"), trials, epochs
    )
    image = Workload("image", ("--plugin", "vision"), max(2, trials // 2), max(1, epochs // 4))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"nproc {cores}; load average before the first run {load} (nothing else should run meanwhile); "
        f"table: {table.trials} trials x {table.epochs} epochs; image: {image.trials} trials x {image.epochs} epochs; "
        f"batch {BATCH_SIZE}, seed {SEED}, random tuner, no refit",
        flush=True,
    )
    results: list[Measurement] = []
    together: tuple[float, list[float]] | None = None
    with tempfile.TemporaryDirectory() as folder:
        scratch = args.work or Path(folder)
        scratch.mkdir(parents=True, exist_ok=True)
        for workload in (w for w in (table, image) if w.name in parts):
            results += [measure(workload, engine, scratch) for engine in ENGINES]
        if "concurrent" in parts:
            together = concurrency(table, scratch)
    report(results, together, cores)


def report(results: list[Measurement], together: tuple[float, list[float]] | None, cores: int | None) -> None:
    print()
    print(f"{cores} cores; nothing else should have run meanwhile.")
    if results:
        columns = [
            "search",
            "engine",
            "workers",
            "trials done",
            "by worker",
            "search s",
            "trials/h (search)",
            "wall s",
            "trials/h (wall)",
            "x one-process (search / wall)",
            "x parallel at 1 (search / wall)",
            "same trials as parallel at 1",
        ]
        print()
        print(markdown(columns, throughput_rows(results)))
    print()
    for m in results:
        if m.engine == STUDY_TWO:
            for baseline in (ONE_PROCESS, STUDY_ONE):
                other = next((r for r in results if r.workload == m.workload and r.engine == baseline), None)
                if other is None:
                    continue
                value = ratio(m.per_hour_search, other.per_hour_search)
                shown = verdict(value, TABLE_AIM, at_least=True) if m.workload == "table" else f"{value:.2f}x"
                print(f"- {m.workload}, 2 workers over {baseline.label} at 1, trials/h of the search phase: {shown}")
    if together is not None:
        alone, both = together
        rows = [["one alone", "1", f"{alone:.1f}", ""]]
        rows.append(["two at once", "2", " / ".join(f"{s:.1f}" for s in both), f"{slowdown(both, alone):.2f}x"])
        print()
        print(markdown(["table searches (one-process)", "at once", "wall s", "slowdown"], rows))
        print()
        print(f"- two concurrent searches over one alone: {verdict(slowdown(both, alone), CONCURRENT_AIM, False)}")


if __name__ == "__main__":
    main()
