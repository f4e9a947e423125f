"""What a vertical's ``report_sections`` hook receives and returns.

The core scores the exported model on the held-out test split and hands an
:class:`Evaluation` to the vertical, which returns :class:`ReportSection`
objects: their ``data`` goes into ``report.json`` under ``sections`` and their
``lines`` into the model card, so a vertical adds what its industry reads
(KS and Gini for credit; sensitivity, confidence intervals and calibration
for medicine) without touching the core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..data.dataset import LabeledData


@dataclass(frozen=True)
class Evaluation:
    """The exported model's test-split outputs and a way to re-score perturbed raw inputs.

    ``scores`` are class probabilities shaped (N, classes), or predictions
    shaped (N,) for regression; ``predict(raw_x)`` returns the same for raw
    inputs shaped like ``raw_test.x`` (a table, texts, images), which is what
    permutation importance needs.  ``threshold`` is the decision threshold on
    the positive-class probability for binary tasks.
    """

    task: str
    class_names: tuple[str, ...]
    y_true: np.ndarray
    scores: np.ndarray
    raw_test: LabeledData
    predict: Callable[[Any], np.ndarray]
    threshold: float | None = None
    seed: int = 0

    @property
    def positive_probability(self) -> np.ndarray:
        return self.scores[:, 1]


@dataclass(frozen=True)
class ReportSection:
    """One titled part of the report: JSON ``data`` and Markdown ``lines``.

    ``lines`` go into the model card and ``report.md`` as they are, and into
    ``report.html`` through a Markdown parser with raw HTML off: bullets,
    paragraphs and pipe tables all work.  Pass user strings (class and column
    names) through :func:`vertical_automl.report.markdown.escape` so they
    cannot break a table.  A ``reliability`` list in ``data`` (rows with
    ``mean_predicted``, ``observed_rate`` and ``examples``, as from
    :func:`vertical_automl.evaluate.reliability_table`) also draws a
    calibration plot in the report.
    """

    name: str
    title: str
    data: dict[str, Any]
    lines: list[str] = field(default_factory=list)
