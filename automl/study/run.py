"""One run: a validated plan with its data, families, goal and identity, decided once.

``prepare`` loads the data, checks each model family against it, picks each family's backend,
decides the objectives (metrics, directions, constraints), the step unit and the device, runs
the preflight, and computes the study's fingerprint. The study, ``sweep=none``, the export and
the summary all read these decisions from the ``Run``; none of them decides again.

A run searches one family (the model it names) or, with ``model=auto``, several
(``automl.study.families``): ``Run.families`` maps each family to its plugin, backend, base config
and unit, and every method that trains, samples or exports takes the family from the trial's
parameters.
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from automl.backends import Backend, FitResult, Goal, backend_for
from automl.backends.protocol import fit_config, refit_config
from automl.core.errors import PluginError, UserError, reason
from automl.core.objectives import resolve_objectives
from automl.core.plugin import Report
from automl.core.records import Unit
from automl.data import Dataset, load_dataset
from automl.data.layout import as_layout, fit_layout
from automl.data.summary import summary_line
from automl.study.families import (
    FAMILY_PARAM,
    Family,
    RunFamily,
    compatible_families,
    family_of,
    joint_space,
    own_params,
    prefixed,
    trial_config,
)
from automl.study.identity import fingerprint
from automl.study.plan import RunPlan
from automl.study.search import pruner_wants_fold_values

__all__ = [
    "Run",
    "prepare",
    "LATENCY_ROWS",
    "LATENCY_CALLS",
    "LATENCY_WINDOWS",
    "AUTO_FOLDS",
    "AUTO_SMALL_ROWS",
    "AUTO_FOLDS_MIN_TIMEOUT",
]

LATENCY_ROWS = 32
"""Validation rows of the fixed batch ``latency_ms`` is measured on (fewer if there are not)."""
LATENCY_CALLS = 5
"""Timed prediction calls per window (after one untimed warm-up call); a window's median is
its latency."""
LATENCY_WINDOWS = 3
"""Windows at most: another is timed while a window's calls spread more than 2x (another
process held the CPU), and the lowest median is kept."""

AUTO_FOLDS = 5
"""``model=auto`` on small data: each trial's value is the mean of this many folds
(docs/sweeps.md; measured in docs/benchmarks.md)."""
AUTO_SMALL_ROWS = 10_000
"""Data with at most this many non-test rows counts as small for ``model=auto``'s default."""
AUTO_FOLDS_MIN_TIMEOUT = 120.0
"""Below this ``sweep.timeout`` (seconds) ``model=auto`` keeps one validation split: five folds
cost five fits a trial, and in 30 s they ran little beyond each family's defaults (4-8 trials
against 20-28) and tested 1-5 samples worse (docs/benchmarks.md)."""


