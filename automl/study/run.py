"""One run: a validated plan with its data, families, goal and identity, decided once.

``prepare`` loads the data, checks each model family against it, picks each family's backend,
unit and device, decides the objectives (metrics, directions, constraints), the trial total,
the seeds and whether the chosen trial is refit, runs the preflight, and computes the study's
fingerprint and record. The result is a frozen ``Run``: the study, ``sweep=none``, the export
and the summary read these decisions from it and none of them decides again. What a trial
needs done with them (sample, configure, train) is ``Run.services``
(``automl.study.services.Services``).

A run searches one family (the model it names) or, with ``model=auto``, several
(``automl.study.families``): ``Run.families`` maps each family to its plugin, backend, base
config, unit and device.
"""

from __future__ import annotations

import dataclasses
import math
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from omegaconf import OmegaConf

from automl.backends import Backend, Goal, backend_for
from automl.core.budget import TimeBudget, plan_budget
from automl.core.errors import PluginCodeError, UserError, reason
from automl.core.objectives import check_reported, resolve_objectives
from automl.core.records import steps_label
from automl.core.study_record import StudyRecord
from automl.data import Dataset, load_dataset
from automl.data.layout import as_layout, fit_layout
from automl.data.summary import summary_line
from automl.study.families import (
    Family,
    RunFamily,
    compatible_families,
    joint_space,
)
from automl.study.identity import fingerprint
from automl.study.plan import RunPlan
from automl.study.search import pruner_wants_fold_values
from automl.study.services import LATENCY_CALLS, LATENCY_ROWS, LATENCY_WINDOWS, Services

if TYPE_CHECKING:
    from automl.core.objectives import Direction

__all__ = [
    "Run",
    "Budget",
    "Seeds",
    "prepare",
    "trial_total",
    "LATENCY_ROWS",
    "LATENCY_CALLS",
    "LATENCY_WINDOWS",
    "AUTO_FOLDS",
    "AUTO_SMALL_ROWS",
    "AUTO_FOLDS_MIN_TIMEOUT",
]

_T = TypeVar("_T")

AUTO_FOLDS = 5
"""``model=auto`` on small data: each trial's value is the mean of this many folds
(docs/sweeps.md; measured in docs/benchmarks.md)."""
AUTO_SMALL_ROWS = 10_000
"""Data with at most this many non-test rows counts as small for ``model=auto``'s default."""
AUTO_FOLDS_MIN_TIMEOUT = 120.0
"""Below this ``sweep.timeout`` (seconds) ``model=auto`` keeps one validation split: five folds
cost five fits a trial, and in 30 s they ran little beyond each family's defaults (4-8 trials
against 20-28) and tested 1-5 samples worse (docs/benchmarks.md)."""


@dataclass(frozen=True)
class Budget:
    """How much a study runs.

    Attributes:
        n_trials: ``sweep.n_trials`` as asked.
        total: The trials the study runs to: ``n_trials``, or fewer when the space has
            fewer points (a grid's size; one when every parameter is pinned; ``trial_total``).
            The loop, the parent, the header and ``watch`` all count to this.
        timeout: ``sweep.timeout``: the whole command's time budget in seconds (``None``:
            none).
        clock: That time budget, planned once the run is prepared: its end, the end for
            trials (a worker's is its parent's) and the reserve for the end of the study,
            scaled by how loaded the machine was during start-up (``automl.core.budget``);
            ``None`` without one.
    """

    n_trials: int
    total: int
    timeout: float | None = None
    clock: TimeBudget | None = None


@dataclass(frozen=True)
class Seeds:
    """The seeds of a run.

    Attributes:
        sampling: ``sweep.seed``: the samplers' (each trial's derived from it,
            ``automl.tuning.sampling.derive_seed``).
        training: ``trainer.seed``: trial ``n`` trains with ``training + n``.
    """

    sampling: int
    training: int

    def trial(self, number: int) -> int:
        """The training seed of trial ``number``."""
        return self.training + int(number)


