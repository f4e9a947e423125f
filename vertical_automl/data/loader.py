"""The loader contract: how a vertical reads one kind of source into labelled data.

It lives with the data, not with :class:`~vertical_automl.vertical.Vertical`,
because the core's own loaders (tables, text, images) are built in this
package and a vertical only lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .dataset import LabeledData


@dataclass(frozen=True)
class DataLoader:
    """Reads one kind of source into :class:`LabeledData`.

    ``can_load(path)`` must be cheap (look at the suffix or whether it is a
    folder); ``load(path, options, like)`` does the work.  ``options`` are the
    user's ``--data-option KEY=VALUE`` pairs; ``like`` is the training data
    when reading ``--test-data``, so the test set is read the same way.
    """

    name: str
    description: str
    can_load: Callable[[Path], bool]
    load: Callable[[Path, Mapping[str, str], LabeledData | None], LabeledData]