@dataclass
class Run:
    """Everything one invocation decided, read by the study, the export and the summary.

    Attributes:
        plan: The validated plan.
        dataset: The data every trial of this process shares.
        goal: The objectives, constraints and the best-epoch metric (the study's and every
            trial's).
        unit: What a trial's reported steps count (``epoch``, ``step`` or ``fold``); with
            ``model=auto`` each family has its own (``unit_of``).
        fingerprint: The study's identity (``automl.study.identity``).
        fold_values: With k folds, report each fold's value instead of the running mean.
        notes: Lines to print before the study.
        families: Each searched family's plugin, backend, base config and unit.
    """

    plan: RunPlan
    dataset: Dataset
    goal: Goal
    unit: Unit
    fingerprint: dict[str, Any]
    fold_values: bool = False
    notes: list[str] = field(default_factory=list)
    families: dict[str, RunFamily] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        """The run directory."""
        return self.plan.run_dir

    @property
    def auto(self) -> bool:
        """A search across model families (``model=auto``)."""
        return self.plan.auto

    @property
    def backend(self) -> Backend:
        """The backend that says where trials train: the only family's, or with several the
        first torch family's (estimators run on the CPU or pick their own device)."""
        for fam in self.families.values():
            if fam.backend.kind == "lightning":
                backend: Backend = fam.backend
                return backend
        first: Backend = next(iter(self.families.values())).backend
        return first

    @property
    def steps_label(self) -> str:
        """How the leaderboard names a trial's length: ``epochs``, ``steps``, ``folds``, or
        ``length`` when the families count different units."""
        units = {fam.unit for fam in self.families.values()} or {self.unit}
        return f"{units.pop()}s" if len(units) == 1 else "length"

    def family(self, name: str | None = None) -> RunFamily:
        """A family by name; ``None`` means the run's only family.

        Raises:
            KeyError: No such family (a trial of another study's families).
        """
        if name is None:
            if len(self.families) != 1:
                raise KeyError("model=auto: a trial's family must be named")
            return next(iter(self.families.values()))
        return self.families[name]

    def family_of(self, params: dict[str, Any]) -> RunFamily:
        """The family a trial's parameters belong to."""
        return self.family(family_of(params) if self.auto else None)

    def unit_of(self, params: dict[str, Any]) -> Unit:
        """What the reported steps of a trial with ``params`` count."""
        return self.family_of(params).unit

    def dataset_of(self, family: str | None = None) -> Dataset:
        """The data as ``family`` reads it (``None``: the run's only family)."""
        fam = self.family(family)
        return fam.dataset if fam.dataset is not None else self.dataset

    def trial_seed(self, number: int) -> int:
        """The training seed of trial ``number``: ``trainer.seed`` + number."""
        return int(self.plan.trainer.seed) + int(number)

    def sample(self, trial: Any) -> dict[str, Any]:
        """Sample a trial's parameters through its public ``suggest_*`` methods.

        With ``model=auto`` the family first, then that family's parameters only (named
        ``family.param``).
        """
        if not self.auto:
            return {name: p.suggest(trial, name) for name, p in self.plan.space.items()}
        name = trial.suggest_categorical(FAMILY_PARAM, list(self.families))
        params: dict[str, Any] = {FAMILY_PARAM: name}
        for param, p in self.families[name].family.space.items():
            key = prefixed(name, param)
            params[key] = p.suggest(trial, key)
        return params

    def config(self, params: dict[str, Any]) -> DictConfig:
        """The trial's model config: its family's base config with ``params`` applied (a copy)."""
        fam = self.family_of(params)
        own = own_params(fam.name, params) if self.auto else params
        return trial_config(fam.family.node, own)

    def defaults(self) -> list[dict[str, Any]]:
        """Each family's default configuration as study parameters (what ``enqueue_defaults``
        runs first): the values its base config gives the searched parameters. Estimators
        come before torch models, whose trials cost the most, so a short budget still
        covers the cheap families."""
        out = []
        order = sorted(self.families.values(), key=lambda f: f.backend.kind == "lightning")
        for fam in order:
            base = fam.family.node
            values = {p: OmegaConf.select(base, p) for p in fam.family.space}
            if self.auto:
                values = {prefixed(fam.name, p): v for p, v in values.items()}
                values = {FAMILY_PARAM: fam.name, **values}
            out.append(values)
        return out

    def fit(
        self,
        cfg: Any,
        *,
        family: str | None = None,
        report: Report | None = None,
        workdir: str | Path | None = None,
        seed: int = 0,
    ) -> FitResult:
        """Train one configuration (holdout or k-fold) toward the run's goal, then measure its
        prediction latency (``latency_ms``)."""
        fam = self.family(family)
        result = fit_config(
            fam.backend,
            fam.plugin,
            cfg,
            self.dataset_of(family),
            self.goal,
            report=report,
            workdir=workdir,
            seed=seed,
            fold_values=self.fold_values,
        )
        result.latency_ms = self.latency(fam, result.model)
        return result

    def latency(self, fam: RunFamily, model: Any) -> float | None:
        """Milliseconds of ``fam``'s backend predicting a fixed batch of validation rows
        (``LATENCY_ROWS``; fold 0's with k folds): the median of ``LATENCY_CALLS`` calls after
        a warm-up call, the lowest of up to ``LATENCY_WINDOWS`` such medians while the calls
        spread (on a shared machine other processes stall some calls), on one thread where
        the backend allows. ``None`` for models that do not predict (generators)."""
        task = self.dataset.spec.task
        if model is None or task not in ("classification", "regression"):
            return None
        if fam.backend.generates(model):
            return None
        data = self.dataset_of(fam.name)
        data = data.folds[0] if data.folds else data
        x = data.val.x[:LATENCY_ROWS] if len(data.val) else data.train.x[:LATENCY_ROWS]
        best = float("inf")
        # One thread where the backend can say so (torch): a model's latency, not the
        # machine's load (LightningBackend.one_thread).
        with getattr(fam.backend, "one_thread", contextlib.nullcontext)():
            fam.backend.predict(model, x, task)
            for _ in range(LATENCY_WINDOWS):
                times = []
                for _ in range(LATENCY_CALLS):
                    start = time.perf_counter()
                    fam.backend.predict(model, x, task)
                    times.append(time.perf_counter() - start)
                best = min(best, statistics.median(times))
                if max(times) <= 2 * min(times):
                    break
        return 1000.0 * best

    def refit(
        self,
        cfg: Any,
        data: Dataset,
        budget: dict[str, Any],
        *,
        family: str | None = None,
        workdir: str | Path | None = None,
        seed: int = 0,
    ) -> FitResult:
        """Retrain ``cfg`` on ``data.train`` for ``budget`` (no validation data)."""
        fam = self.family(family)
        return refit_config(fam.backend, fam.plugin, cfg, data, budget, workdir=workdir, seed=seed)

    def refit_wanted(self) -> bool:
        """``sweep.refit``, where ``None`` means: refit exactly when the data has k folds."""
        refit = self.plan.sweep.refit
        return bool(refit) if refit is not None else bool(self.dataset.folds)


