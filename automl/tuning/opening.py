"""Open a study: create or load it, refuse a changed one, and write its record.

Also the study's sampler and its header (what the leaderboard's title says about it, built
from the run's ``StudyRecord``).
"""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings
from typing import Any

import optuna

from automl.core.errors import StudyError
from automl.core.study_record import StudyHeader, StudyRecord
from automl.study.identity import diff
from automl.study.role import current_role
from automl.study.run import Run
from automl.study.search import sampler_keeps_state
from automl.tuning.admission import admission
from automl.tuning.factories import build_sampler, study_pruner
from automl.tuning.lost import fail_lost_trials
from automl.tuning.retry import enqueue_retry
from automl.tuning.sampling import StudySampler, distributions
from automl.tuning.storage import make_storage

__all__ = ["open_study", "study_header", "mark_deadline"]

# Samplers that never repeat a point by construction (grid and quasi-random sequences) or
# whose draws must not be asked for twice in one trial (CMA-ES's generations): no redraws.
_NO_REDRAW = ("grid", "qmc", "cmaes")
# Samplers that can draw a trial's configuration before the trial exists (automl.tuning.drafts):
# they read the study and write nothing to the trial (NSGA-II records its generation there).
_DRAFTS = ("tpe", "random", "gp")


def _sampler(run: Run) -> StudySampler:
    plan = run.plan
    chosen = plan.sampler
    one_seed = sampler_keeps_state(chosen.name)
    # A conditional space (model=auto) has no one set of parameters to redraw whole.
    redraw = chosen.name not in _NO_REDRAW and not chosen.conditional
    return StudySampler(
        functools.partial(build_sampler, chosen, space=plan.space, n_trials=plan.sweep.n_trials),
        run.seeds.sampling,
        distributions(plan.space) if redraw else None,
        per_trial_seed=not one_seed,
        drafts=chosen.name in _DRAFTS,
    )


def _retry_stale(study: optuna.Study, trial: optuna.trial.FrozenTrial, max_retries: int) -> None:
    """Optuna's stale-trial callback: re-run a trial lost by its heartbeats."""
    enqueue_retry(study, trial, max_retries)


