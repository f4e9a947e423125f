"""Writing the bundle a search publishes: ``model.keras`` plus plain-JSON sidecars and a model card.

The model must load with ``keras.saving.load_model(path)`` in safe mode, in
a process that never imports vautoml; before publishing, the saved file is
reloaded with safe mode on and its predictions compared, so a model that would
need custom objects or a Lambda layer never reaches the registry.
"""

from __future__ import annotations

import json
import math
import platform
import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..data.input_kind import InputKind
from ..errors import SearchError
from ..report.sections import Evaluation, ReportSection
from ..vertical import Vertical
from .documents import BundleDocuments
from .files import MANIFEST_FILE, MODEL_CARD_FILE, MODEL_FILE, PREPROCESSING_FILE, REPORT_FILE
from .model_card import model_card
from .report import write_report

BUNDLE_LIBRARIES = (
    "vertical-automl",
    "keras",
    "keras-tuner",
    "torch",
    "numpy",
    "scikit-learn",
    "pandas",
    "pyarrow",
    "h5py",
    "pillow",
)


def library_versions(names: tuple[str, ...] = BUNDLE_LIBRARIES) -> dict[str, str]:
    """Python's and each named distribution's version ("not installed" where absent), for manifests."""
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def _finite(value: Any) -> Any:
    """JSON has no NaN or Infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


def write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(_finite(payload), indent=2, allow_nan=False) + "\n", encoding="utf-8")


def save_model(model: keras.Model, bundle: Path, sample: np.ndarray) -> None:
    """Save ``model.keras`` and prove it reloads in safe mode with the same predictions."""
    path = bundle / MODEL_FILE
    expected = np.asarray(model.predict(sample, verbose=0))
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        # A trial model restored from its checkpoint (--no-refit) has no optimizer state;
        # save a complete one, or every load warns about skipped optimizer variables.
        optimizer.build(model.trainable_variables)
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    again = np.asarray(reloaded.predict(sample, verbose=0))
    if not np.allclose(again, expected, rtol=1e-4, atol=1e-5):
        raise SearchError(
            "the exported model gives different predictions after reloading", "report this as a bug with --debug output"
        )


def write_bundle(
    bundle: Path,
    model: keras.Model,
    documents: BundleDocuments,
    vertical: Vertical,
    evaluation: Evaluation,
    sections: list[ReportSection],
    sample: np.ndarray,
    logs: Path,
    kind: InputKind,
) -> None:
    """Write ``model.keras`` (verified), the JSON sidecars, the model card, the reports and the trial logs.

    ``kind`` is the run's input kind, whose usage code the model card shows when the vertical has none.
    The manifest is written last, listing the report's files too.
    """
    bundle.mkdir()
    shutil.copytree(logs, bundle / "logs")
    save_model(model, bundle, sample)
    for name, payload in documents.sidecars.items():
        write_json(bundle / name, payload)
    manifest = documents.manifest.to_json()
    sidecars = documents.sidecars
    card = model_card(vertical, sidecars[PREPROCESSING_FILE], sidecars[REPORT_FILE], manifest, sections, kind)
    (bundle / MODEL_CARD_FILE).write_text(card, encoding="utf-8")
    reports = write_report(bundle, {**sidecars, MANIFEST_FILE: manifest}, card, evaluation, sections)
    write_json(bundle / MANIFEST_FILE, documents.manifest.with_files(*reports).to_json())
