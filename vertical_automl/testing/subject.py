"""What a conformance run checks: one vertical, as the installed plugins provide it, and the sample data to use.

Built once per :func:`~vertical_automl.testing.conformance_checks` call and
shared by every check, so the checks agree on the plugins, the data and the
search settings, and the expensive parts (the searches) run once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..data.loader import DataLoader
from ..errors import PluginError, UsageError
from ..plugins import InstalledPlugins, PluginRecord
from ..vertical import Vertical
from .failure import Failure


@dataclass(frozen=True)
class Subject:
    """The vertical ``name`` in ``plugins``, its sample data and the tiny search every check shares.

    ``samples`` maps a loader's name to a source it must read; ``data`` is
    the training source of the searches (``test_data`` their test split).
    ``options`` are the searches' data options, and so those of the loader
    that reads ``data``; another loader reads its sample with those of them it
    declares (:attr:`DataLoader.options`), as the core would pass it no others.
    """

    name: str
    plugins: InstalledPlugins
    data: Path
    workdir: Path
    test_data: Path | None = None
    samples: Mapping[str, Path] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    seed: int = 0
    max_trials: int = 2
    epochs: int = 2

    def vertical(self) -> tuple[Vertical, PluginRecord]:
        """The vertical and its plugin's record; a failure naming what is loaded when the vertical is not."""
        try:
            return self.plugins.get_vertical(self.name)
        except PluginError as error:
            raise Failure(error.problem, error.fix or "install the plugin that registers it") from None

    def loaders(self) -> tuple[DataLoader, ...]:
        self.vertical()
        return self.plugins.loaders_for(self.name)

    def sample_sources(self) -> list[tuple[DataLoader, Path]]:
        """Each loader with the source it must read: its entry in ``samples``, and ``data`` for the first that takes it.

        The first loader that accepts ``data`` is the one a search would use
        (:func:`vertical_automl.loading.load_source`), so it gets ``data``
        unless ``samples`` names another source for it.
        """
        loaders = self.loaders()
        known = {loader.name for loader in loaders}
        unknown = sorted(set(self.samples) - known)
        if unknown:
            raise Failure(
                f"samples name loader(s) {', '.join(unknown)}, which the {self.name} vertical does not have "
                f"(its loaders: {', '.join(sorted(known)) or 'none'})",
                "key samples by the loaders' names",
            )
        reader = next((loader for loader in loaders if loader.can_load(self.data)), None)
        if reader is None:
            accepted = "; ".join(f"{loader.name}: {loader.description}" for loader in loaders) or "none"
            raise Failure(
                f"no loader of the {self.name} vertical accepts the sample data '{self.data}'",
                f"give data one of its loaders reads ({accepted}), or make a loader's can_load accept it",
            )
        chosen = {reader.name: self.data, **{name: Path(path) for name, path in self.samples.items()}}
        return [(loader, chosen[loader.name]) for loader in loaders if loader.name in chosen]

    def options_for(self, loader: DataLoader, path: Path) -> dict[str, str]:
        """The data options ``loader`` reads ``path`` with (see the class docstring).

        ``positive_class`` is the search's, not a loader's: the search takes it out before reading.
        """
        read = {key: value for key, value in self.options.items() if key != "positive_class"}
        if path == self.data:
            return read
        return {key: value for key, value in read.items() if key in loader.option_names}


def subject_of(
    name: str,
    data: str | Path,
    *,
    workdir: str | Path,
    test_data: str | Path | None,
    samples: Mapping[str, str | Path] | None,
    options: Mapping[str, str] | None,
    plugins: InstalledPlugins | None,
    seed: int,
    max_trials: int,
    epochs: int,
) -> Subject:
    """Check the arguments (one-line :class:`UsageError`) and gather them, with this process's plugins by default."""
    from ..plugins import get_plugins

    for what, path in (
        ("data", data),
        ("test_data", test_data),
        *((f"samples[{k!r}]", v) for k, v in (samples or {}).items()),
    ):
        if path is not None and not Path(path).exists():
            raise UsageError(f"the conformance {what} '{path}' does not exist", "write the sample data there first")
    for what, value, low in (("max_trials", max_trials, 1), ("epochs", epochs, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise UsageError(
                f"{what} must be a whole number of at least {low}, got {value!r}", f"pass e.g. {what}={low + 1}"
            )
    workdir = Path(workdir)
    if workdir.exists() and not workdir.is_dir():
        raise UsageError(f"workdir '{workdir}' is a file", "give a folder (e.g. pytest's tmp_path)")
    workdir.mkdir(parents=True, exist_ok=True)
    return Subject(
        name=name,
        plugins=plugins if plugins is not None else get_plugins(),
        data=Path(data),
        workdir=workdir,
        test_data=Path(test_data) if test_data is not None else None,
        samples={key: Path(value) for key, value in (samples or {}).items()},
        options=dict(options or {}),
        seed=seed,
        max_trials=max_trials,
        epochs=epochs,
    )