def _overridden(plan: RunPlan, key: str) -> bool:
    """Whether the command line set ``key`` (``data.folds=0`` counts: the user chose)."""
    return any(o.lstrip("+~").split("=", 1)[0] == key for o in plan.overrides)


def _auto_dataset(plan: RunPlan, dataset: Dataset) -> tuple[Dataset, list[str]]:
    """``model=auto`` on small data selects on the mean of ``AUTO_FOLDS`` folds (unless
    ``data.folds`` was set, or ``sweep.timeout`` is below ``AUTO_FOLDS_MIN_TIMEOUT``): one
    small validation split lets a long search pick a configuration that only fits those rows
    (docs/sweeps.md); a short one cannot afford five fits a trial."""
    if dataset.folds or _overridden(plan, "data.folds"):
        return dataset, []
    rows = len(dataset.train) + len(dataset.val)
    if rows > AUTO_SMALL_ROWS or not hasattr(plan.data_cfg, "folds"):
        return dataset, []
    timeout = plan.sweep.timeout
    if timeout is not None and timeout < AUTO_FOLDS_MIN_TIMEOUT:
        return dataset, [
            f"model=auto: sweep.timeout={timeout:g} s is short, so trials are judged on one "
            f"validation split ({len(dataset.val)} rows); from {AUTO_FOLDS_MIN_TIMEOUT:g} s on "
            f"(or with data.folds={AUTO_FOLDS}) on the mean of {AUTO_FOLDS} folds"
        ]
    plan.data_cfg = dataclasses.replace(plan.data_cfg, folds=AUTO_FOLDS)
    note = (
        f"model=auto: small data ({rows} non-test rows): each trial is judged on the mean of "
        f"{AUTO_FOLDS} folds (data.folds={AUTO_FOLDS}) and the chosen configuration is refit "
        "on all of them; data.folds=0 selects on one validation split instead"
    )
    return load_dataset(plan.data_plugin, plan.data_cfg), [note]


def _goal(plan: RunPlan, metric: str, direction: Any) -> Goal:
    """The run's objectives: ``sweep.objectives`` (or the model's metric) and constraints.

    A trial's best epoch is chosen on the first objective that is a validation metric, or on
    the model's own metric when every objective is a built-in measure (``n_params`` is the
    same at every epoch).
    """
    if plan.sweep.direction != "auto":
        direction = "maximize" if plan.sweep.direction == "maximize" else "minimize"
    objectives = resolve_objectives(plan.objectives, metric, direction)
    for objective in objectives:
        if not objective.builtin:
            metric, direction = objective.key.removeprefix("val_"), objective.direction
            break
    return Goal(metric, direction, objectives, tuple(plan.constraints))


def _check_latency(goal: Goal, task: str) -> None:
    names = [o.key for o in goal.objectives] + [c.key for c in goal.constraints]
    if "latency_ms" in names and task not in ("classification", "regression"):
        raise UserError(
            f"latency_ms is measured on predictions, and {task} models do not predict; drop it "
            "from sweep.objectives / sweep.constraints"
        )


