"""``vautoml export``: a published run's model as ``model.onnx`` for ONNX runtimes, or ``.weights.h5`` for Keras.

``model.keras`` needs Keras; these formats reach apps that have only
onnxruntime, or that rebuild the architecture themselves.  Every export is
checked before it is kept: the file is run (onnxruntime) or loaded into a
model rebuilt from the config alone (weights), on inputs shaped and valued like
the run's real ones, and compared with Keras's own predictions.  A file that
disagrees is removed, never published.  (Writing the bundle a search
publishes, ``model.keras`` included, is :mod:`vertical_automl.bundle`.)

Why ONNX goes through ``torch.onnx.export(dynamo=True)`` and not
``keras.Model.export(format="onnx")``: for inputs with a free batch size,
which every vautoml model has, Keras always takes torch's TorchScript
exporter, and that fails on two kinds of our models.  Ensembles nest member
models built in separate trials, so two members can own variables with the
same path (both have ``output/kernel``); Keras's torch backend registers
parameters keyed by path, one is left out, and the tracer stops at it ("Cannot
insert a Tensor that requires grad as a constant", with or without
``torch.no_grad()``).  Text transformers fail in ``LayerNormalization``, whose
traced ``normalized_shape`` TorchScript-to-ONNX needs as a constant.  Keras
uses the dynamo exporter only for fully fixed input shapes, which would pin
the batch size; called directly with a dynamic batch dimension, it exports
every vertical's models, ensembles included.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .bundle.files import MANIFEST_FILE, PREPROCESSING_FILE
from .errors import SearchError, StorageError, UsageError
from .kinds import input_kind
from .records import ExportRecord, Manifest
from .registry.disk import check_space, disk, disk_full, room_to_save
from .registry.runs import read_bundle_json, read_run

if TYPE_CHECKING:  # pragma: no cover
    from .plugins import InstalledPlugins

FORMATS = {"onnx": "model.onnx", "weights": "model.weights.h5"}
WEIGHTS_SUFFIX = ".weights.h5"  # save_weights refuses any other name
TOLERANCE = 1e-4  # float32 kernels of two runtimes; measured differences are ~1e-7
CHECK_ROWS = 16  # checked as batches of 1 and 15, neither the batch of 2 the ONNX graph is traced with
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")  # onnxscript: torch's dynamo exporter writes ONNX with it
ONNX_EXTRA = "pip install 'vertical-automl[onnx]'"
TEMPORARY = ".vautoml-export-"  # + writer's process id + "-" + random + "-" + final name
# What earlier versions wrote inside the run folder itself, and a killed export left there.
OLD_TEMPORARY = re.compile(r"\.[0-9a-f]{8}-(model\.onnx|model\.weights\.h5|manifest\.json)")


@dataclass(frozen=True)
class ExportResult:
    """The file written, how closely it reproduced Keras's predictions, and its manifest entry.

    ``record`` is what the run's manifest lists under ``exports`` (an export
    with ``--output`` leaves the manifest alone, but its record is still made:
    ``vautoml export --quantize`` installs an fp32 export it wrote aside only
    once the int8 one is accepted).
    """

    path: Path
    format: str
    max_difference: float
    inputs_checked: int
    record: ExportRecord


def export_model(
    bundle: Path, fmt: str, output: Path | None = None, plugins: InstalledPlugins | None = None
) -> ExportResult:
    """Write the bundle's model as ``fmt`` ("onnx" or "weights"), verified against Keras.

    Without ``output`` the file goes beside ``model.keras`` and the run's
    manifest records it under ``"exports"``; with it, the file goes there and
    the run is left untouched.  Files are written under a temporary name and
    renamed into place; a run's are written beside the run folder, not in it,
    so that an export killed half-way leaves the run exactly as it was.
    ``plugins`` are where a plugin's input kind is found (default: this process's).
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format '{fmt}'", f"use one of: {', '.join(FORMATS)}")
    target = _target(bundle, fmt, output)
    read_run(bundle)  # refuses a damaged run, or one from a newer vautoml, before any work
    scratch = scratch_folder(bundle) if output is None else target.parent
    remove_stale_temporaries(scratch, bundle if output is None else None)
    if fmt == "onnx":
        _check_onnx_installed()
    from .bundle.writer import library_versions
    from .heads import has_members
    from .predictor import load_model

    libraries = (
        library_versions(("keras", "torch", *ONNX_PACKAGES)) if fmt == "onnx" else library_versions(("keras", "h5py"))
    )
    model = load_model(bundle)
    spec = read_bundle_json(bundle, PREPROCESSING_FILE)["input"]
    x = check_inputs(model, spec, plugins=plugins)
    expected = np.asarray(model.predict(x, verbose=0))
    temporary = temporary_file(scratch, target.name)
    try:
        # A full disk is found before writing: h5py crashes the process on a weights file cut short.
        check_space(scratch, room_to_save(model), f"to write {target.name}")
        got = _onnx(model, temporary, x) if fmt == "onnx" else _weights(model, temporary, x)
        difference = float(np.max(np.abs(got - expected)))
        if not difference <= TOLERANCE:
            raise SearchError(
                f"the {fmt} export of '{bundle}' differs from the Keras model by {difference:.3g} "
                f"(more than {TOLERANCE:g}); nothing was written",
                "report this as a bug with --debug output",
            )
        os.replace(temporary, target)
    except Exception as error:
        if disk_full(error):
            raise StorageError(
                f"the disk holding {disk(scratch)} is full; nothing was written and the run is unchanged",
                "free space on that disk and run the export again",
            ) from error
        raise
    finally:
        temporary.unlink(missing_ok=True)
    record = ExportRecord(
        file=target.name,
        max_abs_difference=difference,
        inputs_checked=len(x),
        libraries=libraries,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        members=has_members(model) if fmt == "onnx" else None,  # Keras formats keep the layer names that say it
    )
    if output is None:
        record_exports(bundle, {fmt: record})
    return ExportResult(target, fmt, difference, len(x), record)


