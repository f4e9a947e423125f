"""Input drift: how far the rows a served model scores have moved from the rows it was trained on.

The server keeps the monitored features (:mod:`.profile`) of the last
``window`` rows it scored (:class:`DriftMonitor`, a ring buffer of feature
rows, not of raw inputs), and ``/metrics`` reports per feature the population
stability index (PSI) of that window against the run's ``input_profile.json``
and how many values fell outside the training range (:class:`DriftCollector`).

The usual reading of PSI: below 0.1 stable, 0.1 to 0.25 a moderate shift,
above 0.25 a shift worth acting on.  Sampling noise alone gives about
(bins - 1) / rows, so PSI is reported only once the window holds ``MIN_ROWS``
rows (about 0.1 of noise there, 0.01 at a full window of 1000); before that
the metrics hold the window's row count and the out-of-range counts only, never NaN.

prometheus-client (the ``serve`` extra) is imported only when metrics are collected.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..bundle.files import PROFILE_FILE
from ..errors import UsageError
from .profile import InputProfile

if TYPE_CHECKING:  # pragma: no cover - prometheus-client comes with the serve extra
    from prometheus_client.metrics_core import Metric

__all__ = ["DriftCollector", "DriftMonitor", "DriftSnapshot", "FeatureDrift", "InputProfile", "load_monitor"]

MIN_ROWS = 100  # rows in the window before PSI is reported


@dataclass(frozen=True)
class FeatureDrift:
    """One feature now: its PSI over the window (``None`` below ``MIN_ROWS`` rows) and its out-of-range count."""

    name: str
    psi: float | None
    out_of_range: int  # values outside the training minimum and maximum since the monitor started


@dataclass(frozen=True)
class DriftSnapshot:
    """A monitor at one moment: rows in the window, rows seen since start, and each feature."""

    rows: int
    observed: int
    features: tuple[FeatureDrift, ...]

    @property
    def max_psi(self) -> float | None:
        """The worst feature's PSI, or ``None`` before PSI is reported (or without features)."""
        values = [feature.psi for feature in self.features if feature.psi is not None]
        return max(values) if values else None


class DriftMonitor:
    """The features of the last ``window`` rows a model scored, in a ring buffer, against its training profile.

    :meth:`observe` is called per request batch, from the event loop or the
    inference thread: it turns the rows into features outside the lock and
    only copies them in under it.  PSI is computed when metrics are scraped.
    """

    def __init__(self, profile: InputProfile, window: int = 1000) -> None:
        if window < MIN_ROWS:
            raise UsageError(
                f"the drift window of {window} rows is too small to measure drift",
                f"give a window of at least {MIN_ROWS} rows",
            )
        self.profile, self.window = profile, window
        self._low = np.array([feature.minimum for feature in profile.monitored])
        self._high = np.array([feature.maximum for feature in profile.monitored])
        self._rows = np.empty((window, len(profile.monitored)))
        self._next = self._filled = self._observed = 0
        self._out_of_range = np.zeros(len(profile.monitored), dtype=np.int64)
        self._lock = threading.Lock()

    def observe(self, x: np.ndarray) -> None:
        """Add a batch of encoded model inputs to the window; rows not shaped as in training raise ``ValueError``."""
        values = self.profile.features(x)
        outside = ((values < self._low) | (values > self._high) | ~np.isfinite(values)).sum(axis=0)
        kept = values[-self.window :]
        with self._lock:
            first = min(len(kept), self.window - self._next)
            self._rows[self._next : self._next + first] = kept[:first]
            self._rows[: len(kept) - first] = kept[first:]
            self._next = (self._next + len(kept)) % self.window
            self._filled = min(self.window, self._filled + len(kept))
            self._observed += len(values)
            self._out_of_range += outside

    def snapshot(self) -> DriftSnapshot:
        """PSI per feature over the window (once it holds ``MIN_ROWS`` rows) and out-of-range counts since start."""
        with self._lock:
            rows, observed = self._rows[: self._filled].copy(), self._observed
            out_of_range = self._out_of_range.copy()
        ready = len(rows) >= MIN_ROWS
        return DriftSnapshot(
            len(rows),
            observed,
            tuple(
                FeatureDrift(feature.name, feature.psi(rows[:, i]) if ready else None, int(out_of_range[i]))
                for i, feature in enumerate(self.profile.monitored)
            ),
        )


def load_monitor(run_path: Path, window: int = 1000) -> DriftMonitor | None:
    """The drift monitor of the run in ``run_path``, or ``None`` for a run without a profile (older runs)."""
    path = Path(run_path) / PROFILE_FILE
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(value, dict):
            raise ValueError(f"it holds a JSON {type(value).__name__}, not an object")
        profile = InputProfile.from_json(value)
    except (OSError, ValueError) as error:  # JSON and UTF-8 errors are ValueErrors too
        raise UsageError(
            f"the input profile '{path}' is damaged ({' '.join(str(error).split())})",
            f"copy the run folder again, or delete {PROFILE_FILE} to serve the run without drift monitoring",
        ) from None
    return DriftMonitor(profile, window)


class DriftCollector:
    """The drift of every served model as Prometheus metrics, computed at each scrape.

    A custom collector in prometheus-client's sense (``prometheus_client.registry.Collector``
    is a protocol: ``collect``, and ``describe`` so that a registry checks
    names without collecting); register it with ``registry.register(...)``.
    """

    def __init__(self, monitors: dict[str, DriftMonitor]) -> None:
        self.monitors = dict(monitors)  # model name -> monitor

    def describe(self) -> Iterator[Metric]:
        return self._families({})

    def collect(self) -> Iterator[Metric]:
        return self._families({name: monitor.snapshot() for name, monitor in self.monitors.items()})

    @staticmethod
    def _families(snapshots: dict[str, DriftSnapshot]) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        psi = GaugeMetricFamily(
            "vautoml_input_drift_psi",
            "Population stability index of each monitored input feature, last window against training "
            f"(from {MIN_ROWS} rows on; < 0.1 stable, 0.1-0.25 moderate, > 0.25 shifted)",
            labels=["model", "feature"],
        )
        outside = CounterMetricFamily(
            "vautoml_input_out_of_range",
            "Input feature values outside the training minimum and maximum (or not finite) since the server started",
            labels=["model", "feature"],
        )
        rows = GaugeMetricFamily("vautoml_input_drift_window_rows", "Rows in the drift window", labels=["model"])
        worst = GaugeMetricFamily(
            "vautoml_input_drift_max_psi", "The worst feature's population stability index", labels=["model"]
        )
        for model, snapshot in snapshots.items():
            rows.add_metric([model], snapshot.rows)
            if snapshot.max_psi is not None:
                worst.add_metric([model], snapshot.max_psi)
            for feature in snapshot.features:
                outside.add_metric([model, feature.name], feature.out_of_range)
                if feature.psi is not None:
                    psi.add_metric([model, feature.name], feature.psi)
        yield from (psi, outside, rows, worst)
