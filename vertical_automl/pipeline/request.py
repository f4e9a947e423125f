"""The run request: the arguments of a search, checked and resolved before any data is read.

A named run continues only with the request it started with
(:func:`check_same_request`); ``--resume`` reads it back from ``run.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from ..config import SearchConfig, load_config
from ..errors import UsageError
from ..records import RunRequest
from ..registry.layout import check_writable, interrupted_runs, published_run
from ..registry.run_folder import saved_request
from ..settings import MAX_FOLDS, TUNERS, SearchSettings
from ..space import Dimension


def settings_from(
    config: str | Path | None, refit: bool, dimensions: tuple[Dimension, ...] = (), **given: object
) -> SearchSettings:
    """The search settings: ``search.toml``'s ``[search]`` first, then every argument that is not ``None``.

    ``dimensions`` are the vertical's own (``Vertical.dimensions``): its
    ``[space]`` keys are checked against them, so the vertical is found first.
    """
    loaded = load_config(config, dimensions) if config is not None else SearchConfig()
    chosen = {**loaded.search, **{key: value for key, value in given.items() if value is not None}}
    if "max_failed_trials" in chosen:
        chosen["max_consecutive_failed_trials"] = chosen.pop("max_failed_trials")
    return SearchSettings(**chosen, refit=refit, space=loaded.space)


def build_request(
    plugin: str,
    data: str | Path | None,
    test_data: str | Path | None,
    data_options: Mapping[str, str] | None,
    settings: SearchSettings,
    cost_fp: float | None,
    cost_fn: float | None,
    validation_fraction: float,
    test_fraction: float,
) -> RunRequest:
    """The request with data paths made absolute, so a resume from another folder reads the same files."""
    return RunRequest(
        plugin=plugin,
        data=str(Path(data).resolve()) if data is not None else None,
        test_data=str(Path(test_data).resolve()) if test_data is not None else None,
        data_options=dict(data_options or {}),
        settings=settings,
        cost_fp=cost_fp,
        cost_fn=cost_fn,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
    )


def check_arguments(root: Path, request: RunRequest) -> None:
    """Reject impossible settings before any data is read (the CLI's own checks cover its users)."""
    check_writable(root)
    settings = request.settings
    if settings.tuner not in TUNERS:
        raise UsageError(f"unknown tuner '{settings.tuner}'", f"use one of {', '.join(TUNERS)}")
    limits = (
        ("max_trials", 1, 10_000),
        ("epochs", 1, 10_000),
        ("batch_size", 1, 1 << 20),
        ("patience", 1, 10_000),
        ("seed", 0, 2**32 - 1),
        ("max_consecutive_failed_trials", 1, 1000),
        ("folds", 1, MAX_FOLDS),
    )
    for name, low, high in limits:
        value = getattr(settings, name)
        if value is None and name in (
            "max_trials",
            "epochs",
            "batch_size",
            "patience",
            "folds",
        ):  # chosen later, from the data
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise UsageError(
                f"{name} must be an integer from {low} to {high}, got {value!r}", "pass a value in that range"
            )
    for name, value in (("validation_fraction", request.validation_fraction), ("test_fraction", request.test_fraction)):
        if not 0.05 <= value <= 0.5:
            raise UsageError(f"{name} must be between 0.05 and 0.5, got {value}", "pass a fraction in that range")
    if settings.time_budget is not None and not (settings.time_budget > 0 and math.isfinite(settings.time_budget)):
        raise UsageError(
            f"time_budget must be a positive number of seconds, got {settings.time_budget}", "pass e.g. 300"
        )
    if settings.direction not in (None, "min", "max"):
        raise UsageError(
            f"direction must be 'min' or 'max', got {settings.direction!r}",
            "pass one of them, or leave it out to infer it from the objective",
        )
    for name, value in (("cost_fp", request.cost_fp), ("cost_fn", request.cost_fn)):
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise UsageError(f"{name} must be a positive number, got {value}", "pass e.g. --cost-fp 1 --cost-fn 5")


def check_same_request(root: Path, run_id: str, request: RunRequest) -> None:
    """A named run continues only if it is unfinished and was started with this same request."""
    finished = published_run(root, run_id)
    if finished is not None:
        raise UsageError(
            f"run '{run_id}' already finished and is in {finished}",
            "choose another --run-name, or leave it out for a fresh run id",
        )
    saved = saved_request(root, run_id)
    if saved is not None:
        changed = request.differences(saved)
        if changed:
            raise UsageError(
                f"run '{run_id}' was started with other {', '.join(changed)} than given now",
                "repeat the original command to resume it, use 'vautoml search --resume "
                + run_id
                + "', or choose another --run-name",
            )


def no_run_to_resume(root: Path, run_id: str) -> UsageError:
    """The error for ``--resume`` of a run that is not waiting: finished already, or never started."""
    finished = published_run(root, run_id)
    if finished is not None:
        return UsageError(f"run '{run_id}' already finished and is in {finished}", "there is nothing to resume")
    waiting = interrupted_runs(root)
    hint = (
        f"interrupted runs in {root}: {', '.join(waiting)}"
        if waiting
        else f"there are no interrupted runs in {root}; start one with vautoml search"
    )
    return UsageError(f"no interrupted run '{run_id}' in the registry '{root}'", hint)