def remove_stale_temporaries(scratch: Path, run: Path | None = None) -> None:
    """Delete what killed exports left: temporaries in ``scratch`` whose writer is gone, earlier versions' in ``run``.

    A temporary whose process still runs belongs to an export in progress and is kept.
    """
    stale = [path for path in scratch.glob(f"{TEMPORARY}*") if not _writer_alive(path)]
    if run is not None:
        stale += [path for path in run.iterdir() if OLD_TEMPORARY.fullmatch(path.name) and path.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)


def scratch_folder(bundle: Path) -> Path:
    """Where a run's exports are written before being renamed in: the folder holding the run (same file system)."""
    return bundle.resolve().parent


def temporary_file(scratch: Path, name: str) -> Path:
    """A hidden name in ``scratch`` with this process's id, ending in ``name`` (save_weights checks the suffix)."""
    return scratch / f"{TEMPORARY}{os.getpid()}-{uuid.uuid4().hex[:8]}-{name}"


def _writer_alive(temporary: Path) -> bool:
    """Whether the process named in a temporary's name still runs (one of another user counts as running)."""
    pid = temporary.name[len(TEMPORARY) :].split("-", 1)[0]
    if not pid.isdigit() or int(pid) <= 0:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_inputs(
    model: Any, spec: dict[str, Any], rows: int = CHECK_ROWS, seed: int = 0, plugins: InstalledPlugins | None = None
) -> np.ndarray:
    """Inputs like the run's real ones, from ``preprocessing.json``'s ``input`` section.

    Random values of the right shape are not enough: a text model's token ids
    must index its vocabulary, and table rows far from the training data
    saturate the output so that a wrong model can still agree with Keras.  So
    the run's input kind makes them (``InputKind.examples``); a kind without
    ``examples`` gets values over its ``value_range`` (or 0 and 1 for integers).
    """
    if len(model.inputs) != 1:
        raise UsageError(
            f"the model has {len(model.inputs)} inputs; vautoml exports single-input models",
            "export it with Keras directly",
        )
    shape, dtype = (rows, *model.inputs[0].shape[1:]), np.dtype(model.inputs[0].dtype)
    rng = np.random.default_rng(seed)
    kind = input_kind(spec.get("kind", ""), plugins)
    if kind.examples is not None:
        return np.asarray(kind.examples(spec, rows, rng)).astype(dtype)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, 2, size=shape).astype(dtype)
    low, high = spec.get("value_range", (0.0, 1.0))
    return rng.uniform(low, high, size=shape).astype(dtype)


