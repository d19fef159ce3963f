"""Run an Optuna study in-process, with live leaderboard, resume, Ctrl-C safety and export."""

from __future__ import annotations

import signal
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.console import Console
from rich.live import Live

from automl.data import Dataset, load_dataset
from automl.errors import UserError
from automl.leaderboard import Leaderboard, row_from_trial, write_leaderboard
from automl.plan import RunPlan
from automl.tuning.factories import make_pruner, make_sampler
from automl.tuning.lock import run_dir_lock
from automl.tuning.lost import fail_lost_trials
from automl.tuning.objective import Objective
from automl.tuning.storage import make_storage

__all__ = ["StudyOutcome", "run_study", "open_study"]

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass
class StudyOutcome:
    """What a study invocation left behind."""

    study_name: str
    direction: str
    metric: str
    n_complete: int
    n_pruned: int
    n_failed: int
    best_number: int | None = None
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    refit: bool = False


def open_study(plan: RunPlan, direction: str) -> optuna.Study:
    """Create the study, or load it when a study of that name exists (resume)."""
    sweep = plan.sweep
    storage = make_storage(
        sweep.storage, plan.run_dir, sweep.heartbeat_interval, sweep.grace_period
    )
    study = optuna.create_study(
        storage=storage,
        study_name=plan.study_name,
        sampler=make_sampler(sweep.sampler, sweep.seed),
        pruner=make_pruner(sweep.pruner, sweep.pruner_args),
        direction=direction,
        load_if_exists=True,
    )
    fail_lost_trials(study)
    existing = study.direction.name.lower()
    if existing != direction:
        raise UserError(
            f"study '{plan.study_name}' in this storage optimizes {existing}, not {direction}; "
            "choose another sweep.study_name"
        )
    return study


def _objective_of(plan: RunPlan, dataset: Dataset) -> tuple[str, str]:
    metric, direction = plan.plugin.objective(dataset.spec.task)
    return metric, (direction if plan.sweep.direction == "auto" else plan.sweep.direction)


