"""Finalizing a study: test the selected trial (after an optional refit) and export ``best/``."""

from __future__ import annotations

import json
import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from automl import train
from automl.data import Dataset
from automl.errors import reason
from automl.model_card import write_serving_files
from automl.plan import RunPlan, trial_config

__all__ = [
    "export_best",
    "Exported",
    "refit_wanted",
    "describe_budget",
    "BEST_DIR",
    "REFIT_DIR",
]

BEST_DIR = "best"


REFIT_DIR = "refit"


def refit_wanted(refit: bool | None, dataset: Dataset) -> bool:
    """``sweep.refit``, where ``None`` means: refit exactly when the data has k folds."""
    return bool(refit) if refit is not None else bool(dataset.folds)


def describe_budget(budget: dict[str, Any]) -> str:
    """``n_estimators=87, early_stopping_rounds=0`` (or ``as configured`` when empty)."""
    return ", ".join(f"{k}={v}" for k, v in budget.items()) or "as configured"


@dataclass
class Exported:
    """What ``export_best`` tested and wrote.

    Attributes:
        test: Test metrics keyed ``test_<name>``; empty if the trial's model file is gone.
        refit: ``{"rows", "budget", "train_s"}`` of a refit, ``{"failed", "budget"}`` when it
            raised, ``None`` when none was asked for.
    """

    test: dict[str, float]
    refit: dict[str, Any] | None = None


def export_best(
    plan: RunPlan,
    dataset: Dataset,
    trial: Any,
    metric: str,
    direction: str,
    refit: bool = False,
) -> Exported:
    """Evaluate the best trial on the test split and write ``<run dir>/best/``.

    The test split is touched here only, after selection, for this one model.

    Args:
        plan: The run plan.
        dataset: The study's data.
        trial: The selected (best) trial.
        metric: The study metric's name.
        direction: ``maximize`` or ``minimize``.
        refit: Retrain the trial's config on every non-test row (``Dataset.merged``) for the
            trial's budget and export that model; otherwise export the trial's own model.
            A refit that raises is recorded (``refit.failed`` in ``metrics.json``, the
            traceback in ``<run dir>/refit/error.txt``) and the trial's model is exported.

    Returns:
        The test metrics and what the refit did.
    """
    node = trial_config(plan.model_node, dict(trial.params))
    cfg = OmegaConf.to_object(node)
    refit_info: dict[str, Any] | None = None
    model: Any = None
    model_file: str | None = None
    if refit and dataset.merged is not None:
        budget = dict(trial.user_attrs.get("budget") or {})
        refit_dir = plan.run_dir / REFIT_DIR
        try:
            merged = dataset.merged()
            result = train.refit(
                plan.plugin,
                cfg,
                merged,
                plan.trainer,
                budget,
                workdir=refit_dir,
                seed=plan.trainer.seed + trial.number,
            )
        except Exception as exc:
            # The study's result must not be lost to a failing refit: keep the trial's model.
            refit_dir.mkdir(parents=True, exist_ok=True)
            (refit_dir / "error.txt").write_text(traceback.format_exc())
            refit_info = {"failed": reason(exc), "budget": budget}
        else:
            dataset, model, model_file = merged, result.model, result.artifact
            refit_info = {"rows": len(merged.train), "budget": budget, "train_s": result.wall_time}
    if model is None:
        source = Path(trial.user_attrs.get("dir", ""))
        model_file = trial.user_attrs.get("model_file")
        if not model_file or not Path(model_file).exists():
            return Exported({}, refit_info)
        model = train.load_model(plan.plugin, source, cfg, dataset.spec)
    assert model_file is not None
    test = train.evaluate(plan.plugin, model, dataset, plan.trainer, "test")
    best = plan.run_dir / BEST_DIR
    if best.exists():
        shutil.rmtree(best)
    best.mkdir(parents=True)
    shutil.copy2(model_file, best / Path(model_file).name)
    OmegaConf.save(
        OmegaConf.create(
            {
                "model_name": plan.model_name,
                "data_name": plan.data_name,
                "trial": trial.number,
                "metric": metric,
                "direction": direction,
                "model_file": Path(model_file).name,
                "refit": refit_info,
                "spec": {
                    "name": dataset.spec.name,
                    "task": dataset.spec.task,
                    "input_shape": list(dataset.spec.input_shape),
                    "n_classes": dataset.spec.n_classes,
                    "n_targets": dataset.spec.n_targets,
                    # str(): data plugins may hand numpy strings, which OmegaConf cannot store.
                    "feature_names": [str(n) for n in dataset.spec.feature_names or []] or None,
                },
                "model": node,
                "data": OmegaConf.structured(plan.data_cfg),
            }
        ),
        best / "config.yaml",
    )
    (best / "preprocessing.json").write_text(json.dumps(dataset.preprocessing, indent=2))
    metrics = {"validation": trial.user_attrs.get("metrics", {}), "test": test}
    if refit_info is not None:
        metrics["refit"] = refit_info
    (best / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if plan.plugin.export:
        from automl.plugin import resolve

        resolve(plan.plugin.export)(model, str(best), dataset.spec)
    write_serving_files(
        best,
        dataset,
        {
            "study": plan.study_name,
            "trial": trial.number,
            "params": dict(trial.params),
            "model": plan.model_name,
            "data": plan.data_name,
            "plugin_module": plan.plugin.build,
        },
    )
    return Exported(test, refit_info)
