"""Search settings and their defaults, in one light module.

The CLI, :func:`vertical_automl.search` and the KerasTuner glue all read
their defaults from :class:`SearchSettings`, so they cannot drift apart, and
importing it costs nothing (no Keras).
"""

from __future__ import annotations

from dataclasses import dataclass

TUNERS = ("random", "bayesian", "hyperband", "grid")


@dataclass(frozen=True)
class SearchSettings:
    """Knobs of one search.  Defaults give a good digits model in about 3.5 minutes on 2 CPU cores."""

    tuner: str = "random"
    max_trials: int = 12
    epochs: int = 30
    batch_size: int = 64
    patience: int = 5
    seed: int = 0
    max_consecutive_failed_trials: int = 3
    time_budget: float | None = None  # seconds; None: no limit
    refit: bool = True  # False: export the best trial's own weights