def open_study(
    run: Run, notes: list[str]
) -> tuple[optuna.Study, StudySampler, optuna.storages.BaseStorage]:
    """Create the study, or load it (resume) after checking that it is the same study.

    Returns:
        The study, its sampler, and the storage as opened (Optuna wraps it in a cache).

    Creating the study, checking its identity and recording it are one step under the
    study's admission lock (``automl.tuning.admission``): two jobs started together on a new
    study name with different settings (a SLURM array) cannot both find it without an
    identity and both run in it; the second finds the first one's identity and is refused.

    Raises:
        StudyError: The stored study optimizes the other direction, or its identity differs
            in a way Optuna cannot absorb (unless ``sweep.resume=force``), or a forced resume
            changes a parameter's kind, scale or choices, which Optuna cannot store in one
            study. Nothing is written to the study before this check.
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
        storage_wait=sweep.storage_wait,
        # A worker's parent opened this storage already: a blip now is not a wrong URL.
        open_wait=sweep.storage_wait if current_role() is not None else 0.0,
    )
    sampler = _sampler(run)
    pruner = study_pruner(
        sweep.pruner,
        sweep.pruner_args,
        prunable=run.goal.prunable,
        multi=run.goal.multi,
        families=run.auto,
    )
    with admission(storage, plan.study_name):
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
                load_if_exists=True,  # a storage without the lock (MySQL) may race here
            )
        _check_identity(run, study, notes)
        # Every study names its objectives, so optuna-dashboard shows "val_acc", not "Objective 0".
        with warnings.catch_warnings():  # experimental in Optuna since 3.2, still in 5
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(run.goal.names)
        for key, value in run.record.attrs().items():  # the study's record: its one writer
            study.set_user_attr(key, value)
        fail_lost_trials(study, sweep.max_retries, admitted=True)
    return study, sampler, storage


def _check_identity(run: Run, study: optuna.Study, notes: list[str]) -> None:
    plan = run.plan
    existing = [d.name.lower() for d in study.directions]
    if existing != run.goal.directions:
        raise StudyError(
            f"study '{plan.study_name}' in this storage optimizes {', '.join(existing)}, not "
            f"{', '.join(run.goal.directions)}; choose another sweep.study_name"
        )
    stored = StudyRecord.from_attrs(study.user_attrs).fingerprint
    unstorable = _unstorable(run, study)
    if stored is None:
        if unstorable:
            raise StudyError(
                f"study '{plan.study_name}' cannot take this run's trials: {unstorable[0][1]}, "
                "and Optuna keeps one kind of distribution per parameter in a study; start a "
                f"new study with sweep.study_name=NEW_NAME, or restore {unstorable[0][0]}"
            )
        if study.get_trials(deepcopy=False):
            notes.append(
                f"study '{plan.study_name}' has no recorded identity (made by an older automl); "
                "this run's is recorded now and checked from the next run on"
            )
        return
    changes = diff(stored, dict(run.fingerprint))
    refused = [c for c in changes if not c.allowed]
    if refused and plan.sweep.resume != "force":
        lines = "\n".join(f"  {c}" for c in refused)
        how = (
            "continue this one anyway with sweep.resume=force"
            if not unstorable
            else f"restore {unstorable[0][0]} as it was (sweep.resume=force cannot continue it: "
            f"{unstorable[0][1]})"
        )
        raise StudyError(
            f"study '{plan.study_name}' was run with other settings; its trials are not "
            f"comparable with this run's:\n{lines}\nStart a new study with "
            f"sweep.study_name=NEW_NAME, or {how}"
        )
    if unstorable:
        name, why = unstorable[0]
        raise StudyError(
            f"sweep.resume=force cannot continue study '{plan.study_name}': {why}, and Optuna "
            "keeps one kind of distribution per parameter in a study; start a new study with "
            f"sweep.study_name=NEW_NAME, or restore {name} as it was"
        )
    for change in changes:
        kind = "forced" if not change.allowed else "allowed"
        notes.append(f"study '{plan.study_name}' changed ({kind}): {change}")


def _unstorable(run: Run, study: optuna.Study) -> list[tuple[str, str]]:
    """Searched parameters whose new distribution the study's storage would refuse.

    Optuna stores one kind of distribution per parameter name in a study: another type
    (float, int, choice), another scale (log) or other choices make every ``suggest`` of that
    parameter raise. Checked here, against the trials as stored, with Optuna's own rule.

    Returns:
        ``(space.NAME, what changed)`` for each such parameter.
    """
    from optuna.distributions import check_distribution_compatibility

    new = distributions(run.plan.space)
    out: dict[str, str] = {}
    for trial in study.get_trials(deepcopy=False):
        for name, old in trial.distributions.items():
            if name in out or name not in new:
                continue
            try:
                check_distribution_compatibility(old, new[name])
            except ValueError:
                out[name] = f"space.{name} was {_dist_text(old)} and is now {_dist_text(new[name])}"
    return [(f"space.{name}", why) for name, why in sorted(out.items())]


def _dist_text(dist: Any) -> str:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return "a choice of {" + ", ".join(map(str, dist.choices)) + "}"
    kind = "an int" if isinstance(dist, IntDistribution) else "a float"
    return f"{kind} on a log scale" if dist.log else f"{kind} on a linear scale"


def study_header(run: Run) -> StudyHeader:
    """What the leaderboard's title and ``leaderboard.json`` say about the study: its record
    (``Run.record``), its name and its run directory."""
    return StudyHeader.of(run.record, run.plan.study_name, results=str(run.plan.run_dir))


def mark_deadline(study: optuna.Study, header: StudyHeader, timeout: float | None) -> StudyHeader:
    """Record when this invocation stops starting trials (``sweep.timeout``) on the study
    (``watch`` reads it; ``None`` without one clears an earlier invocation's) and return the
    header with it (the live view's time left)."""
    deadline = time.time() + float(timeout) if timeout else None
    for key, value in StudyRecord(deadline=deadline).attrs(("deadline",), clear=True).items():
        study.set_user_attr(key, value)
    return dataclasses.replace(header, deadline=deadline)
