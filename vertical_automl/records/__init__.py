"""Typed records of what crosses modules or lands on disk, each with ``to_json`` and ``from_json``.

* :class:`RunRequest`: what a search was asked to do (``run.json`` in a run
  folder); a resume reads it back and repeats it.
* :class:`Decision`: the binary decision threshold and how it was chosen.
* :class:`Report`: a finished run's ``report.json`` (metrics, search, model).
* :class:`Manifest`: a bundle's ``manifest.json`` (provenance, files, exports).

``from_json`` reads every bundle written since format 1, filling what older
versions did not write with ``None``; ``to_json`` writes the keys in the order
earlier versions did, so a bundle read and written again is unchanged.
Nothing here imports Keras: listing and showing runs stay fast.
"""

from .decision import Decision
from .manifest import DataSources, ExportRecord, Manifest, ModelFigures, PluginInfo, QuantizationRecord
from .report import EnsembleMember, ModelSummary, Report, SearchSummary, SplitSummary
from .request import DataFingerprint, RunRequest

__all__ = [
    "DataFingerprint",
    "DataSources",
    "Decision",
    "EnsembleMember",
    "ExportRecord",
    "Manifest",
    "ModelFigures",
    "ModelSummary",
    "PluginInfo",
    "QuantizationRecord",
    "Report",
    "RunRequest",
    "SearchSummary",
    "SplitSummary",
]
