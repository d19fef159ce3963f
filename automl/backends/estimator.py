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
from typing import TYPE_CHECKING, Any

import numpy as np

from automl.backends.base import FitResult, Goal, TrainerSettings
from automl.backends.checkpoint import TrialCheckpoint
from automl.core.errors import PluginError, TrialPruned, reason
from automl.core.plugin import (
    TASK_METRIC_NAMES,
    BaseEstimator,
    DataSpec,
    Estimator,
    ModelPlugin,
    Report,
    resolve,
)
from automl.core.records import SWALLOWED_PRUNE, Unit
from automl.data import Dataset

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from automl.backends.trial_log import MetricsCSV

__all__ = ["EstimatorBackend", "as_estimator", "resumable"]


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

    def evaluate(self, x: object, y: object, task: str) -> dict[str, float]:
        own = getattr(self.inner, "evaluate", None)
        return dict(own(x, y, task)) if callable(own) else super().evaluate(x, y, task)

    def checkpoint(self, directory: str) -> bool:
        return bool(self.inner.checkpoint(directory))

    def resume(self, directory: str) -> None:
        self.inner.resume(directory)


def as_estimator(obj: object, plugin_name: str = "?") -> BaseEstimator:
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


def resumable(model: BaseEstimator) -> bool:
    """Whether ``model`` implements the optional ``checkpoint`` and ``resume`` hooks."""
    if isinstance(model, _Contract10):
        inner = model.inner
        return callable(getattr(inner, "checkpoint", None)) and callable(
            getattr(inner, "resume", None)
        )
    kind = type(model)
    return (
        kind.checkpoint is not BaseEstimator.checkpoint and kind.resume is not BaseEstimator.resume
    )


def _reported(model: BaseEstimator, task: str) -> tuple[str, ...] | None:
    """The metrics ``evaluate`` gives: the task's standard ones, unless the model computes its
    own (then only its training can tell: ``None``)."""
    if isinstance(model, _Contract10):
        custom = callable(getattr(model.inner, "evaluate", None))
    else:
        custom = type(model).evaluate is not BaseEstimator.evaluate
    return None if custom else tuple(TASK_METRIC_NAMES.get(task, ()))


def _size(model: BaseEstimator) -> int | None:
    """The model's ``n_params()`` as an int, or ``None`` when it does not say."""
    size = model.n_params()
    return int(size) if isinstance(size, (int, float)) and not isinstance(size, bool) else None


class _Reporter:
    """The ``report`` handed to an estimator: checks values, raises the prune itself, and
    remembers what it raised, so an estimator that catches it (``except Exception`` around
    ``report``) cannot turn a stopped trial into a complete one. Past the deadline it asks
    the estimator to stop (returns ``True``: XGBoost stops boosting cleanly, the forest stops
    growing), keeping what it fitted; an estimator that reports again after that is stopped
    by raising ``TrialPruned`` at that report (``cut``).

    Args:
        report: The study's report, or ``None``.
        key: The metric's key (for the message of a non-finite value).
        deadline: ``time.monotonic()`` past which the fit stops at its next report.
    """

    def __init__(self, report: Report | None, key: str, deadline: float | None) -> None:
        self.report, self.key, self.deadline = report, key, deadline
        self.raised: Exception | None = None
        self.stopped_at: int | None = None
        self.cut = False

    def going_on(self, step: int, value: float) -> None:
        """Raise when the trial already ended: a prune (again), or past the deadline."""
        if self.raised is not None:
            raise self.raised  # the trial ended at the first one; nothing more is reported
        if self.stopped_at is not None:  # asked to stop at the deadline, and still going
            self.cut = True
            raise TrialPruned(step, float(value))

    def __call__(self, step: int, value: float) -> bool:
        self.going_on(step, value)
        try:
            value = float(value)
            if not math.isfinite(value):
                raise FloatingPointError(f"{self.key} is {value} at step {step}")
            if self.report is not None and self.report(step, value):
                raise TrialPruned(step, value)
        except Exception as exc:
            self.raised = exc
            raise
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.stopped_at = step
            return True
        return False

    def swallowed(self) -> None:
        """Raise again what ``fit`` swallowed, once it has returned (a prune with a note)."""
        exc = self.raised
        if isinstance(exc, TrialPruned):
            raise TrialPruned(exc.epoch, exc.value, note=SWALLOWED_PRUNE) from exc
        if exc is not None:
            raise exc


def _threads(trainer_cfg: TrainerSettings) -> Any:
    """OpenMP and BLAS (XGBoost, scikit-learn's native code) limited to a trial's threads
    (``automl.core.cpus``) while it fits; a model's own ``n_jobs`` still applies within it."""
    from threadpoolctl import threadpool_limits

    from automl.core.cpus import trial_threads

    return threadpool_limits(limits=trial_threads(int(getattr(trainer_cfg, "num_threads", 0) or 0)))


