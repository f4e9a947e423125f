"""Everything a vertical plugin may use, in one place: ``from vertical_automl.plugin_api import ...``.

This module is the plugin contract.  A name here keeps its meaning across
vautoml's minor versions; anything imported from elsewhere in
``vertical_automl`` is private and may move without notice (the built-in
plugins in ``plugins/`` import from here only, and a test holds them to it).
The plugin author's guide is ``docs/plugin-guide.md``; the hooks a plugin
implements are documented in :mod:`vertical_automl.hookspecs`.

What is here, by the job it does:

* declaring: :class:`Vertical`, :class:`DataLoader`, :class:`LoaderOption`,
  :class:`InputKind`, :class:`Dimension`, :data:`hookimpl`;
* data: :class:`LabeledData`, :class:`DatasetInfo`, :class:`Encoder`,
  :class:`RawInputs`, label helpers (``encode_labels``, ``align_to_classes``),
  option helpers (``check_options``, ``parse_bool``), and ``-O group`` / ``-O order``
  for a plugin's own table loader (``SPLIT_OPTIONS``, ``pick_split_columns``,
  ``read_split_columns``, :class:`SplitColumns`: set ``LabeledData.groups``,
  ``order`` and ``split_by`` from them and the core keeps groups whole and
  holds out the latest records);
* the core's loaders and input kinds, ready to list in ``Vertical.loaders``;
* models: the modules :mod:`space`, :mod:`blocks`, :mod:`heads` and :mod:`trees`;
* reports: :class:`Evaluation`, :class:`ReportSection`, the report blocks
  (``Heading``, ``Paragraph``, ``Bullets``, ``Facts``, ``Table``, ``Code``;
  the core escapes their text for each format) and the metric helpers;
* errors: :class:`DataError` (bad input: message and fix), :class:`PluginError`,
  :class:`UsageError`;
* testing: the conformance suite of :mod:`vertical_automl.testing`
  (``check_vertical``, ``conformance_checks``, ``CHECK_NAMES``,
  :class:`ConformanceError`) for a plugin's own tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import blocks, heads, space, trees
from .data.arrays import ARRAYS, align_to_classes, encode_labels, image_arrays
from .data.dataset import DatasetInfo, LabeledData
from .data.encoding import Encoder
from .data.images import IMAGE, hdf5_image_loader, image_folder_loader, image_usage_code, npz_image_loader
from .data.input_kind import InputKind, RawInputs
from .data.loader import DataLoader, LoaderOption
from .data.options import check_options, parse_bool
from .data.split_columns import SPLIT_OPTION_HELP, SPLIT_OPTIONS, SplitColumns, pick_split_columns, read_split_columns
from .data.tables import frame_of_text, read_table
from .data.tabular import TABLE, TABLE_MODEL_NOTE, labeled_table, table_loader, table_usage_code
from .data.text import TEXT, text_folder_loader, text_table_loader, text_usage_code
from .data.text_encoder import OOV as TEXT_OOV
from .data.text_encoder import PAD as TEXT_PAD
from .errors import DataError, PluginError, UsageError
from .hookspecs import hookimpl
from .report.document import Bullets, Code, Facts, Heading, Paragraph, Table
from .report.sections import Evaluation, ReportSection
from .space import Dimension
from .vertical import Vertical

if TYPE_CHECKING:  # pragma: no cover - loaded lazily below, named here for type checkers and linters
    from .evaluate import (
        binary_metrics,
        bootstrap_intervals,
        classification_metrics,
        ks_statistic,
        permutation_importance,
        regression_metrics,
        reliability_table,
        roc_auc,
    )
    from .testing import CHECK_NAMES, ConformanceError, check_vertical, conformance_checks

# Metric helpers need scikit-learn, which takes most of a second to import: they load on first use, so that a
# plugin importing this module keeps ``vautoml --help`` and ``vautoml plugins list`` fast.
_METRICS = (
    "binary_metrics",
    "bootstrap_intervals",
    "classification_metrics",
    "ks_statistic",
    "permutation_importance",
    "regression_metrics",
    "reliability_table",
    "roc_auc",
)


# The conformance suite reads data and runs searches: it loads on first use too, for a plugin's tests only.
_TESTING = ("CHECK_NAMES", "ConformanceError", "check_vertical", "conformance_checks")


def __getattr__(name: str) -> object:
    if name in _METRICS:
        from . import evaluate

        return getattr(evaluate, name)
    if name in _TESTING:
        from . import testing

        return getattr(testing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    # declaring a vertical
    "DataLoader",
    "Dimension",
    "InputKind",
    "LoaderOption",
    "Vertical",
    "hookimpl",
    # data
    "DatasetInfo",
    "Encoder",
    "LabeledData",
    "RawInputs",
    "align_to_classes",
    "check_options",
    "encode_labels",
    "frame_of_text",
    "image_arrays",
    "parse_bool",
    "read_table",
    "SPLIT_OPTIONS",
    "SPLIT_OPTION_HELP",
    "SplitColumns",
    "pick_split_columns",
    "read_split_columns",
    # the core's loaders, kinds and usage code
    "ARRAYS",
    "IMAGE",
    "TABLE",
    "TABLE_MODEL_NOTE",
    "TEXT",
    "hdf5_image_loader",
    "image_folder_loader",
    "labeled_table",
    "npz_image_loader",
    "table_loader",
    "table_usage_code",
    "text_folder_loader",
    "text_table_loader",
    "text_usage_code",
    "image_usage_code",
    "TEXT_OOV",
    "TEXT_PAD",
    # models
    "blocks",
    "heads",
    "space",
    "trees",
    # reports and metrics
    "Bullets",
    "Code",
    "Evaluation",
    "Facts",
    "Heading",
    "Paragraph",
    "ReportSection",
    "Table",
    "binary_metrics",
    "bootstrap_intervals",
    "classification_metrics",
    "ks_statistic",
    "permutation_importance",
    "regression_metrics",
    "reliability_table",
    "roc_auc",
    # errors
    "DataError",
    "PluginError",
    "UsageError",
    # the conformance suite, for a plugin's tests
    "CHECK_NAMES",
    "ConformanceError",
    "check_vertical",
    "conformance_checks",
]
