"""The estimator backend: trees and other models with ``fit``/``predict``/``save``.

Builders return an ``automl.core.plugin.BaseEstimator`` (contract 1.1) or, from plugins written for
contract 1.0, any object with ``fit``, ``predict`` and ``save``; the latter are wrapped once in
``_Contract10`` so nothing else asks what an estimator has.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from automl.backends.base import FitResult, Goal
from automl.core.errors import PluginError, TrialPruned
from automl.core.plugin import BaseEstimator, Estimator, ModelPlugin, Report, resolve
from automl.core.records import Unit
from automl.data import Dataset

__all__ = ["EstimatorBackend", "as_estimator"]


class _Contract10(BaseEstimator):
    """A contract-1.0 estimator (duck-typed) seen through the 1.1 base class."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def fit(self, train: Any, val: Any, report: Report | None) -> None:
        if hasattr(self.inner, "seed"):
            self.inner.seed = self.seed
        self.inner.fit(train, val, report)

    def predict(self, x: Any) -> Any:
        return self.inner.predict(x)

    def save(self, directory: str) -> str:
        return str(self.inner.save(directory))

    def predict_proba(self, x: Any) -> Any:
        if not callable(getattr(self.inner, "predict_proba", None)):
            return super().predict_proba(x)
        return self.inner.predict_proba(x)

    def fitted_budget(self) -> dict[str, Any]:
        budget = getattr(self.inner, "fitted_budget", None)
        return dict(budget()) if callable(budget) else {}

    def n_params(self) -> int | None:
        size = getattr(self.inner, "n_params", None)
        return size() if callable(size) else None

    def device(self) -> str:
        own = getattr(self.inner, "device", None)
        return str(own()) if callable(own) else super().device()

    def evaluate(self, x: Any, y: Any, task: str) -> dict[str, float]:
        own = getattr(self.inner, "evaluate", None)
        return dict(own(x, y, task)) if callable(own) else super().evaluate(x, y, task)


def as_estimator(obj: Any, plugin_name: str = "?") -> BaseEstimator:
    """``obj`` as a ``BaseEstimator``, checking that it is an estimator at all.

    Raises:
        PluginError: ``obj`` lacks ``fit``, ``predict`` or ``save``.
    """
    if isinstance(obj, BaseEstimator):
        return obj
    missing = [m for m in ("fit", "predict", "save") if not callable(getattr(obj, m, None))]
    if missing:
        raise PluginError(
            f"model '{plugin_name}': build returned {type(obj).__module__}."
            f"{type(obj).__qualname__}, which has no {', '.join(missing)} method; an "
            "estimator-kind builder returns an automl.BaseEstimator"
        )
    return _Contract10(obj)


def _own(model: BaseEstimator) -> Any:
    """The plugin's own object (results hand back what the builder returned)."""
    return model.inner if isinstance(model, _Contract10) else model


def _size(model: BaseEstimator) -> int | None:
    """The model's ``n_params()`` as an int, or ``None`` when it does not say."""
    size = model.n_params()
    return int(size) if isinstance(size, (int, float)) and not isinstance(size, bool) else None


def _pruning_report(report: Report | None, key: str) -> Report:
    """The ``report`` handed to an estimator: checks values, raises the prune itself."""

    def wrapped(step: int, value: float) -> bool:
        value = float(value)
        if not math.isfinite(value):
            raise FloatingPointError(f"{key} is {value} at step {step}")
        if report is not None and report(step, value):
            raise TrialPruned(step, value)
        return False

    return wrapped


