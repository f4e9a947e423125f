"""Search settings and their defaults, in one light module.

The CLI, :func:`vertical_automl.search` and the KerasTuner glue all read
their defaults from :class:`SearchSettings`, so they cannot drift apart, and
importing it costs nothing (no Keras).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from .space import SpaceConfig

if TYPE_CHECKING:  # pragma: no cover
    from .vertical import Vertical

TUNERS = ("random", "bayesian", "hyperband", "grid")
# Without a time budget a search must end somewhere: this many trials.  With a
# budget the budget ends it, and only a --max-trials the user gives caps it.
DEFAULT_MAX_TRIALS = 12
# Batch sizes follow the training rows (see SearchSettings.for_rows): about
# one example in 32 per batch, a power of two from 32 to 256, so a 200-row
# table still takes several steps per epoch and a 25k-row one about 100.
MIN_BATCH, MAX_BATCH, ROWS_PER_BATCH_UNIT = 32, 256, 32
# Epochs follow the steps per epoch: about this many optimizer steps per
# trial, between 30 and 100 epochs (early stopping usually ends sooner).  At
# 2,000 steps the best recipe on a 20k-row table was still improving at its
# last epoch; TabM's own protocol stops on a patience of 16 epochs, and at 5 the
# trials on 35-50k-row tables stopped 5 epochs after a noisy best (13-17 of 30).
TARGET_STEPS, MIN_EPOCHS, MAX_EPOCHS = 4000, 30, 100
# Epochs without improvement before early stopping: a tenth of the epochs, at least MIN_PATIENCE, but never more
# than a third of them (at least 5), so a short --epochs still stops early.
MIN_PATIENCE = 8
# Cross-validated selection (search_engine/folds.py) where one validation split is too small to judge by: tables
# and text up to this many train+validation rows get DEFAULT_FOLDS folds; larger data, images and time-ordered
# splits keep one validation split.  k folds cost up to k times a trial's arithmetic, so a time budget lowers the
# limit to ROWS_PER_BUDGET_SECOND rows per second of it (2,160 rows at 3 minutes, where a 5-fold TabM trial on
# 800 rows took 36 s on 2 cores), never below MIN_CROSS_VALIDATED_ROWS.
DEFAULT_FOLDS, MAX_FOLDS = 5, 20
CROSS_VALIDATED_ROWS, MIN_CROSS_VALIDATED_ROWS, ROWS_PER_BUDGET_SECOND = 5000, 1000, 12
CROSS_VALIDATED_KINDS = ("table", "text")
MAX_DEVICES = 64  # --devices: processes (GPUs) training one model together


@dataclass(frozen=True)
class SearchSettings:
    """Knobs of one search.

    ``None`` for ``max_trials``, ``epochs``, ``batch_size`` and ``patience``
    means "choose for me": :meth:`for_rows` turns them into numbers once the
    size of the training split is known, and :meth:`trial_cap` says how many
    trials may run.  The saved request keeps the ``None``, so a resumed run
    derives the same numbers again.
    """

    tuner: str = "random"
    max_trials: int | None = None  # None: no cap with a time budget, DEFAULT_MAX_TRIALS without
    epochs: int | None = None  # None: from the steps per epoch (for_rows)
    batch_size: int | None = None  # None: from the training rows (for_rows)
    patience: int | None = None  # None: from the epochs (for_rows)
    seed: int = 0
    max_consecutive_failed_trials: int = 3
    time_budget: float | None = None  # seconds; None: no limit
    refit: bool = True  # False: export the best trial's own weights
    folds: int | None = None  # None: chosen from the data (with_folds); 1: one validation split
    devices: int = 1  # processes (GPUs) that train each model together, data-parallel (training/shared.py)
    objective: str | None = None  # None: the vertical's objective for the task
    direction: str | None = None  # "min" or "max"; None: inferred from the objective's name
    space: SpaceConfig = field(default_factory=SpaceConfig)

    def trial_cap(self) -> int | None:
        """The most trials to run: the user's ``max_trials``, else ``None`` (no cap) with a budget, else the default."""
        if self.max_trials is not None:
            return self.max_trials
        return None if self.time_budget is not None else DEFAULT_MAX_TRIALS

    def for_rows(self, train_rows: int) -> SearchSettings:
        """These settings with batch size, epochs and patience chosen for ``train_rows`` where not set.

        One fixed batch size and epoch count are wrong at both ends: batch 64
        gives a 32-row table one step per epoch and a 15k-row one 240 steps of
        Python overhead.  So the batch grows with the data, and the epochs
        keep the optimizer steps per trial near ``TARGET_STEPS``.
        """
        batch = self.batch_size or int(
            min(MAX_BATCH, max(MIN_BATCH, 2 ** math.floor(math.log2(max(1.0, train_rows / ROWS_PER_BATCH_UNIT)))))
        )
        steps = math.ceil(train_rows / batch)
        epochs = self.epochs or int(min(MAX_EPOCHS, max(MIN_EPOCHS, round(TARGET_STEPS / steps))))
        patience = self.patience or min(max(MIN_PATIENCE, epochs // 10), max(5, epochs // 3))
        return replace(self, batch_size=batch, epochs=epochs, patience=patience)

    def with_folds(self, rows: int, kind: str, time_ordered: bool) -> SearchSettings:
        """These settings with the fold count chosen for ``rows`` train+validation rows of input kind ``kind``.

        Small tables and text are judged out of fold; images (whose models
        cost k times as much per step), large data (whose validation split
        is big enough; see :meth:`cross_validated_rows`) and time-ordered splits (where folds would train on
        the future) keep one validation split.
        """
        if self.folds is not None:
            return self
        small = rows <= self.cross_validated_rows() and kind in CROSS_VALIDATED_KINDS and not time_ordered
        return replace(self, folds=DEFAULT_FOLDS if small else 1)

    def cross_validated_rows(self) -> int:
        """The most train+validation rows cross-validated by default: fewer with a short time budget."""
        if self.time_budget is None:
            return CROSS_VALIDATED_ROWS
        return int(min(CROSS_VALIDATED_ROWS, max(MIN_CROSS_VALIDATED_ROWS, self.time_budget * ROWS_PER_BUDGET_SECOND)))

    @property
    def cross_validated(self) -> bool:
        return (self.folds or 1) > 1

    @property
    def refits(self) -> bool:
        """Whether the export is a refit on train+validation: cross-validation exports its fold models instead."""
        return self.refit and not self.cross_validated

    def objective_for(self, vertical: Vertical, task: str) -> tuple[str, str]:
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
    def from_json(cls, values: dict[str, Any]) -> SearchSettings:
        """Settings saved before cross-validation existed had one validation split, and resume with one."""
        return cls(**{"folds": 1, **values, "space": SpaceConfig.from_overrides(values.get("space", {}))})


def parse_duration(text: str) -> float | None:
    """Seconds in '90s', '10m', '1h' or a plain number; ``None`` if it is not a positive duration."""
    value = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        seconds = float(value[:-1]) * units[value[-1]] if value and value[-1] in units else float(value)
    except ValueError:
        return None
    return seconds if seconds > 0 and seconds != float("inf") else None