class EstimatorBackend:
    """Backend for ``kind="estimator"`` plugins."""

    kind = "estimator"
    unit: Unit = "step"
    expensive = False  # a trial costs what the model's config says, usually seconds

    def __init__(self, trainer_cfg: TrainerSettings) -> None:
        self.cfg = trainer_cfg

    def describe(self) -> str:
        """Where trials train, in one line (the header shows it)."""
        from automl.backends.quiet import threads_text
        from automl.core.cpus import trial_threads

        threads = threads_text(trial_threads(int(self.cfg.num_threads or 0)), self.cfg)
        return (
            f"trials train on CPU ({threads}) unless the model's own config picks a device "
            "(model.device)"
        )

    def _build(self, plugin: ModelPlugin, cfg: object, spec: DataSpec, seed: int) -> BaseEstimator:
        model = as_estimator(resolve(plugin.build)(cfg, spec), plugin.name)
        model.seed = int(seed)
        return model

    def device_for(self, plugin: ModelPlugin, cfg: object, spec: DataSpec) -> str:
        """Where a model of ``cfg`` trains: the estimator's own ``device()`` (a build, no fit;
        XGBoost picks CUDA with ``model.device=auto`` when it can)."""
        return as_estimator(resolve(plugin.build)(cfg, spec), plugin.name).device()

    def reload_differs(self, model: BaseEstimator, reloaded: BaseEstimator) -> str | None:
        """``None``: an estimator's state is its own format; its predictions are compared."""
        return None

    def check_built(self, model: object) -> str | None:
        """Why ``model`` is not what an estimator builder must return, or ``None``."""
        missing = [m for m in ("fit", "predict", "save") if not callable(getattr(model, m, None))]
        if not missing and isinstance(model, Estimator):
            return None
        return (
            f", which lacks {', '.join(missing)}; a kind='estimator' builder must return an "
            "object with fit(train, val, report), predict(x) and save(directory)"
        )

    def preflight(
        self, plugin: ModelPlugin, cfg: object, dataset: Dataset
    ) -> tuple[str, ...] | None:
        """Build ``cfg`` and check that it is an estimator; return the metrics it reports.

        No fit: an estimator's cost is set by its config (a forest of 50,000 trees trains as
        long on a few rows as a trial), so fitting here could cost as much as a trial.
        """
        return _reported(self._build(plugin, cfg, dataset.spec, 0), dataset.spec.task)

    def fit(
        self,
        plugin: ModelPlugin,
        cfg: object,
        dataset: Dataset,
        goal: Goal,
        *,
        report: Report | None,
        seed: int,
        log_dir: str | None = None,
        deadline: float | None = None,
        checkpoint: TrialCheckpoint | None = None,
    ) -> FitResult:
        from automl.backends.trial_log import METRICS_FILE, MetricsCSV

        start = time.perf_counter()
        log = MetricsCSV(Path(log_dir) / METRICS_FILE) if log_dir is not None else None
        model, resumed, reports = self._resumed(plugin, cfg, dataset, seed, checkpoint, log)
        steps = {"n": resumed + 1}
        checked = _Reporter(report, goal.key, deadline)
        saving = checkpoint is not None and resumable(model)

        def save(folder: Path) -> bool:
            return bool(model.checkpoint(str(folder)))

        def counting(step: int, value: float) -> bool:
            checked.going_on(step, value)
            if step <= resumed:
                raise PluginError(
                    f"model '{plugin.name}' reported step {step} after resuming at step "
                    f"{resumed + 1}: after resume() its fit must report the steps it has not "
                    "reported yet (docs/plugins.md)"
                )
            steps["n"] = step + 1
            reports.append((step, float(value)))
            if log is not None:  # one metrics.csv row per report
                log.write(step, {goal.key: float(value)})
            stop = checked(step, value)
            # A fit stopped at the deadline ends complete: nothing to continue from.
            if not stop and saving and checkpoint is not None and checkpoint.due():
                values = {"reports": reports, "rows": log.rows if log is not None else []}
                checkpoint.save("estimator", step, values, save)
            return stop

        train, val = dataset.train, dataset.val
        raised_to_stop = False
        try:
            with _threads(self.cfg):
                model.fit((train.x, train.y), (val.x, val.y), counting)
        except TrialPruned:
            # ``report`` said stop for the deadline, not for the pruner (which raises before
            # ``stopped_at`` is set): the estimator stopped the way docs/plugins.md tells it
            # to stop (XGBoost, the forest and the linear model raise TrialPruned), and what
            # it fitted so far is the result. It used to count as pruned: a study whose
            # start-up ate the budget ended with no model at all.
            if checked.stopped_at is None:
                raise
            raised_to_stop = True
        checked.swallowed()
        stopped = None
        # One that returns instead had reported its last step; a complete trial.
        if checked.stopped_at is not None and (checked.cut or raised_to_stop):
            stopped = f"after {self.unit} {checked.stopped_at + 1}"
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
            wall_time=time.perf_counter() - start + (checkpoint.train_s if checkpoint else 0.0),
            model=_own(model),
            budget=dict(model.fitted_budget()),
            stopped=stopped,
        )

    def _resumed(
        self,
        plugin: ModelPlugin,
        cfg: object,
        dataset: Dataset,
        seed: int,
        checkpoint: TrialCheckpoint | None,
        log: MetricsCSV | None,
    ) -> tuple[BaseEstimator, int, list[tuple[int, float]]]:
        """A built model, continued from the checkpoint when it can be; the last step the
        checkpoint holds (-1: from the start) and the reports it had sent."""
        model = self._build(plugin, cfg, dataset.spec, seed)
        if checkpoint is None:
            return model, -1, []
        checkpoint.begin(f"estimator:{plugin.name}", grows=True)
        if not resumable(model):
            if checkpoint.chain:  # a re-run of a lost trial, with nothing to continue from
                checkpoint.note(
                    f"model '{plugin.name}' has no checkpoint/resume hooks (docs/plugins.md), "
                    "so this re-run of a lost trial started over"
                )
            return model, -1, []
        found = checkpoint.restore("estimator", f"model '{plugin.name}'")
        if found is None:
            return model, -1, []
        folder, saved = found
        try:
            model.resume(str(folder))
        except Exception as exc:  # the plugin refuses the state: a fresh build starts over
            checkpoint.refused(f"model '{plugin.name}' refused it: {reason(exc)}")
            return self._build(plugin, cfg, dataset.spec, seed), -1, []
        if log is not None:
            log.restore(saved.values.get("rows", []))
        reports = [(int(s), float(v)) for s, v in saved.values.get("reports", [])]
        checkpoint.resumed_at(saved.step, reports)
        return model, saved.step, reports

    def refit(
        self,
        plugin: ModelPlugin,
        cfg: DataclassInstance,
        dataset: Dataset,
        budget: dict[str, Any],
        *,
        seed: int,
    ) -> FitResult:
        start = time.perf_counter()
        known = {f.name for f in dataclasses.fields(cfg)}
        unknown = sorted(set(budget) - known)
        if unknown:
            raise ValueError(
                f"{plugin.name}: fitted_budget() names {unknown}, which are not config fields"
            )
        model = self._build(plugin, dataclasses.replace(cfg, **budget), dataset.spec, seed)
        with _threads(self.cfg):
            model.fit((dataset.train.x, dataset.train.y), None, None)
        wall = time.perf_counter() - start
        # One fit call; the budget says how many rounds or trees it grew.
        return FitResult(float("nan"), {}, 1, _size(model), None, wall, _own(model), dict(budget))

    def _metrics(self, model: BaseEstimator, dataset: Dataset, split: str) -> dict[str, float]:
        part = getattr(dataset, split)
        metrics = model.evaluate(part.x, part.y, dataset.spec.task)
        return {f"{split}_{k}": float(v) for k, v in metrics.items()}

    def evaluate(
        self, plugin: ModelPlugin, model: BaseEstimator, dataset: Dataset, split: str
    ) -> dict:
        return self._metrics(as_estimator(model, plugin.name), dataset, split)

    def generates(self, model: BaseEstimator) -> bool:
        return False  # an estimator's duty is predict (docs/plugins.md)

    def predict(self, model: BaseEstimator, x: np.ndarray, task: str) -> np.ndarray:
        return np.asarray(model.predict(x))

    def predict_with_proba(
        self, model: BaseEstimator, x: np.ndarray, task: str
    ) -> tuple[np.ndarray, np.ndarray | None]:
        pred = np.asarray(model.predict(x))
        if task != "classification":
            return pred, None
        try:
            proba = as_estimator(model).predict_proba(x)
        except NotImplementedError:
            return pred, None
        return pred, np.asarray(proba, dtype=np.float64)

    def save(self, plugin: ModelPlugin, model: BaseEstimator, directory: str) -> str:
        return str(as_estimator(model, plugin.name).save(str(directory)))

    def load(
        self, plugin: ModelPlugin, directory: str, cfg: object, spec: DataSpec
    ) -> BaseEstimator:
        if plugin.load is None:
            raise PluginError(f"estimator plugin '{plugin.name}' declares no load function")
        return _own(as_estimator(resolve(plugin.load)(str(directory), cfg, spec), plugin.name))

    def result_settings(self) -> dict[str, Any]:
        # Estimators take their length from their own config; only the seed policy matters.
        return {"seed": self.cfg.seed}
