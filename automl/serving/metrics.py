"""Prometheus metrics of a served model, named as BentoML users know them (``automl_`` prefix).

| metric | type | labels |
| --- | --- | --- |
| ``automl_request_total`` | counter | ``endpoint``, ``http_response_code`` |
| ``automl_request_duration_seconds`` | histogram | ``endpoint``, ``http_response_code`` |
| ``automl_request_in_progress`` | gauge | ``endpoint`` |
| ``automl_adaptive_batch_size`` | histogram | (rows per model call) |
| ``automl_predictions_total`` | counter | ``class`` (classification) |
| ``automl_prediction_value`` | histogram | (regression; buckets at the training target's deciles) |
| ``automl_feature_drift_psi`` | gauge | ``feature`` |
| ``automl_drift_score`` | gauge | (mean PSI over features) |
| ``automl_drift_window_samples`` | gauge | (rows in the drift window) |
| ``automl_model_info`` | gauge (1) | ``name``, ``study``, ``trial``, model, data, versions |

With several worker processes (``--workers``) prometheus-client's multiprocess mode adds
counters and histograms of all workers; each worker keeps its own drift window and the
gauges show the most recent one.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["ServingMetrics", "LATENCY_BUCKETS", "BATCH_BUCKETS", "multiprocess_dir"]

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The multiprocess directory when several workers share the metrics, else ``None``."""
    return os.environ.get(MULTIPROC_ENV) or None


class ServingMetrics:
    """The metrics of one server, in their own registry.

    Request metrics exist from the start (requests are counted while the model loads);
    ``bind_model`` adds the model's own once it is loaded.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        multi = multiprocess_dir() is not None
        reg = None if multi else self.registry  # multiprocess: values live in files
        self._reg = reg
        self.requests = Counter(
            "automl_request",
            "HTTP requests by endpoint and status code",
            ["endpoint", "http_response_code"],
            registry=reg,
        )
        self.latency = Histogram(
            "automl_request_duration_seconds",
            "Time from request to response, by endpoint and status code",
            ["endpoint", "http_response_code"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.in_progress = Gauge(
            "automl_request_in_progress",
            "Requests being handled",
            ["endpoint"],
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.batch_size = Histogram(
            "automl_adaptive_batch_size",
            "Rows per model call after adaptive batching",
            buckets=BATCH_BUCKETS,
            registry=reg,
        )
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._gauges: dict[str, Any] = {}
        self.classes: list[str] | None = None
        self.predictions: Counter | None = None
        self.values: Histogram | None = None
        self.drift_names: tuple[str, ...] = ()

    def bind_model(
        self,
        info: dict[str, str],
        classes: list[str] | None,
        value_buckets: tuple[float, ...] | None = None,
        drift_names: tuple[str, ...] = (),
    ) -> None:
        """Add the metrics of the loaded model.

        Args:
            info: Labels of ``automl_model_info``.
            classes: Class labels (classification) or ``None`` (regression, generation).
            value_buckets: Bucket bounds of ``automl_prediction_value`` (regression; empty:
                Prometheus's defaults); ``None`` for no value histogram.
            drift_names: Drift feature names (``automl.results.drift``), empty without a reference.
        """
        reg = self._reg
        self.classes = classes
        self.predictions = (
            Counter("automl_predictions", "Predicted labels", ["class"], registry=reg)
            if classes is not None
            else None
        )
        self.values = (
            Histogram(
                "automl_prediction_value",
                "Predicted values (buckets at the training target's deciles)",
                buckets=(*value_buckets, float("inf"))
                if value_buckets
                else Histogram.DEFAULT_BUCKETS,  # noqa: E501
                registry=reg,
            )
            if value_buckets is not None
            else None
        )
        self.drift_names = drift_names
        self.feature_psi = Gauge(
            "automl_feature_drift_psi",
            "Population stability index of a feature: recent inputs vs training deciles",
            ["feature"],
            registry=reg,
            multiprocess_mode="mostrecent",
        )
        self.drift_score = Gauge(
            "automl_drift_score",
            "Overall input drift: mean PSI over features (0.1 moderate, 0.25 major)",
            registry=reg,
            multiprocess_mode="mostrecent",
        )
        self.drift_samples = Gauge(
            "automl_drift_window_samples",
            "Recent input rows the drift gauges are computed on",
            registry=reg,
            multiprocess_mode="mostrecent",
        )
        model_info = Gauge(
            "automl_model_info",
            "The served model (value 1); labels say which study, trial and versions",
            list(info),
            registry=reg,
            multiprocess_mode="max",
        )
        model_info.labels(**info).set(1)
        for name in drift_names:
            self.feature_psi.labels(feature=name).set(float("nan"))
        self.drift_score.set(float("nan"))
        if self.predictions is not None and classes is not None:
            for label in classes:
                self.predictions.labels(**{"class": label}).inc(0)

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        key = (endpoint, status)
        children = self._children.get(key)
        if children is None:  # label lookups cost more than the update: keep the children
            code = str(status)
            children = (self.requests.labels(endpoint, code), self.latency.labels(endpoint, code))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def in_progress_of(self, endpoint: str) -> Gauge:
        """The in-progress gauge of ``endpoint`` (cached child)."""
        child = self._gauges.get(endpoint)
        if child is None:
            child = self._gauges[endpoint] = self.in_progress.labels(endpoint)
        return child

    def observe_batch(self, rows: int, predictions: np.ndarray) -> None:
        """Count one model call and what it predicted (class ids or values)."""
        self.batch_size.observe(rows)
        if self.predictions is not None and self.classes is not None:
            ids, counts = np.unique(np.asarray(predictions).astype(np.int64), return_counts=True)
            for i, c in zip(ids.tolist(), counts.tolist(), strict=True):
                label = self.classes[i] if 0 <= i < len(self.classes) else str(i)
                self.predictions.labels(**{"class": label}).inc(c)
        elif self.values is not None:
            for v in np.asarray(predictions, dtype=np.float64).reshape(-1).tolist():
                self.values.observe(v)

    def set_drift(self, psi: list[float], samples: int) -> None:
        """Publish the drift monitor's current values."""
        for name, value in zip(self.drift_names, psi, strict=True):
            self.feature_psi.labels(feature=name).set(value)
        self.drift_score.set(float(np.mean(psi)) if psi else float("nan"))
        self.drift_samples.set(samples)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return generate_latest(registry)


def info_labels(card: dict[str, Any]) -> dict[str, str]:
    """``automl_model_info`` labels from a predictor's provenance."""
    versions = card.get("versions") or {}
    return {
        "name": str(card.get("name") or ""),
        "study": str(card.get("study") or ""),
        "trial": str(card.get("trial") if card.get("trial") is not None else ""),
        "model": str(card.get("model") or ""),
        "data": str(card.get("data") or ""),
        "automl_version": str(versions.get("automl") or versions.get("automl_loading") or ""),
        "plugin_version": str(versions.get("plugin") or versions.get("plugin_installed") or ""),
    }
