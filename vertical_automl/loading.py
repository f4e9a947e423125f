"""Reading a vertical's data with its own loaders: the training data, and labelled data shaped like it.

Both a search and ``vautoml evaluate`` read data this way; it lives apart
from the pipeline so that evaluating a run loads no search code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .data.dataset import LabeledData
from .errors import DataError
from .plugins import InstalledPlugins
from .vertical import Vertical


def load_source(
    plugins: InstalledPlugins,
    vertical: Vertical,
    source: Path,
    options: Mapping[str, str],
    like: LabeledData | None = None,
) -> LabeledData:
    """Read ``source`` with the first of the vertical's loaders that accepts it."""
    flag = "--test-data" if like is not None else "--data"
    if not source.exists():
        default = (
            f", or leave out {flag} to use the built-in {vertical.default_data_description or 'dataset'}"
            if like is None and vertical.default_data
            else ""
        )
        raise DataError(f"{flag} path '{source}' does not exist", f"check the path{default}")
    loaders = plugins.loaders_for(vertical.name)
    for loader in loaders:
        if loader.can_load(source):
            return loader.load(source, options, like)
    accepted = "; ".join(loader.description for loader in loaders) or "none"
    raise DataError(f"the {vertical.name} vertical cannot read '{source}'", f"give one of: {accepted}")


def load_training_data(
    plugins: InstalledPlugins, vertical: Vertical, data: Path | None, options: Mapping[str, str]
) -> LabeledData:
    """The ``--data`` source, or the vertical's built-in dataset when none is given (which takes no data options)."""
    if data is not None:
        return load_source(plugins, vertical, data, options)
    if vertical.default_data is None:
        example = vertical.data_example or f"vautoml search --plugin {vertical.name} --data ./my_data"
        raise DataError(
            f"the {vertical.name} vertical has no built-in dataset", f"pass your data with --data, e.g. {example}"
        )
    if options:
        raise DataError(
            f"data option(s) {', '.join(sorted(options))} need --data",
            "leave them out for the built-in dataset, or pass --data",
        )
    return vertical.default_data()
