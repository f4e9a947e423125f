"""vertical-automl: AutoML for specialised industries on Keras 3 (PyTorch backend).

Importing the package pins Keras to the torch backend (see ``_backend``) and
imports neither Keras nor torch itself; those load when a search starts.
"""

from __future__ import annotations

from typing import Any

from ._backend import ensure_torch_backend

ensure_torch_backend()

from . import blocks, heads, space  # noqa: E402
from .data.dataset import Dataset, DatasetInfo, LabeledData  # noqa: E402
from .data.encoding import Encoder  # noqa: E402
from .data.loader import DataLoader  # noqa: E402
from .errors import BackendError, DataError, PluginError, SearchError, UsageError, VautomlError  # noqa: E402
from .hookspecs import hookimpl  # noqa: E402
from .report.sections import Evaluation, ReportSection  # noqa: E402
from .vertical import Vertical  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "DataError",
    "DataLoader",
    "Encoder",
    "Dataset",
    "DatasetInfo",
    "Evaluation",
    "LabeledData",
    "PluginError",
    "ReportSection",
    "SearchError",
    "UsageError",
    "VautomlError",
    "Vertical",
    "blocks",
    "heads",
    "hookimpl",
    "load",
    "search",
    "space",
]


def load(run: Any, registry: Any = None, plugins: Any = None) -> Any:
    """A finished run's predictor (``predict`` / ``predict_proba`` on raw inputs); see
    :func:`vertical_automl.predictor.load`.  ``plugins`` are needed only for a plugin's own input kind
    (default: the installed ones).
    """
    from .predictor import load as load_run

    return load_run(run, registry, plugins)


def search(plugin: str, data: Any = None, **options: Any) -> Any:
    """Run a search and export the best model; see :func:`vertical_automl.pipeline.search`."""
    from .pipeline import search as run

    return run(plugin, data, **options)
