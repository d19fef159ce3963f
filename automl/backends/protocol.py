"""How a configuration is judged and retrained: holdout, k-fold, and the refit.

``fit_config`` trains one configuration on a holdout split, or once per fold with the running
mean (or each fold's value, for pruners that compare folds) reported after every fold.
``refit_config`` retrains a selected configuration on every non-test row for the budget its
trial recorded. Both save the model once, at the end, when given a directory. Backends do the
training; this module never looks at a model's kind.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from automl.backends.base import Backend, FitResult, Goal
from automl.backends.checkpoint import TrialCheckpoint
from automl.core.errors import TrialPruned, reason
from automl.core.plugin import ModelPlugin, Report
from automl.data import Dataset

__all__ = ["fit_config", "refit_config", "mean_budget"]


def fit_config(
    backend: Backend,
    plugin: ModelPlugin,
    cfg: object,
    dataset: Dataset,
    goal: Goal,
    *,
    report: Report | None = None,
    workdir: str | Path | None = None,
    seed: int = 0,
    fold_values: bool = False,
    deadline: float | None = None,
    checkpoint: TrialCheckpoint | None = None,
) -> FitResult:
    """Train one configuration and return its validation result.

    Args:
        backend: The backend of the plugin's kind.
        plugin: The model plugin.
        cfg: The model config (sampled values applied).
        dataset: The data; with ``dataset.folds`` each fold is trained in turn.
        goal: The metric and direction that pick the best epoch.
        report: Called after every validation epoch / step (holdout) or fold (k-fold);
            returning ``True`` stops training with ``TrialPruned``.
        workdir: Where to save the model (fold 0's with k-fold).
        seed: Training seed.
        fold_values: With k-fold, report each fold's own value at step = fold index instead
            of the running mean (pruners that compare folds, e.g. Wilcoxon).
        deadline: ``time.monotonic()`` past which training stops at its next report (an
            epoch, a boosting report, a fold's end) and keeps its best step so far
            (``FitResult.stopped``). With k folds the result is the mean of the folds so far.
        checkpoint: The trial's checkpoints (``automl.backends.checkpoint``): the holdout
            fit's own; with k folds one after each fold (its result, fold 0's model) and each
            fold's own in a sub-folder, so a re-run skips the folds done and continues the
            fold that was running.

    Raises:
        TrialPruned: ``report`` asked to stop.
        FloatingPointError: A metric or the training loss became NaN or infinite.
    """
    plugin.check_data(dataset.spec)
    log = str(workdir) if workdir is not None else None
    if not dataset.folds:
        result = backend.fit(
            plugin,
            cfg,
            dataset,
            goal,
            report=report,
            seed=seed,
            log_dir=log,
            deadline=deadline,
            checkpoint=checkpoint,
        )
        return _saved(backend, plugin, result, workdir)
    folds = _FoldCheckpoints(backend, plugin, cfg, dataset, checkpoint)
    results, reports = folds.restore()
    if results:
        _saved(backend, plugin, results[0], workdir)
    stopped = None
    k = len(dataset.folds)
    for i, fold in enumerate(dataset.folds):
        if i < len(results):
            continue
        plugin.check_data(fold.spec)
        # Each fold's epochs go to their own metrics.csv (fold0/, fold1/, ...).
        fold_log = str(Path(log) / f"fold{i}") if log is not None else None
        part = checkpoint.scope(f"fold{i}") if checkpoint is not None else None
        results.append(
            backend.fit(
                plugin,
                cfg,
                fold,
                goal,
                report=None,
                seed=seed,
                log_dir=fold_log,
                deadline=deadline,
                checkpoint=part,
            )  # fmt: skip
        )
        if i == 0:  # fold 0's model is the trial's model (saved, exported without refit)
            _saved(backend, plugin, results[0], workdir)
        if results[-1].stopped:  # a cut fold is not reported: its value is not comparable
            stopped = f"in fold {i + 1} of {k} ({results[-1].stopped})"
            break
        value = results[-1].value if fold_values else float(np.mean([r.value for r in results]))
        reports.append((i, value))
        # The last fold's report is the trial's end: the pruner hears it, the trial completes.
        if report is not None and report(i, value) and i < len(dataset.folds) - 1:
            raise TrialPruned(i, value)
        if deadline is not None and i + 1 < k and time.monotonic() >= deadline:
            stopped = f"after fold {i + 1} of {k}"
            break
        if i + 1 < k:
            folds.save(i, results, reports)
    metrics = {
        key: float(np.mean([r.metrics[key] for r in results]))
        for key in results[0].metrics
        if all(key in r.metrics for r in results)
    }
    metrics[f"{goal.key}_std"] = float(np.std([r.value for r in results]))
    first = results[0]
    return FitResult(
        value=float(np.mean([r.value for r in results])),
        metrics=metrics,
        # The trial's length in its unit (``fold``): each fold's own epochs or rounds are in
        # its metrics.csv, and the refit's length in ``budget``.
        epochs=len(results),
        n_params=first.n_params,
        artifact=first.artifact,
        wall_time=sum(r.wall_time for r in results),
        model=first.model,
        budget=mean_budget([r.budget for r in results]),
        stopped=stopped,
    )


class _FoldCheckpoints:
    """The k-fold protocol's checkpoint: written after each fold (the folds' results, fold
    0's model), read back by a re-run, which then skips the folds it holds."""

    def __init__(
        self,
        backend: Backend,
        plugin: ModelPlugin,
        cfg: object,
        dataset: Dataset,
        checkpoint: TrialCheckpoint | None,
    ) -> None:
        self.backend, self.plugin, self.cfg, self.dataset = backend, plugin, cfg, dataset
        self.checkpoint = checkpoint

    def restore(self) -> tuple[list[FitResult], list[tuple[int, float]]]:
        """The folds a checkpoint holds, with their reports (none: start with fold 0)."""
        checkpoint = self.checkpoint
        if checkpoint is None:
            return [], []
        checkpoint.begin(f"folds:{self.plugin.name}")
        found = checkpoint.restore("folds", "the k-fold protocol")
        if found is None:
            return [], []
        folder, saved = found
        try:
            model = self.backend.load(self.plugin, str(folder), self.cfg, self.dataset.spec)
            results = [FitResult(**r, model=None) for r in saved.values["folds"]]
        except Exception as exc:  # unreadable, or not this model: start over
            checkpoint.refused(reason(exc))
            return [], []
        results[0].model = model
        reports = [(int(s), float(v)) for s, v in saved.values["reports"]]
        checkpoint.resumed_at(saved.step, reports)
        return results, reports

    def save(self, fold: int, results: list[FitResult], reports: list[tuple[int, float]]) -> None:
        """Fold ``fold`` is done: keep every fold's result so far and fold 0's model (when a
        checkpoint is due)."""
        checkpoint = self.checkpoint
        if checkpoint is None or not checkpoint.due():
            return
        values = {
            "folds": [
                {
                    "value": r.value,
                    "metrics": r.metrics,
                    "epochs": r.epochs,
                    "n_params": r.n_params,
                    "artifact": None,
                    "wall_time": r.wall_time,
                    "budget": r.budget,
                }
                for r in results
            ],
            "reports": reports,
        }
        first = results[0].model

        def write(folder: Path) -> None:
            self.backend.save(self.plugin, first, str(folder))

        checkpoint.save("folds", fold, values, write)
        checkpoint.drop_scope(f"fold{fold}")


def refit_config(
    backend: Backend,
    plugin: ModelPlugin,
    cfg: object,
    dataset: Dataset,
    budget: dict[str, Any],
    *,
    workdir: str | Path | None = None,
    seed: int = 0,
) -> FitResult:
    """Train ``cfg`` on ``dataset.train`` for a fixed budget, without validation data.

    The selection already chose how long to train, so nothing is early-stopped or picked on
    a validation split here, and the final weights are kept.

    Returns:
        A ``FitResult`` without validation metrics (``value`` is NaN).
    """
    plugin.check_data(dataset.spec)
    result = backend.refit(plugin, cfg, dataset, budget, seed=seed)
    return _saved(backend, plugin, result, workdir)


def _saved(
    backend: Backend, plugin: ModelPlugin, result: FitResult, workdir: str | Path | None
) -> FitResult:
    if workdir is not None:
        result.artifact = backend.save(plugin, result.model, str(workdir))
    return result


def mean_budget(budgets: list[dict[str, Any]]) -> dict[str, Any]:
    """The folds' budgets combined: numbers averaged (rounded for integers), others from fold 0."""
    merged: dict[str, Any] = {}
    for key, first in budgets[0].items():
        values = [b.get(key, first) for b in budgets]
        if isinstance(first, bool) or not isinstance(first, int | float):
            merged[key] = first
        else:
            mean = float(np.mean(values))
            # round() of a mean of integers never falls below their minimum: an epoch count
            # stays >= 1 and a switch that every fold set to 0 stays 0.
            merged[key] = round(mean) if isinstance(first, int) else mean
    return merged
