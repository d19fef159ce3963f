"""One run: a validated plan with its data, backend, goal and identity, decided once.

``prepare`` loads the data, checks the model against it, picks the backend of the plugin's
kind, decides the objective (metric and direction), the step unit and the device, runs the
preflight, and computes the study's fingerprint. The study, ``sweep=none``, the export and the
summary all read these decisions from the ``Run``; none of them decides again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from automl.backends import Backend, FitResult, Goal, backend_for
from automl.data import Dataset, load_dataset
from automl.errors import PluginError, UserError, reason
from automl.identity import fingerprint
from automl.plan import RunPlan, trial_config
from automl.plugin import Report
from automl.protocol import fit_config, refit_config
from automl.records import Unit
from automl.search import pruner_wants_fold_values

__all__ = ["Run", "prepare"]


@dataclass
class Run:
    """Everything one invocation decided, read by the study, the export and the summary.

    Attributes:
        plan: The validated plan.
        dataset: The data every trial of this process shares.
        backend: The backend of the plugin's kind.
        goal: The objective metric and its direction (the study's and every trial's).
        unit: What a trial's reported steps count (``epoch``, ``step`` or ``fold``).
        fingerprint: The study's identity (``automl.identity``).
        fold_values: With k folds, report each fold's value instead of the running mean.
    """

    plan: RunPlan
    dataset: Dataset
    backend: Backend
    goal: Goal
    unit: Unit
    fingerprint: dict[str, Any]
    fold_values: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def run_dir(self) -> Path:
        """The run directory."""
        return self.plan.run_dir

    @property
    def steps_label(self) -> str:
        """How the leaderboard names a trial's length: ``epochs``, ``steps`` or ``folds``."""
        return f"{self.unit}s"

    def trial_seed(self, number: int) -> int:
        """The training seed of trial ``number``: ``trainer.seed`` + number."""
        return int(self.plan.trainer.seed) + int(number)

    def config(self, params: dict[str, Any]) -> DictConfig:
        """The model config with sampled ``params`` applied (a copy)."""
        return trial_config(self.plan.model_node, params)

    def fit(
        self,
        cfg: Any,
        *,
        report: Report | None = None,
        workdir: str | Path | None = None,
        seed: int = 0,
    ) -> FitResult:
        """Train one configuration (holdout or k-fold) toward the run's goal."""
        return fit_config(
            self.backend,
            self.plan.plugin,
            cfg,
            self.dataset,
            self.goal,
            report=report,
            workdir=workdir,
            seed=seed,
            fold_values=self.fold_values,
        )

    def refit(
        self,
        cfg: Any,
        data: Dataset,
        budget: dict[str, Any],
        *,
        workdir: str | Path | None = None,
        seed: int = 0,
    ) -> FitResult:
        """Retrain ``cfg`` on ``data.train`` for ``budget`` (no validation data)."""
        return refit_config(
            self.backend, self.plan.plugin, cfg, data, budget, workdir=workdir, seed=seed
        )

    def refit_wanted(self) -> bool:
        """``sweep.refit``, where ``None`` means: refit exactly when the data has k folds."""
        refit = self.plan.sweep.refit
        return bool(refit) if refit is not None else bool(self.dataset.folds)


def prepare(plan: RunPlan, *, preflight: bool = True) -> Run:
    """Load the data and make every decision of the run; nothing is written.

    Raises:
        UserError: The model does not accept the data, Lightning cannot train with the
            trainer settings, or the model fails its preflight.
    """
    dataset = load_dataset(plan.data_plugin, plan.data_cfg)
    plugin = plan.plugin
    plugin.check_data(dataset.spec)
    backend = backend_for(plugin, plan.trainer)
    metric, direction = plugin.objective(dataset.spec.task)
    if plan.sweep.direction != "auto":
        direction = "maximize" if plan.sweep.direction == "maximize" else "minimize"
    goal = Goal(metric, direction)
    base = OmegaConf.to_object(plan.model_node)
    if preflight:
        _preflight(plan, backend, base, dataset)
    identity = fingerprint(
        model=plan.model_name,
        model_config=OmegaConf.to_container(plan.model_node, resolve=True),  # type: ignore[arg-type]
        space=plan.space,
        metric=metric,
        direction=direction,
        data=plan.data_name,
        data_config=plan.data_cfg,
        data_digest=dataset.digest,
        trainer=backend.result_settings(),
    )
    unit: Unit = "fold" if dataset.folds else backend.unit
    # Pruners that compare trials fold by fold (Wilcoxon) get each fold's own value.
    fold_values = bool(dataset.folds) and pruner_wants_fold_values(plan.sweep.pruner)
    return Run(plan, dataset, backend, goal, unit, identity, fold_values)


def _preflight(plan: RunPlan, backend: Backend, cfg: Any, dataset: Dataset) -> None:
    """Build the default config and train one tiny step before any trial or file exists."""
    try:
        backend.preflight(plan.plugin, cfg, dataset.folds[0] if dataset.folds else dataset)
    except UserError:
        raise  # already one line that says what to do (a bad device, a bad setting)
    except Exception as exc:
        raise PluginError(
            f"model '{plan.model_name}' ({plan.package}) failed its preflight, a build with its "
            f"default config and one training step on a few rows: {reason(exc)}; fix the "
            "plugin or its config (see docs/plugins.md) and run again"
        ) from exc