def _target(bundle: Path, fmt: str, output: Path | None) -> Path:
    if output is None:
        return bundle / FORMATS[fmt]
    if output.is_dir():
        raise UsageError(f"--output '{output}' is a folder", f"give a file name, e.g. {output / FORMATS[fmt]}")
    if fmt == "weights" and not output.name.endswith(WEIGHTS_SUFFIX):
        raise UsageError(
            f"--output '{output}' does not end in {WEIGHTS_SUFFIX}, which Keras requires of weights files",
            f"name it e.g. {output.stem}{WEIGHTS_SUFFIX}",
        )
    if not output.parent.is_dir():
        raise UsageError(f"the folder of --output '{output}' does not exist", "create it first or give another path")
    return output


def _check_onnx_installed() -> None:
    """One error naming the missing ONNX packages, before any model is loaded."""
    missing = []
    for name in ONNX_PACKAGES:
        try:
            import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise UsageError(
            f"ONNX export needs {', '.join(missing)}, {'which is' if len(missing) == 1 else 'which are'} not installed",
            ONNX_EXTRA,
        )


def _onnx(model: Any, path: Path, x: np.ndarray) -> np.ndarray:
    """Export with torch's dynamo exporter and a dynamic batch; return onnxruntime's predictions on ``x``.

    The same steps as ``keras.Model.export(format="onnx")`` on torch (eval,
    ``torch.onnx.export(dynamo=True)``, optimize, save), which takes them only for
    inputs of fixed shape; see the module docstring for why.
    """
    import onnx
    import onnxruntime
    import torch

    model.eval()
    batch = torch.export.Dim("batch")
    try:
        with _quiet():
            program = torch.onnx.export(
                _inference_module(model),
                (torch.from_numpy(x[:2]),),
                dynamo=True,
                dynamic_shapes=({0: batch},),  # forward(x): its one input, batch free
                input_names=[model.inputs[0].name],
                output_names=["output"],
                optimize=True,
                verbose=False,
            )
            program.save(str(path))
        onnx.checker.check_model(str(path))
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise SearchError(
            f"ONNX export failed ({type(error).__name__}: {first_line})", "report this as a bug with --debug output"
        ) from error
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: rows})[0] for rows in (x[:1], x[1:])])


def _inference_module(model: Any) -> Any:
    """``model`` called with ``training=False``, as a torch module for the exporter to trace.

    torch's exporter calls a module without arguments but its inputs, and
    Keras's image augmentation layers (``RandomFlip``, ``RandomRotation``,
    ...) default to ``training=True``: traced that way they transform the
    image, with data-dependent shapes that ``torch.export`` refuses.  Every
    vision model whose best trial augments failed to export.  Keras's own
    ``predict`` passes ``training=False``; so does this.
    """
    import torch

    class Inference(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: Any) -> Any:
            return self.model(x, training=False)

    return Inference()


@contextmanager
def _quiet() -> Iterator[None]:
    """Hide the exporter's warnings and log lines (e.g. about torchvision ops); the result is verified instead."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _weights(model: Any, path: Path, x: np.ndarray) -> np.ndarray:
    """Save the weights and return the predictions of a model rebuilt from the config alone with them loaded."""
    import keras

    model.save_weights(str(path))
    fresh = keras.models.model_from_json(model.to_json())
    fresh.load_weights(str(path))
    return np.asarray(fresh.predict(x, verbose=0))


def record_exports(bundle: Path, exports: dict[str, ExportRecord]) -> None:
    """Add exports to the run's manifest (``exports`` and ``files``), rewritten atomically.

    Read, change and replace happen under an exclusive lock on the run folder
    itself, so two exports of one run at once (say ONNX and weights) both end
    up in the manifest instead of the later one's rewrite dropping the other.
    """
    with _locked(bundle):
        _update_manifest(bundle, exports)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on a folder's own descriptor: nothing to create, and released if the process dies."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _update_manifest(bundle: Path, exports: dict[str, ExportRecord]) -> None:
    path = bundle / MANIFEST_FILE
    manifest = Manifest.from_json(read_bundle_json(bundle, MANIFEST_FILE))
    for fmt, export in exports.items():
        manifest = manifest.with_export(fmt, export)
    temporary = temporary_file(scratch_folder(bundle), MANIFEST_FILE)
    try:
        temporary.write_text(json.dumps(manifest.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
