"""The end of a study, however its loop stopped.

Leaderboard files, ``best/`` and the summary, from a fresh read of the study; the single
process and the parent of several workers (``automl.parallel``) both end here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.console import Console

from automl.core.errors import signal_reason
from automl.core.records import counts_toward_total, record_of
from automl.core.study_record import StudyHeader, StudyRecord
from automl.results.finalize import BEST_DIR, describe_budget, export, select_trial
from automl.results.leaderboard import Leaderboard, row_from_trial, write_leaderboard
from automl.results.trust import trust_warnings
from automl.study.run import Run
from automl.tuning.lock import run_dir_lock
from automl.tuning.outcome import StudyOutcome
from automl.tuning.recheck import recheck
from automl.tuning.selection import choose_best

__all__ = ["finish_study"]


def _refit_note(info: dict[str, Any] | None, number: int) -> str | None:
    """One line on what the exported model was trained on, or why the refit failed."""
    if not info:
        return None
    if "failed" in info:
        return f"failed ({info['failed']}); exported trial #{number}'s own model"
    budget = describe_budget(info["budget"])
    return f"trial #{number}'s config retrained on {info['rows']} train+val rows ({budget})"


def finish_study(
    run: Run,
    study: optuna.Study,
    board: Leaderboard,
    header: StudyHeader,
    outcome: StudyOutcome,
    console: Console,
    *,
    stop_signal: int | None = None,
    interruptible: Callable[[], AbstractContextManager[Any]] | None = None,
) -> None:
    """Leaderboard files, ``best/`` and the summary, from a fresh read of the study.

    Args:
        run: The run (its data and backend test and export the best trial).
        study: The open study.
        board: The leaderboard (its rows are replaced by the fresh read).
        header: ``study_header(run)`` (with the parent's workers and launcher).
        outcome: Filled in: counts, best trial, test metrics, export notes.
        console: Where the summary goes.
        stop_signal: The stop signal the invocation received (skips the refit).
        interruptible: Wraps the refit so that a stop signal ends it.
    """
    plan = run.plan
    # Workers sharing this run directory finish together: they take turns writing its files.
    with run_dir_lock(plan.run_dir):
        trials = study.get_trials(deepcopy=False)
        board.rows = {t.number: row_from_trial(t) for t in trials}
        write_leaderboard(board.ranked(), plan.run_dir, header)
        counts = Counter(t.state for t in trials)
        outcome.n_complete = counts[TrialState.COMPLETE]
        outcome.n_pruned = counts[TrialState.PRUNED]
        outcome.n_failed = counts[TrialState.FAIL]
        outcome.n_retried = sum(
            t.state == TrialState.FAIL and not counts_toward_total("FAIL", record_of(t))
            for t in trials
        )
        best, refit_note, val = None, None, {}
        choice = choose_best(run, study, trials)
        if plan.sweep.recheck_top and stop_signal is None:
            choice = recheck(
                run,
                study,
                trials,
                choice,
                lambda line: console.print(f"note: {line}", highlight=False, soft_wrap=True),
                interruptible,
            )
        if choice.why:
            outcome.export_note = choice.why
        if choice.trial is not None:
            best = choice.trial
            outcome.best_number, outcome.best_value = best.number, best.values[0]
            outcome.best_params = dict(best.params)
            val = dict(record_of(best).metrics)
            # After a stop signal the user wants out, not another training run.
            outcome.refit = run.refit and stop_signal is None
            selected = select_trial(run, best)
            if isinstance(selected, str):
                outcome.export_note = selected
            else:
                choice.attach(selected)
                exported = export(
                    run,
                    selected,
                    plan.run_dir / BEST_DIR,
                    refit=outcome.refit,
                    interruptible=interruptible,
                )
                outcome.test_metrics = exported.test
                outcome.export_failed = exported.failed
                if exported.test:
                    refit_note = _refit_note(exported.refit, best.number)
                    tested = StudyRecord(
                        best_test_metrics={"trial": best.number, **outcome.test_metrics}
                    )
                    for key, value in tested.attrs(("best_test_metrics",)).items():
                        study.set_user_attr(key, value)
        console.print(
            board.summary(
                outcome.best_params,
                val,
                outcome.test_metrics,
                str(plan.run_dir),
                outcome.best_number,
                interrupted=stop_signal is not None,
                refit=refit_note,
                status=None if stop_signal is None else signal_reason(stop_signal),
                selection=choice.lines(),
                warnings=trust_warnings(
                    board.ranked(), run.goal.names[0], header.n_val, multi=run.goal.multi
                ),
            )
        )
        for line in (
            outcome.stopped and f"stopped: {outcome.stopped}",
            outcome.export_note and f"best/ not written here: {outcome.export_note}",
            outcome.export_failed and f"best/ not written: {outcome.export_failed}",
        ):
            if line:
                console.print(f"automl: {line}", highlight=False, soft_wrap=True)
