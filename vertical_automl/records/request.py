"""What a search was asked to do: the run's ``run.json``, written when it starts and read by a resume."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from ..settings import SearchSettings


@dataclass(frozen=True)
class DataFingerprint:
    """sha256 of the training data and of the ``--test-data`` (``None`` without one), as first read.

    A resume compares them with the data it reads now: a run must never mix two datasets.
    """

    data: str
    test_data: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"data": self.data, "test_data": self.test_data}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> DataFingerprint:
        return cls(data=value["data"], test_data=value.get("test_data"))


@dataclass(frozen=True)
class RunRequest:
    """The arguments of one search, resolved (paths absolute, settings from flags and ``search.toml`` merged).

    ``data_options`` are the loader's ``-O`` options, ``positive_class``
    included; ``fingerprint`` is set once the data has been read.
    """

    plugin: str
    data: str | None
    test_data: str | None
    settings: SearchSettings
    data_options: dict[str, str] = field(default_factory=dict)
    cost_fp: float | None = None
    cost_fn: float | None = None
    validation_fraction: float = 0.2
    test_fraction: float = 0.2
    fingerprint: DataFingerprint | None = None

    # The keys a resume needs; run.json has them all since format 1 (``fingerprint`` aside).
    KEYS: ClassVar[tuple[str, ...]] = (
        "plugin",
        "data",
        "test_data",
        "data_options",
        "settings",
        "cost_fp",
        "cost_fn",
        "validation_fraction",
        "test_fraction",
    )

    def with_fingerprint(self, fingerprint: DataFingerprint) -> RunRequest:
        return replace(self, fingerprint=fingerprint)

    def to_json(self) -> dict[str, Any]:
        """``run.json`` as earlier versions wrote it (``fingerprint`` last, and only once known)."""
        value: dict[str, Any] = {
            "plugin": self.plugin,
            "data": self.data,
            "test_data": self.test_data,
            "data_options": dict(self.data_options),
            "settings": self.settings.as_json(),
            "cost_fp": self.cost_fp,
            "cost_fn": self.cost_fn,
            "validation_fraction": self.validation_fraction,
            "test_fraction": self.test_fraction,
        }
        if self.fingerprint is not None:
            value["fingerprint"] = self.fingerprint.to_json()
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> RunRequest:
        """Read ``run.json``; a missing key raises ``KeyError`` (the run folder is then damaged)."""
        fingerprint = value.get("fingerprint")
        return cls(
            plugin=value["plugin"],
            data=value["data"],
            test_data=value["test_data"],
            data_options=dict(value["data_options"]),
            settings=SearchSettings.from_json(value["settings"]),
            cost_fp=value["cost_fp"],
            cost_fn=value["cost_fn"],
            validation_fraction=value["validation_fraction"],
            test_fraction=value["test_fraction"],
            fingerprint=DataFingerprint.from_json(fingerprint) if fingerprint is not None else None,
        )

    def differences(self, other: RunRequest) -> list[str]:
        """The keys whose values differ from ``other``'s, in ``run.json`` order (the fingerprint aside).

        Compared as JSON, so a request read back from disk equals the one that wrote it.
        """
        mine, theirs = _as_json(self.to_json()), _as_json(other.to_json())
        return [key for key in self.KEYS if mine.get(key) != theirs.get(key)]


def _as_json(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` as it reads back from a JSON file (tuples become lists)."""
    return json.loads(json.dumps(value))