@dataclass(frozen=True)
class Run:
    """Everything one invocation decided, read by the study, the export and the summary.

    Attributes:
        plan: The validated plan as prepared (with ``model=auto``: the families that fit the
            data, their joint space and the data config the run loads).
        dataset: The data every trial of this process shares.
        goal: The objectives, constraints and the best-epoch metric (the study's and every
            trial's).
        families: Each searched family's plugin, backend, base config, unit and device.
        budget: The trial total and time budget.
        seeds: The sampling and training seeds.
        fingerprint: The study's identity (``automl.study.identity``).
        record: What the study stores about itself (``automl.core.study_record``).
        services: Sampling, configuring and training the run's trials.
        notes: Lines to print before the study.
        auto: A search across model families (``model=auto``).
        steps: How the leaderboard names a trial's length (``automl.core.records.steps_label``
            over the families' units).
        device: Where trials train (each family's device, named when they differ).
        describe: Where trials train, in the backend's words (printed before the study).
        refit: Whether the chosen configuration is retrained on every non-test row
            (``sweep.refit``; unset: exactly when the data has k folds).
        fold_values: With k folds, report each fold's value instead of the running mean.
    """

    plan: RunPlan
    dataset: Dataset
    goal: Goal
    families: Mapping[str, RunFamily]
    budget: Budget
    seeds: Seeds
    fingerprint: Mapping[str, Any]
    record: StudyRecord
    services: Services
    notes: tuple[str, ...] = ()
    auto: bool = False
    steps: str = "epochs"
    device: str = "cpu"
    describe: str = ""
    refit: bool = False
    fold_values: bool = False

    def refit_seconds(self, train_s: float | None) -> float:
        """About how long refitting a trial that trained ``train_s`` seconds takes (0 when
        no refit is wanted): its training time scaled to every non-test row (k folds:
        one fold's time x k / (k - 1); one split: x 4/3, train+val over train)."""
        if not self.refit or self.dataset.merged is None or not train_s:
            return 0.0
        k = len(self.dataset.folds)
        return train_s / (k - 1) if k >= 2 else train_s * 4 / 3


def trial_total(plan: RunPlan) -> int:
    """The trials a study runs to: ``sweep.n_trials``, or fewer when the space has fewer
    points: a grid's size, or one trial when nothing is searched (every parameter pinned)
    (the one rule; ``Budget.total``)."""
    n_trials = plan.sweep.n_trials
    if not plan.space:
        return min(n_trials, 1)
    grid = plan.sampler.grid
    if grid is None:
        return n_trials
    return min(n_trials, math.prod(len(v) for v in grid.values()))


def _overridden(plan: RunPlan, key: str) -> bool:
    """Whether the command line set ``key`` (``data.folds=0`` counts: the user chose)."""
    return any(o.lstrip("+~").split("=", 1)[0] == key for o in plan.overrides)


def _auto_folds(plan: RunPlan, dataset: Dataset) -> tuple[Any, list[str]]:
    """``model=auto`` on small data selects on the mean of ``AUTO_FOLDS`` folds (unless
    ``data.folds`` was set, or ``sweep.timeout`` is below ``AUTO_FOLDS_MIN_TIMEOUT``): one
    small validation split lets a long search pick a configuration that only fits those rows
    (docs/sweeps.md); a short one cannot afford five fits a trial.

    Returns:
        The data config the run loads (the plan's, or a copy with ``folds=AUTO_FOLDS``) and
        the note that says so.
    """
    if dataset.folds or _overridden(plan, "data.folds"):
        return plan.data_cfg, []
    rows = len(dataset.train) + len(dataset.val)
    if rows > AUTO_SMALL_ROWS or not hasattr(plan.data_cfg, "folds"):
        return plan.data_cfg, []
    timeout = plan.sweep.timeout
    if timeout is not None and timeout < AUTO_FOLDS_MIN_TIMEOUT:
        return plan.data_cfg, [
            f"model=auto: sweep.timeout={timeout:g} s is short, so trials are judged on one "
            f"validation split ({len(dataset.val)} rows); from {AUTO_FOLDS_MIN_TIMEOUT:g} s on "
            f"(or with data.folds={AUTO_FOLDS}) on the mean of {AUTO_FOLDS} folds"
        ]
    note = (
        f"model=auto: small data ({rows} non-test rows): each trial is judged on the mean of "
        f"{AUTO_FOLDS} folds (data.folds={AUTO_FOLDS}) and the chosen configuration is refit "
        "on all of them; data.folds=0 selects on one validation split instead"
    )
    return dataclasses.replace(plan.data_cfg, folds=AUTO_FOLDS), [note]