class EstimatorBackend:
    """Backend for ``kind="estimator"`` plugins."""

    kind = "estimator"
    unit: Unit = "step"
    expensive = False  # a trial costs what the model's config says, usually seconds

    def __init__(self, trainer_cfg: Any) -> None:
        self.cfg = trainer_cfg

    def describe(self) -> str:
        """Where trials train, in one line (the header shows it)."""
        return "trials train on CPU unless the model's own config picks a device (model.device)"

    def _build(self, plugin: ModelPlugin, cfg: Any, spec: Any, seed: int) -> BaseEstimator:
        model = as_estimator(resolve(plugin.build)(cfg, spec), plugin.name)
        model.seed = int(seed)
        return model

    def device_for(self, plugin: ModelPlugin, cfg: Any, spec: Any) -> str:
        """Where a model of ``cfg`` trains: the estimator's own ``device()`` (a build, no fit;
        XGBoost picks CUDA with ``model.device=auto`` when it can)."""
        return as_estimator(resolve(plugin.build)(cfg, spec), plugin.name).device()

    def reload_differs(self, model: Any, reloaded: Any) -> str | None:
        """``None``: an estimator's state is its own format; its predictions are compared."""
        return None

    def check_built(self, model: Any) -> str | None:
        """Why ``model`` is not what an estimator builder must return, or ``None``."""
        missing = [m for m in ("fit", "predict", "save") if not callable(getattr(model, m, None))]
        if not missing and isinstance(model, Estimator):
            return None
        return (
            f", which lacks {', '.join(missing)}; a kind='estimator' builder must return an "
            "object with fit(train, val, report), predict(x) and save(directory)"
        )

    def preflight(self, plugin: ModelPlugin, cfg: Any, dataset: Dataset) -> None:
        """Build ``cfg`` and check that it is an estimator.

        No fit: an estimator's cost is set by its config (a forest of 50,000 trees trains as
        long on a few rows as a trial), so fitting here could cost as much as a trial.
        """
        self._build(plugin, cfg, dataset.spec, 0)

    def fit(
        self,
        plugin: ModelPlugin,
        cfg: Any,
        dataset: Dataset,
        goal: Goal,
        *,
        report: Report | None,
        seed: int,
        log_dir: str | None = None,
    ) -> FitResult:
        start = time.perf_counter()
        model = self._build(plugin, cfg, dataset.spec, seed)
        steps = {"n": 0}
        if log_dir is not None:  # one metrics.csv row per report
            from automl.backends.trial_log import METRICS_FILE, csv_report

            report = csv_report(report, Path(log_dir) / METRICS_FILE, goal.key)
        checked = _pruning_report(report, goal.key)

        def counting(step: int, value: float) -> bool:
            steps["n"] = step + 1
            return checked(step, value)

        train, val = dataset.train, dataset.val
        model.fit((train.x, train.y), (val.x, val.y), counting)
        metrics = self._metrics(model, dataset, "val")
        if goal.key not in metrics:
            raise KeyError(
                f"model '{plugin.name}' gave metrics {sorted(metrics)} without "
                f"'{goal.key}', the metric to optimize; return it from evaluate()"
            )
        bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
        if bad:
            raise FloatingPointError(f"{bad[0]} is {metrics[bad[0]]}")
        return FitResult(
            value=metrics[goal.key],
            metrics=metrics,
            epochs=max(steps["n"], 1),
            n_params=_size(model),
            artifact=None,
            wall_time=time.perf_counter() - start,
            model=_own(model),
            budget=dict(model.fitted_budget()),
        )

    def refit(
        self, plugin: ModelPlugin, cfg: Any, dataset: Dataset, budget: dict[str, Any], *, seed: int
    ) -> FitResult:
        start = time.perf_counter()
        known = {f.name for f in dataclasses.fields(cfg)}
        unknown = sorted(set(budget) - known)
        if unknown:
            raise ValueError(
                f"{plugin.name}: fitted_budget() names {unknown}, which are not config fields"
            )
        model = self._build(plugin, dataclasses.replace(cfg, **budget), dataset.spec, seed)
        model.fit((dataset.train.x, dataset.train.y), None, None)
        wall = time.perf_counter() - start
        # One fit call; the budget says how many rounds or trees it grew.
        return FitResult(float("nan"), {}, 1, _size(model), None, wall, _own(model), dict(budget))

    def _metrics(self, model: BaseEstimator, dataset: Dataset, split: str) -> dict[str, float]:
        part = getattr(dataset, split)
        metrics = model.evaluate(part.x, part.y, dataset.spec.task)
        return {f"{split}_{k}": float(v) for k, v in metrics.items()}

    def evaluate(self, plugin: ModelPlugin, model: Any, dataset: Dataset, split: str) -> dict:
        return self._metrics(as_estimator(model, plugin.name), dataset, split)

    def generates(self, model: Any) -> bool:
        return False  # an estimator's duty is predict (docs/plugins.md)

    def predict(self, model: Any, x: np.ndarray, task: str) -> np.ndarray:
        return np.asarray(model.predict(x))

    def predict_with_proba(
        self, model: Any, x: np.ndarray, task: str
    ) -> tuple[np.ndarray, np.ndarray | None]:
        pred = np.asarray(model.predict(x))
        if task != "classification":
            return pred, None
        try:
            proba = as_estimator(model).predict_proba(x)
        except NotImplementedError:
            return pred, None
        return pred, np.asarray(proba, dtype=np.float64)

    def save(self, plugin: ModelPlugin, model: Any, directory: str) -> str:
        return str(as_estimator(model, plugin.name).save(str(directory)))

    def load(self, plugin: ModelPlugin, directory: str, cfg: Any, spec: Any) -> Any:
        if plugin.load is None:
            raise PluginError(f"estimator plugin '{plugin.name}' declares no load function")
        return _own(as_estimator(resolve(plugin.load)(str(directory), cfg, spec), plugin.name))

    def result_settings(self) -> dict[str, Any]:
        # Estimators take their length from their own config; only the seed policy matters.
        return {"seed": self.cfg.seed}
