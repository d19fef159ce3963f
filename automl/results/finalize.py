"""Finalizing a search: test the selected configuration (refit first if asked) and export it.

One path for a study's best trial (``best/``) and for ``sweep=none`` (``single/``): both
directories have the same layout and load with ``automl.results.predictor.load_best``. The selected
trial is rebuilt from its own files in the run directory (``trials/NNNN/config.yaml`` and its
model file), never from today's composed config and never from a path read out of the study
storage. The export is written into a temporary sibling and swapped into place whole, so a
failure half-way (a full disk) leaves the previous export intact.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from automl.core.atomic import replace_dir
from automl.core.errors import Interrupted, reason
from automl.core.records import finite_or_none, record_of
from automl.results.model_card import write_serving_files
from automl.study.run import Run

if TYPE_CHECKING:
    from automl.core.records import StoredTrialView
    from automl.data import Dataset

__all__ = [
    "Selected",
    "Exported",
    "select_trial",
    "export",
    "describe_budget",
    "trial_dir",
    "load_config_file",
    "BEST_DIR",
    "REFIT_DIR",
    "SINGLE_DIR",
    "partial_dir",
]

BEST_DIR = "best"
REFIT_DIR = "refit"
SINGLE_DIR = "single"


def trial_dir(run_dir: str | Path, number: int) -> Path:
    """``<run dir>/trials/<number, 4 digits>``: where trial ``number`` keeps its files."""
    return Path(run_dir) / "trials" / f"{number:04d}"


def describe_budget(budget: dict[str, Any]) -> str:
    """``n_estimators=87, early_stopping_rounds=0`` (or ``as configured`` when empty)."""
    return ", ".join(f"{k}={v}" for k, v in budget.items()) or "as configured"


def _interpolations(node: object, path: str = "") -> list[str]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _interpolations(v, f"{path}{k}.")]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _interpolations(v, f"{path}{i}.")]
    return [path.rstrip(".")] if isinstance(node, str) and "${" in node else []


def load_config_file(path: Path, config_class: type) -> tuple[DictConfig, Any]:
    """Read a saved model config into the plugin's typed config, resolving nothing.

    Raises:
        ValueError: The file holds an interpolation (``${...}``: it could read the environment
            or other files) or values the plugin's config rejects.
    """
    loaded = OmegaConf.load(path)
    found = _interpolations(OmegaConf.to_container(loaded, resolve=False))
    if found:
        raise ValueError(
            f"{path} sets {', '.join(found)} by interpolation (${{...}}); saved configs hold "
            "plain values only"
        )
    node = OmegaConf.merge(OmegaConf.structured(config_class), loaded)
    assert isinstance(node, DictConfig)
    return node, OmegaConf.to_object(node)


@dataclass
class Selected:
    """The configuration to export, and where its trained model is.

    Attributes:
        number: The trial's number; ``None`` for ``sweep=none``.
        node: Its model config (``DictConfig``).
        cfg: The same as the plugin's config object.
        budget: What a refit repeats (the trial's record).
        val_metrics: Its validation metrics.
        seed: Its training seed (a refit uses it too).
        model_dir: The trial's directory (its model is loaded from there), or ``None``.
        model: The trained model already in memory (``sweep=none``), or ``None``.
        params: The trial's sampled parameters (empty for ``sweep=none``).
        family: Its model family in a ``model=auto`` study (``None``: the run's only model).
        extra: Files written into the export beside the model (name -> text), e.g. the
            Pareto front of a multi-objective study (``pareto.json``).
        selected_by: How the trial was chosen, in words (``best/config.yaml`` records it).
    """

    number: int | None
    node: DictConfig
    cfg: object
    budget: dict[str, Any]
    val_metrics: dict[str, float]
    seed: int
    model_dir: Path | None = None
    model: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    family: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    selected_by: str | None = None


@dataclass
class Exported:
    """What ``export`` tested and wrote.

    Attributes:
        test: Test metrics keyed ``test_<name>``; empty when nothing was exported.
        refit: ``{"rows", "budget", "train_s"}`` of a refit, ``{"failed", "budget"}`` when it
            raised, ``None`` when none was asked for.
        directory: The export directory, or ``None``.
        failed: Why nothing was exported (the model would not load, the disk is full).
    """

    test: dict[str, float] = field(default_factory=dict)
    refit: dict[str, Any] | None = None
    directory: Path | None = None
    failed: str | None = None


def select_trial(run: Run, trial: StoredTrialView) -> Selected | str:
    """The selected study trial, rebuilt from its own files; or why it cannot be.

    Args:
        run: The run.
        trial: A completed Optuna trial (frozen).
    """
    record = record_of(trial)
    family = record.family if run.auto else None
    if run.auto and family not in run.families:
        return f"trial #{trial.number}'s family ({family}) is not searched by this run"
    directory = trial_dir(run.plan.run_dir, trial.number)
    config_file = directory / "config.yaml"
    if not config_file.exists():
        where = f" (worker {record.worker})" if record.worker else ""
        return (
            f"trial #{trial.number} ran in another run directory{where}: its files are there; "
            "export from there, or give the workers one shared hydra.run.dir"
        )
    try:
        node, cfg = load_config_file(config_file, run.services.family(family).plugin.config)
    except Exception as exc:
        return f"trial #{trial.number}'s config cannot be read ({reason(exc)})"
    return Selected(
        number=trial.number,
        node=node,
        cfg=cfg,
        budget=dict(record.budget),
        val_metrics=dict(record.metrics),
        seed=run.seeds.trial(trial.number),
        model_dir=directory,
        params=dict(trial.params),
        family=family,
    )


def export(
    run: Run,
    selected: Selected,
    target: Path,
    *,
    refit: bool = False,
    interruptible: Callable[[], AbstractContextManager[Any]] | None = None,
) -> Exported:
    """Test the selected configuration's model and write it to ``target`` (whole or not at all).

    The test split is touched here only, after selection, for this one model.

    Args:
        run: The run.
        selected: What to export.
        target: ``<run dir>/best`` or ``<run dir>/single``.
        refit: Retrain the configuration on every non-test row (``Dataset.merged``) for its
            budget and export that model; a refit that raises is recorded (``refit.failed``
            in ``metrics.json``, the traceback in ``<run dir>/refit/error.txt``) and the
            trial's own model is exported instead.
        interruptible: Wraps the refit so that a stop signal ends it (the trial's own model
            is then exported).
    """
    fam = run.services.family(selected.family)
    plugin, backend = fam.plugin, fam.backend
    dataset = run.services.dataset_of(selected.family)
    model: Any = selected.model
    refit_info: dict[str, Any] | None = None
    if refit and dataset.merged is not None:
        try:
            merged = dataset.merged()
            with (interruptible or nullcontext)():
                result = run.services.refit(
                    selected.cfg,
                    merged,
                    selected.budget,
                    family=selected.family,
                    seed=selected.seed,
                )
        except Interrupted as exc:
            refit_info = {"failed": str(exc), "budget": selected.budget}
        except Exception as exc:
            # The study's result must not be lost to a failing refit: keep the trial's model.
            (run.plan.run_dir / REFIT_DIR).mkdir(parents=True, exist_ok=True)
            (run.plan.run_dir / REFIT_DIR / "error.txt").write_text(traceback.format_exc())
            refit_info = {"failed": reason(exc), "budget": selected.budget}
        else:
            dataset, model = merged, result.model
            refit_info = {
                "rows": len(merged.train),
                "budget": selected.budget,
                "train_s": round(result.wall_time, 3),
            }
    if model is None:
        assert selected.model_dir is not None
        try:
            model = backend.load(plugin, str(selected.model_dir), selected.cfg, dataset.spec)
        except Exception as exc:
            return Exported(refit=refit_info, failed=f"its model cannot be loaded ({reason(exc)})")
    test = backend.evaluate(plugin, model, dataset, "test")
    partial = partial_dir(target)
    shutil.rmtree(partial, ignore_errors=True)
    try:
        _write(run, selected, model, dataset, test, refit_info, partial)
        replace_dir(partial, target)
    except BaseException as exc:  # a full disk, a plugin's hook that raises, a time bound
        shutil.rmtree(partial, ignore_errors=True)
        if not isinstance(exc, Exception):
            raise
        return Exported(
            test,
            refit_info,
            failed=f"writing {target.name}/ failed ({reason(exc)}); the previous "
            f"{target.name}/ is unchanged",
        )
    return Exported(test, refit_info, target)


def partial_dir(target: Path) -> Path:
    """Where ``export`` writes ``target`` before swapping it into place."""
    return target.with_name(f".{target.name}.partial")


def _write(
    run: Run,
    selected: Selected,
    model: object,
    dataset: Dataset,
    test: dict[str, float],
    refit_info: dict[str, Any] | None,
    directory: Path,
) -> None:
    from automl import __version__
    from automl.core.plugin import resolve

    plan, fam = run.plan, run.services.family(selected.family)
    plugin, backend = fam.plugin, fam.backend
    directory.mkdir(parents=True)
    model_file = Path(backend.save(plugin, model, str(directory))).name
    spec = dataset.spec
    config = {
        # The plugin that loads the model: with model=auto the selected trial's family.
        "model_name": fam.name,
        "data_name": plan.data_name,
        "study": plan.study_name,
        "trial": selected.number,
        "metric": run.goal.metric,
        "direction": run.goal.direction,
        "objectives": [o.short for o in run.goal.objectives],
        "constraints": [str(c) for c in run.goal.constraints],
        "selected_by": selected.selected_by,
        "search": plan.model_name,
        "model_file": model_file,
        "refit": refit_info,
        "spec": spec.to_dict(),
        "model": selected.node,
        "data": OmegaConf.structured(plan.data_cfg),
        "fingerprint": dict(run.fingerprint),
        "versions": {"automl": __version__, "plugin": fam.family.package},
    }
    OmegaConf.save(OmegaConf.create(config), directory / "config.yaml")
    (directory / "preprocessing.json").write_text(json.dumps(dataset.preprocessing, indent=2))
    metrics: dict[str, Any] = {"validation": _clean(selected.val_metrics), "test": _clean(test)}
    if refit_info is not None:
        metrics["refit"] = refit_info
    (directory / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False))
    predicts = spec.task in ("classification", "regression") and not backend.generates(model)
    if predicts and len(dataset.test):
        pred = backend.predict(model, dataset.test.x, spec.task)
        (directory / "test_predictions.csv").write_text(_predictions_csv(dataset.test.y, pred))
    if plugin.export:  # e.g. the GAN's sample grid
        resolve(plugin.export)(model, str(directory), spec)
    # What a server needs beside the model: input schema, drift reference, model card.
    write_serving_files(
        directory,
        dataset,
        {
            "study": plan.study_name,
            "trial": selected.number,
            "params": selected.params,
            "model": fam.name,
            "data": plan.data_name,
            "plugin_module": plugin.build,
            "plugin_package": fam.family.package,
        },
    )
    for name, text in selected.extra.items():
        (directory / name).write_text(text)


def _clean(metrics: dict[str, Any]) -> dict[str, float | None]:
    return {k: finite_or_none(v) for k, v in metrics.items()}


def _predictions_csv(y_true: np.ndarray, y_pred: np.ndarray) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["y_true", "y_pred"])
    for a, b in zip(np.asarray(y_true).tolist(), np.asarray(y_pred).tolist(), strict=True):
        writer.writerow([a, b])
    return out.getvalue()