def prepare(plan: RunPlan, *, preflight: bool = True) -> Run:
    """Load the data and make every decision of the run; nothing is written.

    Raises:
        UserError: The model (a family listed in ``model.families``) does not accept the
            data, Lightning cannot train with the trainer settings, or the model fails its
            preflight.
    """
    dataset = load_dataset(plan.data_plugin, plan.data_cfg)
    notes: list[str] = []
    families: dict[str, Family] = dict(plan.families)
    if plan.auto:
        dataset, folds_note = _auto_dataset(plan, dataset)
        families, fit_notes = compatible_families(families, dataset.spec, plan.families_listed)
        notes += fit_notes + folds_note
        plan.families = families
        plan.space = joint_space(families)
    else:
        next(iter(families.values())).plugin.check_data(dataset.spec)
    # What the data held and what was done to it (a table's one-line summary, columns left
    # out) comes first among the notes.
    notes[:0] = ([summary_line(dataset.summary)] if dataset.summary else []) + list(dataset.notes)
    first = next(iter(families.values())).plugin
    metric, direction = first.objective(dataset.spec.task)
    goal = _goal(plan, metric, direction)
    _check_latency(goal, dataset.spec.task)
    if not goal.prunable and plan.sweep.pruner != "none":
        why = (
            "Optuna does not prune multi-objective studies (a trial reports one value per step)"
            if goal.multi
            else f"{goal.objectives[0].key} is measured once, after training"
        )
        notes.append(
            f"sweep.pruner={plan.sweep.pruner} is not used: {why}, so every trial trains to "
            "its end and no intermediate values are reported"
        )
    backends: dict[str, Backend] = {}
    run_families: dict[str, RunFamily] = {}
    for name, fam in families.items():
        kind = fam.plugin.kind
        if kind not in backends:
            backends[kind] = backend_for(fam.plugin, plan.trainer)
        backend = backends[kind]
        unit: Unit = "fold" if dataset.folds else backend.unit
        # How this family reads the samples (a signal is steps x channels to an RNN): decided
        # here, once; its view of the data is what it trains, is tested and exported with.
        layout = fit_layout(fam.plugin, dataset.spec)
        if layout.note:
            notes.append(layout.note)
        view = as_layout(dataset, layout)
        run_families[name] = RunFamily(fam, backend, unit, dataset=view)
        if preflight:
            _preflight(fam, backend, OmegaConf.to_object(fam.node), view)
    identity = fingerprint(
        model=plan.model_name,
        model_config=_model_config(plan, families),
        space=plan.space,
        metric=metric,
        direction=direction,
        data=plan.data_name,
        data_config=plan.data_cfg,
        data_digest=dataset.digest,
        trainer=_result_settings(backends),
        objective=goal.identity(),
        constraints=[str(c) for c in goal.constraints],
        families=list(families) if plan.auto else None,
    )
    first_unit = next(iter(run_families.values())).unit
    # Pruners that compare trials fold by fold (Wilcoxon) get each fold's own value.
    fold_values = bool(dataset.folds) and pruner_wants_fold_values(plan.sweep.pruner)
    return Run(plan, dataset, goal, first_unit, identity, fold_values, notes, run_families)


def _model_config(plan: RunPlan, families: dict[str, Family]) -> dict[str, Any]:
    """The base config(s) in the fingerprint: the model's, or each family's under its name."""
    if not plan.auto:
        return OmegaConf.to_container(plan.model_node, resolve=True)  # type: ignore[return-value]
    return {name: OmegaConf.to_container(f.node, resolve=True) for name, f in families.items()}


def _result_settings(backends: dict[str, Backend]) -> dict[str, Any]:
    """The trainer settings that change results, of every backend the run uses."""
    settings: dict[str, Any] = {}
    for backend in backends.values():
        settings.update(backend.result_settings())
    return settings


def _preflight(fam: Family, backend: Backend, cfg: Any, dataset: Dataset) -> None:
    """Build the default config and train one tiny step before any trial or file exists."""
    try:
        backend.preflight(fam.plugin, cfg, dataset.folds[0] if dataset.folds else dataset)
    except UserError:
        raise  # already one line that says what to do (a bad device, a bad setting)
    except Exception as exc:
        raise PluginError(
            f"model '{fam.name}' ({fam.package}) failed its preflight, a build with its "
            f"default config and one training step on a few rows: {reason(exc)}; fix the "
            "plugin or its config (see docs/plugins.md) and run again"
        ) from exc
