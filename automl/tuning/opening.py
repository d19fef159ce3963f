"""Open a study: create or load it, and refuse a changed one.

Also the study's sampler, the total it runs to (``sweep.n_trials``, or a smaller grid) and
what the leaderboard's title says about it.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from typing import Any

import optuna

from automl.core.errors import StudyError
from automl.study.identity import diff
from automl.study.run import Run
from automl.study.search import sampler_keeps_state
from automl.tuning.factories import build_sampler, study_pruner
from automl.tuning.lost import fail_lost_trials
from automl.tuning.retry import enqueue_retry
from automl.tuning.sampling import StudySampler, distributions
from automl.tuning.selection import search_attrs, search_header
from automl.tuning.storage import make_storage

__all__ = ["open_study", "study_header", "study_total", "mark_deadline"]

# Samplers that never repeat a point by construction (grid and quasi-random sequences) or
# whose draws must not be asked for twice in one trial (CMA-ES's generations): no redraws.
_NO_REDRAW = ("grid", "qmc", "cmaes")


def _sampler(run: Run) -> StudySampler:
    plan = run.plan
    chosen = plan.sampler
    one_seed = sampler_keeps_state(chosen.name)
    # A conditional space (model=auto) has no one set of parameters to redraw whole.
    redraw = chosen.name not in _NO_REDRAW and not chosen.conditional
    return StudySampler(
        functools.partial(build_sampler, chosen, space=plan.space, n_trials=plan.sweep.n_trials),
        plan.sweep.seed,
        distributions(plan.space) if redraw else None,
        per_trial_seed=not one_seed,
    )


def _retry_stale(study: optuna.Study, trial: Any, max_retries: int) -> None:
    """Optuna's stale-trial callback: re-run a trial lost by its heartbeats."""
    enqueue_retry(study, trial, max_retries)


def open_study(
    run: Run, notes: list[str]
) -> tuple[optuna.Study, StudySampler, optuna.storages.BaseStorage]:
    """Create the study, or load it (resume) after checking that it is the same study.

    Returns:
        The study, its sampler, and the storage as opened (Optuna wraps it in a cache).

    Raises:
        StudyError: The stored study optimizes the other direction, or its identity differs
            in a way Optuna cannot absorb (unless ``sweep.resume=force``). Nothing is
            written to the study before this check.
    """
    plan, sweep = run.plan, run.plan.sweep
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the leaderboard reports trials
    storage = make_storage(
        sweep.storage,
        plan.run_dir,
        sweep.heartbeat_interval,
        sweep.grace_period,
        max_retries=sweep.max_retries,
        on_stale=functools.partial(_retry_stale, max_retries=sweep.max_retries),
        notes=notes,
    )
    sampler = _sampler(run)
    pruner = study_pruner(
        sweep.pruner, sweep.pruner_args, multi=not run.goal.prunable, families=run.auto
    )
    try:
        study = optuna.load_study(
            study_name=plan.study_name, storage=storage, sampler=sampler, pruner=pruner
        )
    except KeyError:
        study = optuna.create_study(
            storage=storage,
            study_name=plan.study_name,
            sampler=sampler,
            pruner=pruner,
            directions=run.goal.directions,
            load_if_exists=True,  # another worker may create it at the same moment
        )
    _check_identity(run, study, notes)
    # Every study names its objectives, so optuna-dashboard shows "val_acc", not "Objective 0".
    with warnings.catch_warnings():  # experimental in Optuna since 3.2, still there in 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(run.goal.names)
    for key, value in {
        "model": plan.model_name,
        "data": plan.data_name,
        "metric": run.goal.metric,
        "direction": run.goal.direction,
        "n_trials": sweep.n_trials,
        "fingerprint": run.fingerprint,
        "n_val": validation_rows(run),
        **search_attrs(run),
    }.items():
        study.set_user_attr(key, value)
    fail_lost_trials(study, sweep.max_retries)
    return study, sampler, storage


def _check_identity(run: Run, study: optuna.Study, notes: list[str]) -> None:
    plan = run.plan
    existing = [d.name.lower() for d in study.directions]
    if existing != run.goal.directions:
        raise StudyError(
            f"study '{plan.study_name}' in this storage optimizes {', '.join(existing)}, not "
            f"{', '.join(run.goal.directions)}; choose another sweep.study_name"
        )
    stored = study.user_attrs.get("fingerprint")
    if not isinstance(stored, dict):
        if study.get_trials(deepcopy=False):
            notes.append(
                f"study '{plan.study_name}' has no recorded identity (made by an older automl); "
                "this run's is recorded now and checked from the next run on"
            )
        return
    changes = diff(stored, run.fingerprint)
    refused = [c for c in changes if not c.allowed]
    if refused and plan.sweep.resume != "force":
        lines = "\n".join(f"  {c}" for c in refused)
        raise StudyError(
            f"study '{plan.study_name}' was run with other settings; its trials are not "
            f"comparable with this run's:\n{lines}\nStart a new study with "
            f"sweep.study_name=NEW_NAME, or continue this one anyway with sweep.resume=force"
        )
    for change in changes:
        kind = "forced" if not change.allowed else "allowed"
        notes.append(f"study '{plan.study_name}' changed ({kind}): {change}")


def study_total(run: Run) -> int:
    """``sweep.n_trials``, or the grid's size when a grid has fewer points."""
    grid = run.plan.sampler.grid
    if grid is None:
        return run.plan.sweep.n_trials
    return min(run.plan.sweep.n_trials, math.prod(len(v) for v in grid.values()))


def validation_rows(run: Run) -> int:
    """The validation rows a trial is judged on (every fold's together with k folds)."""
    data = run.dataset
    return sum(len(f.val) for f in data.folds) if data.folds else len(data.val)


def study_header(run: Run) -> dict[str, Any]:
    """What the leaderboard's title and ``leaderboard.json`` say about the study."""
    plan = run.plan
    return {
        "study": plan.study_name,
        "model": plan.model_name,
        "data": plan.data_name,
        "sampler": plan.sampler.label,
        "pruner": plan.sweep.pruner,
        "metric": run.goal.key,
        "direction": run.goal.direction,
        "steps": run.steps_label,
        "device": run.backend.device,
        "n_trials": plan.sweep.n_trials,
        "results": str(plan.run_dir),
        "n_val": validation_rows(run),
        **search_header(run),
    }


def mark_deadline(study: optuna.Study, header: dict[str, Any], timeout: float | None) -> None:
    """Record when this invocation stops starting trials (``sweep.timeout``): in the header
    (the live view's time left) and on the study (``watch`` reads it); ``None`` without one."""
    deadline = time.time() + float(timeout) if timeout else None
    if deadline is not None:
        header["deadline"] = deadline
    study.set_user_attr("deadline", deadline)