def _finish_running(study: optuna.Study, numbers: set[int]) -> None:
    """Fail trials this process left RUNNING (a Ctrl-C can land outside the objective)."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.number in numbers:
            study._storage.set_trial_user_attr(
                trial._trial_id, "error", "interrupted by user (Ctrl-C)"
            )
            study.tell(trial.number, state=TrialState.FAIL)


def _refit_note(info: dict[str, Any] | None, number: int) -> str | None:
    """One line on what the exported model was trained on, or why the refit failed."""
    from automl.finalize import describe_budget

    if not info:
        return None
    if "failed" in info:
        return f"failed ({info['failed']}); exported trial #{number}'s own model"
    budget = describe_budget(info["budget"])
    return f"trial #{number}'s config retrained on {info['rows']} train+val rows ({budget})"


def run_study(plan: RunPlan, console: Console | None = None) -> StudyOutcome:
    """Run (or resume) the plan's study until it holds ``sweep.n_trials`` finished trials.

    Args:
        plan: The validated run plan.
        console: Where the leaderboard and summary go (stdout by default).

    Returns:
        Counts, the best trial and its test metrics; ``interrupted`` after Ctrl-C.
    """
    from automl.finalize import export_best, refit_wanted

    console = console or Console()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the leaderboard reports trials
    dataset = load_dataset(plan.data_plugin, plan.data_cfg)
    plan.plugin.check_data(dataset.spec)
    if plan.plugin.kind == "lightning":
        from automl.train import check_trainer

        check_trainer(plan.trainer)
    metric, direction = _objective_of(plan, dataset)
    study = open_study(plan, direction)
    for key, value in (("model", plan.model_name), ("data", plan.data_name), ("metric", metric)):
        study.set_user_attr(key, value)

    finished = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    remaining = plan.sweep.n_trials - len(finished)
    header = {
        "study": plan.study_name,
        "model": plan.model_name,
        "data": plan.data_name,
        "sampler": plan.sweep.sampler,
        "pruner": plan.sweep.pruner,
        "metric": f"val_{metric}",
        "direction": direction,
        "steps": "epochs" if plan.plugin.kind == "lightning" else "steps",
        "n_trials": plan.sweep.n_trials,
        "results": str(plan.run_dir),
    }
    board = Leaderboard(console, header, finished, top_k=plan.sweep.top_k)
    if remaining <= 0:
        console.print(
            f"study '{plan.study_name}' already has {len(finished)} finished trials "
            f"(sweep.n_trials={plan.sweep.n_trials}); raise sweep.n_trials to run more"
        )
    elif finished:
        console.print(
            f"resuming study '{plan.study_name}': {len(finished)} trials done, {remaining} to go"
        )

    interrupted = threading.Event()
    started: set[int] = set()

    def on_start(number: int) -> None:
        started.add(number)
        board.trial_started(number)

    def on_sigint(signum: int, frame: Any) -> None:
        interrupted.set()
        raise KeyboardInterrupt

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        # Workers sharing the study finish trials too; counts and best include theirs.
        board.sync(study.get_trials(deepcopy=False, states=_FINISHED))
        board.trial_finished(trial)
        if interrupted.is_set():
            study.stop()

    previous = signal.signal(signal.SIGINT, on_sigint)
    objective = Objective(plan, dataset, interrupted, on_start=on_start)
    live = board.live and plan.sweep.live and remaining > 0
    with Live(board, console=console, refresh_per_second=4) if live else nullcontext():
        try:
            if remaining > 0:
                study.optimize(
                    objective,
                    n_trials=remaining,
                    timeout=plan.sweep.timeout,
                    catch=(Exception,),
                    callbacks=[
                        after_trial,
                        optuna.study.MaxTrialsCallback(plan.sweep.n_trials, states=None),
                    ],
                )
        except KeyboardInterrupt:
            interrupted.set()
        finally:
            signal.signal(signal.SIGINT, previous)
            _finish_running(study, started)
            # One read of the final state: the live view's last frame (an interrupted trial
            # shows as FAIL), the files and the summary all use it.
            trials = study.get_trials(deepcopy=False)
            board.running.clear()
            board.rows = {t.number: row_from_trial(t) for t in trials}

    # Workers sharing this run directory finish together: they take turns writing its files.
    with run_dir_lock(plan.run_dir):
        # Read again under the lock: whoever writes last writes the newest state.
        trials = study.get_trials(deepcopy=False)
        board.rows = {t.number: row_from_trial(t) for t in trials}
        rows = board.ranked()
        write_leaderboard(rows, plan.run_dir, header)
        counts = {s: sum(t.state == s for t in trials) for s in TrialState}
        outcome = StudyOutcome(
            study_name=plan.study_name,
            direction=direction,
            metric=metric,
            n_complete=counts[TrialState.COMPLETE],
            n_pruned=counts[TrialState.PRUNED],
            n_failed=counts[TrialState.FAIL],
            interrupted=interrupted.is_set(),
        )
        best, refit_note = None, None
        if outcome.n_complete:
            best = study.best_trial
            outcome.best_number, outcome.best_value = best.number, best.value
            outcome.best_params = dict(best.params)
            # After Ctrl-C the user wants out, not another training run: the trial's model is kept.
            outcome.refit = refit_wanted(plan.sweep.refit, dataset) and not outcome.interrupted
            exported = export_best(plan, dataset, best, metric, direction, refit=outcome.refit)
            outcome.test_metrics = exported.test
            if exported.test:
                refit_note = _refit_note(exported.refit, best.number)
            study.set_user_attr("best_test_metrics", {"trial": best.number, **outcome.test_metrics})
        console.print(
            board.summary(
                outcome.best_params,
                dict(best.user_attrs.get("metrics", {})) if best else {},
                outcome.test_metrics,
                str(plan.run_dir),
                outcome.best_number,
                interrupted=outcome.interrupted,
                refit=refit_note,
            )
        )
    return outcome
