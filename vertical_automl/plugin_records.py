"""What ``vautoml plugins list`` shows about one plugin: :class:`PluginRecord`, and the loaders it provides.

Kept apart from discovery (:mod:`.plugins`) so the records stay plain data
that the CLI and the run's documents read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .data.loader import DataLoader

NOT_INSTALLED = "not installed"


@dataclass(frozen=True)
class ProvidedLoader:
    """A loader a plugin provides for one vertical, as ``vautoml plugins list`` shows it.

    ``vertical_installed`` is False for a loader registered for a vertical no
    installed plugin has: it is listed, flagged, and never used.
    """

    vertical: str
    loader: DataLoader
    vertical_installed: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.loader.name,
            "description": self.loader.description,
            "options": [{"name": option.name, "help": option.help} for option in self.loader.options],
            "kind": self.loader.kind.name if self.loader.kind is not None else None,
            "vertical_installed": self.vertical_installed,
        }


@dataclass
class PluginRecord:
    """What one entry point brought: its hooks, its verticals, the loaders it provides, and what went wrong.

    ``loaders`` are its verticals' own loaders and the extra ones it registers
    with ``register_data_loaders``, in that order.
    """

    name: str
    distribution: str
    version: str
    hooks: list[str] = field(default_factory=list)
    verticals: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    loaders: list[ProvidedLoader] = field(default_factory=list)

    @property
    def label(self) -> str:
        if not self.installed:
            return f"{self.name} ({NOT_INSTALLED})"
        return f"{self.name} ({self.distribution} {self.version})"

    @property
    def installed(self) -> bool:
        """False for a name in a selection variable that matches no installed plugin."""
        return self.distribution != NOT_INSTALLED

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "verticals": self.verticals,
            "hooks": self.hooks,
            "loaders": self.loaders_by_vertical(),
            "errors": self.errors,
        }

    def loaders_by_vertical(self) -> dict[str, list[dict[str, Any]]]:
        """Each vertical this plugin provides loaders for, with theirs (name, description, options), as JSON."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for provided in self.loaders:
            grouped.setdefault(provided.vertical, []).append(provided.as_dict())
        return grouped
