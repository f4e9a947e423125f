"""Reading a vertical's data with its own loaders: the training data, and labelled data shaped like it.

Both a search and ``vautoml evaluate`` read data this way; it lives apart
from the pipeline so that evaluating a run loads no search code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .data.dataset import LabeledData
from .data.loader import DataLoader
from .errors import DataError
from .plugins import InstalledPlugins
from .vertical import Vertical

# The search flags that are shorthands for loader options (cli/search_command.py), so an error names what was typed.
OPTION_FLAGS = {
    "target_column": "--target-column",
    "text_column": "--text-column",
    "header": "--no-header",
    "missing_values": "--missing-values",
}


def check_declared_options(loader: DataLoader, vertical: Vertical, source: Path, options: Mapping[str, str]) -> None:
    """Refuse option keys ``loader`` does not declare, before it runs: a misspelt key would otherwise do nothing."""
    unknown = [key for key in options if key not in loader.option_names]
    if not unknown:
        return
    named = ", ".join(f"{key} ({OPTION_FLAGS[key]})" if key in OPTION_FLAGS else key for key in unknown)
    fix = (
        f"use only: {', '.join(loader.option_names)} (see vautoml plugins list)"
        if loader.options
        else "this loader takes no data options"
    )
    raise DataError(
        f"unknown data option(s) {named} for the '{loader.name}' loader of the {vertical.name} vertical ({source})", fix
    )


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
            check_declared_options(loader, vertical, source, options)
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
