"""Checks (f) and (g): the published bundle is used as users use it, and gives the search's numbers again.

(f) ``predict`` and ``evaluate`` read the test file through the bundle alone
(``preprocessing.json`` and the vertical's loaders) and must reproduce the
test metrics the search reported; (g) ``vautoml export --format onnx`` must
write a file onnxruntime runs to Keras's predictions.
"""

from __future__ import annotations

import importlib.util
import math
import unittest
from typing import Any

import numpy as np

from .failure import Failure
from .runs import Shared
from .subject import Subject

METRIC_TOLERANCE = 1e-6
ONNX_TOLERANCE = 1e-4  # two runtimes' float32 kernels, as vautoml export allows
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")


def check_predict_evaluate(subject: Subject, shared: Shared) -> None:
    """``evaluate`` and ``predict`` on the test file reproduce the search's test metrics."""
    from ..data.arrays import align_to_classes
    from ..loading import load_source
    from ..predictor import evaluate, load
    from ..scoring import score_test_split

    if subject.test_data is None:
        raise unittest.SkipTest("no test_data given: predict and evaluate need a test file to reproduce the report")
    result = shared.first()
    reported = result.report["test_metrics"]
    evaluated = evaluate(result.path, subject.test_data, plugins=subject.plugins)["test_metrics"]
    difference = differences(reported, evaluated)
    if difference:
        raise Failure(
            f"vautoml evaluate on '{subject.test_data}' disagrees with the search's test metrics: {difference}",
            "make the loader read a file the same way with like= as without, and the encoder rebuild from its spec",
        )
    predictor = load(result.path, plugins=subject.plugins)
    vertical, _ = subject.vertical()
    labelled = load_source(subject.plugins, vertical, subject.test_data, {}, like=predictor.reference())
    if predictor.task != "regression":
        labelled = align_to_classes(labelled, tuple(predictor.class_names))
    scores = predictor.scores(predictor.encode(subject.test_data))
    predicted = score_test_split(
        predictor.task, labelled.y, scores, tuple(predictor.class_names), predictor.threshold()
    )
    difference = differences(reported, predicted)
    if difference:
        raise Failure(
            f"vautoml predict on '{subject.test_data}' gives other test metrics than the search: {difference}",
            "make the input kind's read and the encoder's from_spec repeat training's preprocessing exactly",
        )


def differences(expected: Any, got: Any, where: str = "") -> str:
    """The first place two metric documents differ (numbers by more than ``METRIC_TOLERANCE``), or ''."""
    if isinstance(expected, dict) and isinstance(got, dict):
        if set(expected) != set(got):
            return f"{where or 'the metrics'} have keys {sorted(got)} instead of {sorted(expected)}"
        return next((d for k in expected if (d := differences(expected[k], got[k], f"{where}.{k}".lstrip(".")))), "")
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        return next((d for i, (e, g) in enumerate(zip(expected, got)) if (d := differences(e, g, f"{where}[{i}]"))), "")
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(got, numbers) and not isinstance(expected, bool):
        same = (math.isnan(expected) and math.isnan(got)) or abs(expected - got) <= METRIC_TOLERANCE
        return "" if same else f"{where} is {got} instead of {expected}"
    return "" if expected == got else f"{where} is {got!r} instead of {expected!r}"


def check_onnx(subject: Subject, shared: Shared) -> None:
    """``export_model(fmt="onnx")`` writes a file onnxruntime runs to the Keras model's predictions."""
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise unittest.SkipTest(f"ONNX export needs {', '.join(missing)} (pip install 'vertical-automl[onnx]')")
    import onnxruntime

    from ..export import export_model
    from ..predictor import load_model

    bundle = shared.first().path
    target = subject.workdir / "model.onnx"
    export_model(
        bundle, "onnx", target, plugins=subject.plugins
    )  # beside, not in, the bundle, which the other checks read as published
    x = np.asarray(shared.dataset().test.x[:16])
    expected = np.asarray(load_model(bundle).predict(x, verbose=0))
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x.astype(session_dtype(session))}
    got = np.asarray(session.run(None, feed)[0])
    difference = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else float("inf")
    if not difference <= ONNX_TOLERANCE:
        raise Failure(
            f"the ONNX file predicts up to {difference:.3g} away from Keras on the test split "
            f"(shapes {got.shape} and {expected.shape})",
            "build the model from layers torch's ONNX exporter supports",
        )


def session_dtype(session: Any) -> Any:
    kind = session.get_inputs()[0].type  # e.g. "tensor(float)", "tensor(int32)"
    return {"tensor(float)": np.float32, "tensor(int32)": np.int32, "tensor(int64)": np.int64}.get(kind, np.float32)
