"""The loader contract: how a vertical reads one kind of source into labelled data.

It lives with the data, not with :class:`~vertical_automl.vertical.Vertical`,
because the core's own loaders (tables, text, images) are built in this
package and a vertical only lists them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .dataset import LabeledData
from .input_kind import InputKind

OPTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class LoaderOption:
    """One ``-O KEY=VALUE`` data option a loader takes, with the help ``vautoml plugins list`` shows."""

    name: str
    help: str


@dataclass(frozen=True)
class DataLoader:
    """Reads one kind of source into :class:`LabeledData`.

    ``can_load(path)`` must be cheap (look at the suffix or whether it is a
    folder); ``load(path, options, like)`` does the work.  ``options`` are the
    user's ``--data-option KEY=VALUE`` pairs (``--target-column`` arrives as
    ``target_column``); the core refuses any key not in ``options`` before
    ``load`` is called, naming the accepted ones, so ``load`` sees declared
    keys only.  ``like`` is the training data when reading ``--test-data`` or
    the data ``vautoml evaluate`` scores, so they are read the same way.
    ``kind`` is the :class:`InputKind` of what ``load`` returns (``None``: one
    of the core's kinds, named by ``input_spec["kind"]``); it is how a bundle
    finds its preprocessing again after the search.
    """

    name: str
    description: str
    can_load: Callable[[Path], bool]
    load: Callable[[Path, Mapping[str, str], LabeledData | None], LabeledData]
    options: tuple[LoaderOption, ...] = ()
    kind: InputKind | None = None

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(option.name for option in self.options)

    def problems(self) -> list[str]:
        """What is wrong with this declaration (empty when valid)."""
        found = []
        if not isinstance(self.name, str) or not self.name:
            found.append(f"a loader has name {self.name!r}; give it a short non-empty name")
        for what in ("can_load", "load"):
            if not callable(getattr(self, what)):
                found.append(f"loader {self.name!r} has a {what} that is not callable")
        if not isinstance(self.options, tuple) or not all(isinstance(o, LoaderOption) for o in self.options):
            found.append(f"loader {self.name!r} has options {self.options!r}; expected a tuple of LoaderOption")
        else:
            for option in self.options:
                if not isinstance(option.name, str) or not OPTION_NAME.match(option.name):
                    found.append(
                        f"loader {self.name!r} declares option {option.name!r}; "
                        "option names are lowercase letters, digits and '_'"
                    )
        if self.kind is not None:
            found += (
                self.kind.problems()
                if isinstance(self.kind, InputKind)
                else [f"loader {self.name!r} has kind {self.kind!r}, which is not an InputKind"]
            )
        return found
