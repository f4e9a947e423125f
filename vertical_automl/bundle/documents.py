"""A bundle's JSON documents as the search hands them to the writer (no Keras here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..records import Manifest, Report


@dataclass(frozen=True)
class BundleDocuments:
    """``sidecars`` are the JSON files written as they are, by file name (preprocessing, report, trials).

    ``report`` is the report's record (``sidecars`` holds its JSON); the
    ``manifest`` is written last, once the writer has added the report's own files.
    """

    sidecars: dict[str, Any]
    report: Report
    manifest: Manifest
