"""``--config search.toml``: the search's settings and its shared search space, from one file.

Two tables, both optional::

    [search]                      # anything a search flag sets
    tuner = "bayesian"            # random | bayesian | hyperband | grid
    max_trials = 40
    time_budget = "10m"           # or seconds
    objective = "val_loss"        # direction is inferred, or set direction = "min"

    [space]                       # narrows or widens a dimension for every vertical
    depth = [1, 4]                # [min, max]
    width = [32, 64, 128, 256]
    optimizers = ["adam", "adamw"]
    learning_rate = [3e-4, 3e-3]  # [low, high] for Adam, AdamW, RMSprop
    schedules = ["constant", "cosine"]
    kernel_size = [3, 5]          # a vertical's own dimension (Vertical.dimensions), within its declared range

Every key is checked here, before any data is read, and a mistake is one
line naming the key and what it accepts.  Flags given on the command line
win over the file.  Whether ``objective`` suits the task is checked once the
data says what the task is.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import space
from .errors import UsageError
from .settings import MAX_DEVICES, MAX_FOLDS, TUNERS, parse_duration
from .space import SpaceConfig


@dataclass(frozen=True)
class SearchConfig:
    """A validated config file: search settings (keyed like :func:`vertical_automl.search`'s arguments) and the
    space.
    """

    search: dict[str, Any] = field(default_factory=dict)
    space: SpaceConfig = field(default_factory=SpaceConfig)


class _Invalid(ValueError):
    """A value of the right key but the wrong kind; the message says what is allowed."""


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _Invalid(f"an integer from {low} to {high}")
        return value

    return check


def _positive_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
        raise _Invalid("a positive number")
    return float(value)


def _duration(value: Any) -> float:
    """Seconds as a number, or a string such as '90s', '10m', '1h'."""
    if isinstance(value, str):
        seconds = parse_duration(value)
        if seconds is None:
            raise _Invalid('a duration such as "90s", "10m", "1h" or a number of seconds')
        return seconds
    try:
        return _positive_number(value)
    except _Invalid:
        raise _Invalid('a duration such as "90s", "10m", "1h" or a number of seconds') from None


def _one_of(allowed: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in allowed:
            raise _Invalid("one of " + ", ".join(f'"{a}"' for a in allowed))
        return value

    return check


def _objective(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("val_"):
        raise _Invalid(
            'a validation metric name such as "val_loss", "val_accuracy", "val_auc", "val_mae" or "val_rmse"'
        )
    return value


SEARCH_KEYS: dict[str, Callable[[Any], Any]] = {
    "tuner": _one_of(TUNERS),
    "max_trials": _integer(1, 10_000),
    "epochs": _integer(1, 10_000),
    "batch_size": _integer(1, 1 << 20),
    "patience": _integer(1, 10_000),
    "seed": _integer(0, 2**32 - 1),
    "time_budget": _duration,
    "max_failed_trials": _integer(1, 1000),
    "folds": _integer(1, MAX_FOLDS),
    "devices": _integer(1, MAX_DEVICES),
    "objective": _objective,
    "direction": _one_of(("min", "max")),
}


def _int_range(low: int, high: int) -> Callable[[Any], tuple[int, int]]:
    def check(value: Any) -> tuple[int, int]:
        allowed = f"[min, max], integers with {low} <= min <= max <= {high}"
        if not (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            raise _Invalid(allowed)
        if not low <= value[0] <= value[1] <= high:
            raise _Invalid(allowed)
        return value[0], value[1]

    return check


def _float_range(low: float, high: float, what: str, log: bool = False) -> Callable[[Any], tuple[float, float]]:
    def check(value: Any) -> tuple[float, float]:
        allowed = f"[low, high], {what} with {low:g} {'<' if log else '<='} low <= high <= {high:g}"
        if not (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            raise _Invalid(allowed)
        first, second = float(value[0]), float(value[1])
        if not (low <= first <= second <= high) or (log and first <= 0):
            raise _Invalid(allowed)
        return first, second

    return check


def _choices(describe: str, item: Callable[[Any], bool]) -> Callable[[Any], tuple[Any, ...]]:
    def check(value: Any) -> tuple[Any, ...]:
        if not (isinstance(value, list) and value and all(item(v) for v in value)):
            raise _Invalid(f"a non-empty list of {describe}")
        return tuple(dict.fromkeys(value))

    return check


def _names(allowed: tuple[str, ...]) -> Callable[[Any], tuple[str, ...]]:
    return _choices("names from " + ", ".join(f'"{a}"' for a in allowed), lambda v: v in allowed)


def _penalties(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


SPACE_KEYS: dict[str, Callable[[Any], Any]] = {
    "depth": _int_range(1, 16),
    "width": _choices(
        "integers from 1 to 4096", lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096
    ),
    "initializers": _names(space.INITIALIZERS),
    "optimizers": _names(space.OPTIMIZERS),
    "learning_rate": _float_range(0, 10, "numbers", log=True),
    "learning_rate_sgd": _float_range(0, 10, "numbers", log=True),
    "schedules": _names(space.SCHEDULES),
    "dropout": _float_range(0, 0.9, "rates"),
    "l1": _choices("penalties from 0 to 1", _penalties),
    "l2": _choices("penalties from 0 to 1", _penalties),
    "batch_norm": _choices("true/false", lambda v: isinstance(v, bool)),
    "batch_size": _choices(
        "integers from 1 to 1048576", lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1 << 20
    ),
}


def _declared(value: Any, choices: tuple[Any, ...]) -> bool:
    """Whether ``value`` is one of ``choices``, a bool matching only a bool (``True == 1`` in Python)."""
    return any(value == choice and isinstance(value, bool) == isinstance(choice, bool) for choice in choices)


def dimension_check(dimension: space.Dimension) -> Callable[[Any], tuple[Any, ...]]:
    """The ``[space]`` check of one of a vertical's own dimensions: within what the vertical declares."""
    if dimension.kind == "bool":
        return _choices("true/false", lambda v: isinstance(v, bool))
    if dimension.kind == "choice":
        listed = ", ".join(repr(c) for c in dimension.choices)
        return _choices(f"values from {listed}", lambda v: _declared(v, dimension.choices))
    low, high = dimension.low, dimension.high
    if dimension.kind == "int":
        return _int_range(int(low), int(high))  # type: ignore[arg-type]
    return _float_range(float(low), float(high), "numbers")  # type: ignore[arg-type]


def _checked(
    path: Path, table: str, values: Any, keys: dict[str, Callable[[Any], Any]], own: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``values`` checked key by key; ``own`` are the vertical's own keys among ``keys``, which an error names apart."""
    if not isinstance(values, dict):
        raise UsageError(f"{path}: [{table}] must be a table", f"write it as a [{table}] section")
    checked = {}
    for key, value in values.items():
        if key not in keys:
            shared = ", ".join(k for k in keys if k not in own)
            fix = f"use one of: {shared}, or the vertical's own: {', '.join(own)}" if own else f"use one of: {shared}"
            raise UsageError(f"{path}: unknown key '{key}' in [{table}]", fix)
        try:
            checked[key] = keys[key](value)
        except _Invalid as allowed:
            raise UsageError(f"{path}: [{table}] {key} = {value!r} is not allowed", f"give {allowed}") from None
    return checked


def load_config(path: str | Path, dimensions: tuple[space.Dimension, ...] = ()) -> SearchConfig:
    """Read and validate a search config file; ``dimensions`` are the vertical's own, which ``[space]`` may set too.

    They land in ``SpaceConfig.vertical``, where ``Dimension.value(hp)`` reads
    them.  Their names cannot clash with the shared keys (``Dimension.problems``
    refuses that when the plugin registers the vertical).
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"--config file '{path}' does not exist", "check the path") from None
    except OSError as error:
        raise UsageError(
            f"cannot read --config file '{path}' ({error.strerror})", "check the path and its permissions"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UsageError(
            f"{path} is not valid TOML: {error}", "fix the syntax (see the example in the README)"
        ) from None
    unknown = set(document) - {"search", "space"}
    if unknown:
        raise UsageError(f"{path}: unknown table or key '{sorted(unknown)[0]}'", "use the tables [search] and [space]")
    search = _checked(path, "search", document.get("search", {}), SEARCH_KEYS)
    own = {dimension.name: dimension_check(dimension) for dimension in dimensions}
    values = _checked(path, "space", document.get("space", {}), {**SPACE_KEYS, **own}, tuple(own))
    shared = {key: value for key, value in values.items() if key in SPACE_KEYS}
    vertical = {key: value for key, value in values.items() if key in own}
    return SearchConfig(search=search, space=SpaceConfig(**shared, vertical=vertical))
