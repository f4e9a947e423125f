"""``/metrics``: the server's traffic, predictions, batches and input drift, in Prometheus's text format.

Everything lives in the server's own :class:`~prometheus_client.CollectorRegistry`
(never the process-global one), so two apps in one process (tests) do not
share counters.  Requests are labelled by route *template*
(``/v2/models/{name}/infer``), never by raw path, so a scanner probing
random URLs cannot blow up the number of series.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, Summary
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from .batching import BatchDone
from .runtime import ModelRuntime

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
# Regression predictions in standard deviations of the training target around its mean (report.json).
ZSCORE_BUCKETS = (-3.0, -2.0, -1.5, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServerMetrics:
    """The server's metric families; the app and the batcher record into them."""

    def __init__(self, runtimes: Sequence[ModelRuntime]) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "vautoml_http_requests",
            "HTTP requests by route template, method and status code.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "vautoml_http_request_duration_seconds",
            "Time from receiving a request to sending the end of its response, by route template.",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "vautoml_predictions",
            "Predicted labels of classification models, by model and class.",
            ("model", "class"),
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "vautoml_batch_rows",
            "Rows per model call (requests of one model gathered by the batcher).",
            ("model",),
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_requests = Histogram(
            "vautoml_batch_requests",
            "Requests per model call: above 1 when concurrent requests share a call.",
            ("model",),
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.ready = Gauge(
            "vautoml_model_ready",
            "1 once the model loaded and answered its warm-up request, else 0.",
            ("model",),
            registry=self.registry,
        )
        self.values = Summary(
            "vautoml_predicted_value",
            "Values predicted by regression models (count and sum: the mean prediction), by model.",
            ("model",),
            registry=self.registry,
        )
        self.zscores = Histogram(
            "vautoml_predicted_value_zscore",
            "Values predicted by regression models, in training-target standard deviations from its mean.",
            ("model",),
            buckets=ZSCORE_BUCKETS,
            registry=self.registry,
        )
        self._target_scale: dict[str, tuple[float, float]] = {}
        for runtime in runtimes:
            self.ready.labels(runtime.name).set(0)
            if runtime.preprocessor.task == "regression":
                self._target_scale[runtime.name] = _target_scale(runtime)

    def record_batch(self, batch: BatchDone) -> None:
        self.batch_rows.labels(batch.model).observe(len(batch.x))
        self.batch_requests.labels(batch.model).observe(batch.requests)

    def record_predictions(self, runtime: ModelRuntime, labels: list[Any]) -> None:
        scale = self._target_scale.get(runtime.name)
        if scale is not None:
            mean, std = scale
            for value in labels:
                self.values.labels(runtime.name).observe(value)
                self.zscores.labels(runtime.name).observe((value - mean) / std)
            return
        names, counts = np.unique(np.asarray(labels, dtype=object).astype(str), return_counts=True)
        for name, count in zip(names, counts):
            self.predictions.labels(runtime.name, name).inc(int(count))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _target_scale(runtime: ModelRuntime) -> tuple[float, float]:
    """The training target's mean and standard deviation (report.json), so predictions are bucketed on its scale."""
    train = runtime.run.report.dataset.get("splits", {}).get("train", {})
    mean, std = train.get("target_mean"), train.get("target_std")
    return (float(mean), float(std)) if mean is not None and std else (0.0, 1.0)