def _goal(plan: RunPlan, metric: str, direction: Direction) -> Goal:
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

    ``plan`` is left as it is: with ``model=auto`` the run's plan is a new one, holding the
    families that fit the data, their joint space and the data config the run loads.

    Raises:
        UserError: The model (a family listed in ``model.families``) does not accept the
            data, Lightning cannot train with the trainer settings, or the model fails its
            preflight.
    """
    dataset = load_dataset(plan.data_plugin, plan.data_cfg)
    notes: list[str] = []
    families: dict[str, Family] = dict(plan.families)
    if plan.auto:
        data_cfg, folds_note = _auto_folds(plan, dataset)
        if data_cfg is not plan.data_cfg:
            dataset = load_dataset(plan.data_plugin, data_cfg)
        families, fit_notes = compatible_families(families, dataset.spec, plan.families_listed)
        notes += fit_notes + folds_note
        plan = dataclasses.replace(
            plan, data_cfg=data_cfg, families=families, space=joint_space(families)
        )
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
        notes.append(
            f"sweep.pruner={plan.sweep.pruner} is not used: {goal.objectives[0].key} is "
            "measured once, after training, so every trial trains to its end and no "
            "intermediate values are reported"
            + ("; put a validation metric first to prune on it" if goal.multi else "")
        )
    elif goal.multi and plan.sweep.pruner != "none":
        notes.append(
            f"sweep.pruner={plan.sweep.pruner} judges the first objective, {goal.key}, of "
            "this multi-objective study; a pruned trial is on no Pareto front "
            "(sweep.pruner=none trains every trial to its end)"
        )
    backends: dict[str, Backend] = {}
    run_families: dict[str, RunFamily] = {}
    failed: list[tuple[Family, UserError]] = []
    for name, fam in families.items():
        kind = fam.plugin.kind
        if kind not in backends:
            backends[kind] = backend_for(fam.plugin, plan.trainer)
        backend = backends[kind]
        # How this family reads the samples (a signal is steps x channels to an RNN): decided
        # here, once; its view of the data is what it trains, is tested and exported with.
        layout = fit_layout(fam.plugin, dataset.spec)
        view = as_layout(dataset, layout)
        cfg = OmegaConf.to_object(fam.node)
        built: tuple[str, ...] | None = None
        try:
            if preflight:
                one = _first_fold(view)
                built = _checked(fam, partial(backend.preflight, fam.plugin, cfg, one))
            device = _checked(fam, partial(backend.device_for, fam.plugin, cfg, view.spec))
        except UserError as exc:
            # model=auto: one broken plugin (or one that cannot run here) must not stop a
            # search nobody asked it into.
            if not plan.auto or plan.families_listed:
                raise
            failed.append((fam, exc))
            continue
        if layout.note:
            notes.append(layout.note)
        # With k folds a trial reports once per fold, whatever its backend counts.
        unit = "fold" if dataset.folds else backend.unit
        run_families[name] = RunFamily(fam, backend, unit, device, dataset=view)
        _check_metrics(goal, fam, built, dataset)
    if failed:
        if not run_families:
            raise failed[0][1]
        families = {name: families[name] for name in run_families}
        # A new plan (it is frozen): the budget and record below are made from this one.
        plan = dataclasses.replace(plan, families=families, space=joint_space(families))
        notes += [
            f"model=auto: {fam.name} ({fam.package}) left out: its preflight failed "
            f"({reason(exc.__cause__) if exc.__cause__ else exc}); model={fam.name} shows "
            "the whole error"
            for fam, exc in failed
        ]
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
    # Pruners that compare trials fold by fold (Wilcoxon) get each fold's own value.
    fold_values = bool(dataset.folds) and pruner_wants_fold_values(plan.sweep.pruner)
    refit = plan.sweep.refit
    budget = Budget(plan.sweep.n_trials, trial_total(plan), plan.sweep.timeout, _clock(plan, notes))
    steps = steps_label(f.unit for f in run_families.values())
    device = _device(run_families)
    services = Services(
        run_families, dataset, goal, plan.space, auto=plan.auto, fold_values=fold_values
    )
    return Run(
        plan=plan,
        dataset=dataset,
        goal=goal,
        families=run_families,
        budget=budget,
        seeds=Seeds(int(plan.sweep.seed), int(plan.trainer.seed)),
        fingerprint=identity,
        record=_record(plan, goal, identity, budget, run_families, steps, device, dataset),
        services=services,
        notes=tuple(notes),
        auto=plan.auto,
        steps=steps,
        device=device,
        describe=_describe(run_families),
        refit=bool(refit) if refit is not None else bool(dataset.folds),
        fold_values=fold_values,
    )


def _device(families: Mapping[str, RunFamily]) -> str:
    """Where trials train: the one device, or each device with its families
    (``cuda:0 (mlp); cpu (forest, linear)``)."""
    by_device: dict[str, list[str]] = {}
    for name, fam in families.items():
        by_device.setdefault(fam.device, []).append(name)
    if len(by_device) == 1:
        return next(iter(by_device))
    return "; ".join(f"{device} ({', '.join(names)})" for device, names in by_device.items())


def _describe(families: Mapping[str, RunFamily]) -> str:
    """The backend's line on where trials train: the torch families' when there are any
    (estimators name their own device in the header)."""
    backends = [f.backend for f in families.values()]
    costly = [b for b in backends if b.expensive]
    return str((costly or backends)[0].describe())


def _pruner_label(plan: RunPlan, goal: Goal) -> str:
    """The pruner as the header names it: ``none (...)`` when the goal cannot be pruned, and
    which objective it judges in a multi-objective study."""
    if not goal.prunable:
        return f"none ({goal.objectives[0].key} is measured after training)"
    if goal.multi and plan.sweep.pruner != "none":
        return f"{plan.sweep.pruner} (on {goal.key}, the first objective)"
    return str(plan.sweep.pruner)


def _record(
    plan: RunPlan,
    goal: Goal,
    identity: Mapping[str, Any],
    budget: Budget,
    families: Mapping[str, RunFamily],
    steps: str,
    device: str,
    dataset: Dataset,
) -> StudyRecord:
    """What the study stores about itself (``tuning.opening`` writes it)."""
    return StudyRecord(
        model=plan.model_name,
        data=plan.data_name,
        metric=goal.metric,
        direction=goal.direction,
        n_trials=budget.n_trials,
        total=budget.total,
        fingerprint=dict(identity),
        objectives=tuple(o.short for o in goal.objectives),
        constraints=tuple(str(c) for c in goal.constraints),
        families=tuple(families) if plan.auto else None,
        sampler=plan.sampler.label,
        pruner=_pruner_label(plan, goal),
        steps=steps,
        device=device,
        n_val=_validation_rows(dataset),
    )


def _clock(plan: RunPlan, notes: list[str]) -> TimeBudget | None:
    """``sweep.timeout`` as this process's budget, planned now that start-up is measured; a
    note when the report does not fit in it."""
    sweep = plan.sweep
    budget = plan_budget(sweep.timeout, report=bool(sweep.report))
    if budget is None:
        return None
    if sweep.report and not budget.report and budget.given_end is None:
        notes.append(
            f"sweep.timeout={sweep.timeout:g} s: report/ is not written within the budget (it "
            f"takes about {budget.report_seconds:.0f} s on this machine now); draw it "
            f"afterwards with: python -m automl report {plan.run_dir}"
        )
    return budget


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


def _validation_rows(dataset: Dataset) -> int:
    """The validation rows a trial is judged on (every fold's together with k folds)."""
    return sum(len(f.val) for f in dataset.folds) if dataset.folds else len(dataset.val)


def _check_metrics(goal: Goal, fam: Family, built: tuple[str, ...] | None, data: Dataset) -> None:
    """Refuse objectives and constraints that name a metric the family never reports (every
    trial would fail on it); unchecked when neither the plugin nor its built model says."""
    names = fam.plugin.reported_metrics(built)
    if names is None:
        return
    reported = [f"val_{m}" for m in names]
    if data.folds:
        reported.append(f"{goal.key}_std")  # the spread over folds (automl.backends.protocol)
    check_reported(goal.objectives, goal.constraints, fam.name, reported, data.spec.task)


def _first_fold(dataset: Dataset) -> Dataset:
    return dataset.folds[0] if dataset.folds else dataset


def _checked(fam: Family, step: Callable[[], _T]) -> _T:
    """A step that builds the family's default config (its preflight: a build and one
    training step on a few rows; its device), before any trial or file exists; a failure
    is one line naming the plugin.

    Raises:
        UserError: The step's own (a bad device, a bad setting), or a ``PluginCodeError``.
    """
    try:
        return step()
    except UserError:
        raise  # already one line that says what to do (a bad device, a bad setting)
    except Exception as exc:
        raise PluginCodeError(
            f"model '{fam.name}' ({fam.package}) failed its preflight, a build with its "
            f"default config and one training step on a few rows: {reason(exc)}; fix the "
            "plugin or its config (see docs/plugins.md) and run again",
            "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        ) from exc
