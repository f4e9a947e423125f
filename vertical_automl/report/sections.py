"""What a vertical's ``report_sections`` hook receives and returns.

The core scores the exported model on the held-out test split and hands an
:class:`Evaluation` to the vertical, which returns :class:`ReportSection`
objects: their ``data`` goes into ``report.json`` under ``sections`` and their
``blocks`` into the model card and the report, so a vertical adds what its
field reads (its own metrics, confidence intervals, calibration tables)
without touching the core.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.dataset import LabeledData
from ..errors import PluginError
from .document import SECTION_BLOCKS, Block

_NAME = re.compile(r"[A-Za-z0-9_-]+")


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
    """One titled part of the report: JSON ``data`` and plain-text ``blocks``.

    The ``title`` and every text in ``blocks`` (:class:`~.document.Paragraph`,
    :class:`~.document.Bullets`, :class:`~.document.Facts`,
    :class:`~.document.Table`, :class:`~.document.Code`) are plain text, user
    strings such as class and column names included: the core escapes them
    where it writes the model card, ``report.md`` and ``report.html``, so a
    vertical never escapes anything and a name cannot become a link, HTML or a
    broken table.  ``name`` keys the section in ``report.json``.  A
    ``reliability`` list in ``data`` (rows with ``mean_predicted``,
    ``observed_rate`` and ``examples``, as from
    :func:`vertical_automl.evaluate.reliability_table`) also draws a
    calibration plot in the report.
    """

    name: str
    title: str
    data: dict[str, Any]
    blocks: list[Block] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Refuse what the core could not escape, such as Markdown lines, when the plugin builds the section."""
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise PluginError(
                f"report section name {self.name!r} is not a plain name (it names plot files too)",
                "use letters, digits, _ and - only",
            )
        if not isinstance(self.title, str):
            raise PluginError(
                f"report section '{self.name}' has the title {self.title!r}, which is not a string",
                "pass the title as plain text",
            )
        allowed = ", ".join(kind.__name__ for kind in SECTION_BLOCKS)
        for block in self.blocks:
            if not isinstance(block, SECTION_BLOCKS):
                raise PluginError(
                    f"report section '{self.name}' holds {block!r}, which is not one of its block types ({allowed})",
                    "build the section from those blocks in vertical_automl.report.document, with plain text "
                    "(not Markdown) in them: the core escapes it for each format",
                )
