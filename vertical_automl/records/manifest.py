"""A bundle's ``manifest.json``: where the run came from, what it holds, and its portable exports.

Every file of a bundle is listed in ``files``; it grows in one place,
:meth:`Manifest.with_files`, whether the search writes the bundle or
``vautoml export`` adds a file to it later.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class PluginInfo:
    """The plugin that provided the vertical: its entry-point name, distribution and version."""

    name: str
    distribution: str
    version: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "distribution": self.distribution, "version": self.version}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> PluginInfo:
        return cls(value.get("name", ""), value.get("distribution", ""), value.get("version", ""))


@dataclass(frozen=True)
class DataSources:
    """The training and test data, in words, with the sha256 fingerprint of each."""

    source: str | None = None
    fingerprint: str | None = None
    test_source: str | None = None
    test_fingerprint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "fingerprint": self.fingerprint,
            "test_source": self.test_source,
            "test_fingerprint": self.test_fingerprint,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> DataSources:
        return cls(
            value.get("source"), value.get("fingerprint"), value.get("test_source"), value.get("test_fingerprint")
        )


@dataclass(frozen=True)
class ModelFigures:
    """One model file as ``vautoml export --quantize`` measured it: its size, its speed and its test metric."""

    bytes: int
    latency_ms: float  # median milliseconds per batch on onnxruntime
    metric: float

    def to_json(self) -> dict[str, Any]:
        return {"bytes": self.bytes, "latency_ms": self.latency_ms, "metric": self.metric}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ModelFigures:
        return cls(int(value["bytes"]), float(value["latency_ms"]), float(value["metric"]))


@dataclass(frozen=True)
class QuantizationRecord:
    """How an int8 export was made and what it cost: the figures of the fp32 and int8 files on the same rows.

    Kept in the manifest so that whoever deploys the int8 file later sees the
    metric it gave up (``drop``, in the sense of ``metric_direction``) without
    measuring again.
    """

    method: str  # "static" (calibrated, for graphs with convolutions) or "dynamic"
    data: str  # the labelled file the figures were measured on
    rows: int
    calibration_rows: int  # 0 for dynamic quantization, which needs none
    metric: str
    metric_direction: str  # "max" for scores, "min" for errors
    drop: float  # absolute for scores, relative for errors
    tolerance: float
    batch: int  # rows per batch of the latency figures
    fp32: ModelFigures
    int8: ModelFigures

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "data": self.data,
            "rows": self.rows,
            "calibration_rows": self.calibration_rows,
            "metric": self.metric,
            "metric_direction": self.metric_direction,
            "drop": self.drop,
            "tolerance": self.tolerance,
            "batch": self.batch,
            "fp32": self.fp32.to_json(),
            "int8": self.int8.to_json(),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> QuantizationRecord:
        return cls(
            method=value["method"],
            data=value.get("data", ""),
            rows=int(value.get("rows", 0)),
            calibration_rows=int(value.get("calibration_rows", 0)),
            metric=value["metric"],
            metric_direction=value.get("metric_direction", "max"),
            drop=float(value["drop"]),
            tolerance=float(value["tolerance"]),
            batch=int(value.get("batch", 0)),
            fp32=ModelFigures.from_json(value["fp32"]),
            int8=ModelFigures.from_json(value["int8"]),
        )


@dataclass(frozen=True)
class ExportRecord:
    """One ``vautoml export`` of the run: the file, how closely it reproduced Keras, and with what libraries.

    Only ``file`` is required: an entry some other writer left without the
    check's result (``max_abs_difference`` then ``None``) must not stop the
    next ``vautoml export`` from adding its own beside it.

    ``members`` says whether the model's output columns are ensemble members'
    predictions to be averaged (:func:`vertical_automl.heads.has_members`).
    Keras finds that from the last layer's name, which the ONNX exporter does
    not keep, so an ONNX runtime reads it here; exports written before it was
    recorded have ``None``.  ``quantization`` is set for an int8 export only.
    Both are written only when set, so older manifests read and written again
    are unchanged.
    """

    file: str
    max_abs_difference: float | None
    inputs_checked: int
    libraries: dict[str, str]
    created: str
    members: bool | None = None
    quantization: QuantizationRecord | None = None

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "file": self.file,
            "max_abs_difference": self.max_abs_difference,
            "inputs_checked": self.inputs_checked,
            "libraries": dict(self.libraries),
            "created": self.created,
        }
        if self.members is not None:
            value["members"] = self.members
        if self.quantization is not None:
            value["quantization"] = self.quantization.to_json()
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ExportRecord:
        difference = value.get("max_abs_difference")
        members = value.get("members")
        quantization = value.get("quantization")
        return cls(
            file=value["file"],
            max_abs_difference=None if difference is None else float(difference),
            inputs_checked=int(value.get("inputs_checked", 0)),
            libraries=dict(value.get("libraries", {})),
            created=value.get("created", ""),
            members=None if members is None else bool(members),
            quantization=None if quantization is None else QuantizationRecord.from_json(quantization),
        )


@dataclass(frozen=True)
class Manifest:
    """``manifest.json``; ``format_version`` is the bundle format (readers refuse newer ones)."""

    run_id: str
    vertical: str
    created: str | None = None
    plugin: PluginInfo | None = None
    data: DataSources = field(default_factory=DataSources)
    libraries: dict[str, str] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    exports: dict[str, ExportRecord] = field(default_factory=dict)
    format_version: int = 1

    def with_files(self, *names: str) -> Manifest:
        """This manifest listing ``names`` too (each once, in order)."""
        return replace(self, files=(*self.files, *(name for name in dict.fromkeys(names) if name not in self.files)))

    def with_export(self, fmt: str, export: ExportRecord) -> Manifest:
        """This manifest with ``export`` recorded as the run's ``fmt`` export (replacing an earlier one) and listed."""
        return replace(self, exports={**self.exports, fmt: export}).with_files(export.file)

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "format_version": self.format_version,
            "run_id": self.run_id,
            "created": self.created,
            "vertical": self.vertical,
            "plugin": self.plugin.to_json() if self.plugin else None,
            "data": self.data.to_json(),
            "libraries": dict(self.libraries),
            "files": list(self.files),
        }
        if self.exports:  # bundles without an export have no "exports" key
            value["exports"] = {fmt: export.to_json() for fmt, export in self.exports.items()}
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Manifest:
        plugin = value.get("plugin")
        return cls(
            run_id=value.get("run_id", ""),
            vertical=value.get("vertical", ""),
            created=value.get("created"),
            plugin=PluginInfo.from_json(plugin) if plugin else None,
            data=DataSources.from_json(value.get("data", {})),
            libraries=dict(value.get("libraries", {})),
            files=tuple(value.get("files", ())),
            exports={fmt: ExportRecord.from_json(e) for fmt, e in value.get("exports", {}).items()},
            format_version=value.get("format_version", 1),
        )
