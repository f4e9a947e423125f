"""Writing the export bundle: ``model.keras`` plus plain-JSON sidecars and a model card.

The model must load with ``keras.saving.load_model(path)`` in safe mode, in
a process that never imports vautoml; before publishing, the saved file is
reloaded with safe mode on and its predictions compared, so a model that would
need custom objects or a Lambda layer never reaches the registry.
"""

from __future__ import annotations

import json
import math
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .errors import SearchError
from .vertical import Vertical

FORMAT_VERSION = 1
MODEL_FILE = "model.keras"
MODEL_CARD_FILE = "model_card.md"


def library_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("vertical-automl", "keras", "keras-tuner", "torch", "numpy", "scikit-learn", "h5py", "pillow"):
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


def save_model(model: keras.Model, bundle: Path, sample: np.ndarray, expected: np.ndarray) -> None:
    """Save ``model.keras`` and prove it reloads in safe mode with the same predictions."""
    path = bundle / MODEL_FILE
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    again = np.asarray(reloaded.predict(sample, verbose=0))
    if not np.allclose(again, expected, atol=1e-5):
        raise SearchError("the exported model gives different predictions after reloading", "report this as a bug with --debug output")


def write_bundle(bundle: Path, model: keras.Model, documents: dict[str, Any], vertical: Vertical, sample: np.ndarray, expected: np.ndarray) -> None:
    """Write ``model.keras`` (verified), every JSON sidecar in ``documents`` and the model card."""
    bundle.mkdir()
    save_model(model, bundle, sample, expected)
    for name, payload in documents.items():
        write_json(bundle / name, payload)
    card = model_card(vertical, documents["preprocessing.json"], documents["report.json"], documents["manifest.json"])
    (bundle / MODEL_CARD_FILE).write_text(card, encoding="utf-8")


def model_card(vertical: Vertical, preprocessing: dict[str, Any], report: dict[str, Any], manifest: dict[str, Any]) -> str:
    """A Markdown model card: use, data, metrics, limitations, input spec, and how to load it."""
    metrics = report["test_metrics"]
    data = report["dataset"]
    spec = preprocessing["input"]
    counts = ", ".join(f"{name}: {n}" for name, n in data["splits"]["train"]["class_counts"].items())
    lines = [
        f"# Model card: {vertical.name} run {manifest['run_id']}",
        "",
        "## Intended use",
        f"{vertical.description} Trained by vertical-automl {manifest['libraries']['vertical-automl']} "
        f"({report['search']['tuner']} search, {report['search']['trials']['total']} trial(s)). "
        "Check the metrics below on data like yours before relying on it.",
        "",
        "## Data",
        f"- Source: {data['source']}; test split: {data['test_source']}",
        f"- Classes ({len(data['classes'])}): {', '.join(data['classes'])}",
        f"- Examples: train {data['splits']['train']['examples']}, validation {data['splits']['validation']['examples']}, test {data['splits']['test']['examples']}",
        f"- Training class counts: {counts}",
        f"- Fingerprint (sha256 of the arrays): {manifest['data']['fingerprint']}",
        "",
        "## Metrics on the held-out test split",
        f"- Accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}, macro precision {metrics['macro_precision']:.4f}, macro recall {metrics['macro_recall']:.4f}",
        f"- The exported model is the best hyperparameters {report['model']['training']}.",
        "",
        "## Input specification",
        "```json",
        json.dumps(spec, indent=2),
        "```",
        *[f"- {note}" for note in vertical.model_card_notes],
        "",
        "## Use it without vertical-automl",
        "Needs only `keras` (3.x) with the torch backend, `numpy` and, for image files, `pillow`:",
        "```python",
        "import json, os",
        'os.environ["KERAS_BACKEND"] = "torch"',
        "import keras, numpy as np",
        'model = keras.saving.load_model("model.keras")  # safe mode stays on',
        'prep = json.load(open("preprocessing.json"))',
        *(vertical.usage_code(spec) if vertical.usage_code else ['x = ...  # arrays shaped as in the input specification']),
        'probabilities = model.predict(x)',
        'labels = [prep["class_names"][i] for i in probabilities.argmax(axis=1)]',
        "```",
        "",
        "## Limitations",
        "- Scores come from one held-out split of the data named above; data from another source, device or population may score lower.",
        "- Inputs outside the documented shape or value range are not checked by the model itself.",
        f"- Library versions: {', '.join(f'{k} {v}' for k, v in manifest['libraries'].items())}.",
        "",
    ]
    return "\n".join(lines)
