"""Search settings and their defaults, in one light module.

The CLI, :func:`vertical_automl.search` and the KerasTuner glue all read
their defaults from :class:`SearchSettings`, so they cannot drift apart, and
importing it costs nothing (no Keras).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from .space import SpaceConfig

if TYPE_CHECKING:  # pragma: no cover
    from .vertical import Vertical

TUNERS = ("random", "bayesian", "hyperband", "grid")


@dataclass(frozen=True)
class SearchSettings:
    """Knobs of one search.  Defaults give a good digits model in under 3 minutes on 2 CPU cores."""

    tuner: str = "random"
    max_trials: int = 12
    epochs: int = 30
    batch_size: int = 64
    patience: int = 5
    seed: int = 0
    max_consecutive_failed_trials: int = 3
    time_budget: float | None = None  # seconds; None: no limit
    refit: bool = True  # False: export the best trial's own weights
    objective: str | None = None  # None: the vertical's objective for the task
    direction: str | None = None  # "min" or "max"; None: inferred from the objective's name
    space: SpaceConfig = field(default_factory=SpaceConfig)

    def objective_for(self, vertical: "Vertical", task: str) -> tuple[str, str]:
        """The configured objective and direction, else the vertical's for ``task``."""
        if self.objective:
            from .heads import direction_of

            return self.objective, self.direction or direction_of(self.objective)
        return vertical.objective(task)

    def as_json(self) -> dict[str, Any]:
        """Plain JSON, for a run's saved request and its report (``space`` lists only what was configured)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "space"}
        return {**values, "space": self.space.overrides()}

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> "SearchSettings":
        return cls(**{**values, "space": SpaceConfig.from_overrides(values.get("space", {}))})


def parse_duration(text: str) -> float | None:
    """Seconds in '90s', '10m', '1h' or a plain number; ``None`` if it is not a positive duration."""
    value = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        seconds = float(value[:-1]) * units[value[-1]] if value and value[-1] in units else float(value)
    except ValueError:
        return None
    return seconds if seconds > 0 and seconds != float("inf") else None
