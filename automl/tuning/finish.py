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
from automl.results.finalize import BEST_DIR, describe_budget, export, select_trial
from automl.results.leaderboard import Leaderboard, row_from_trial, write_leaderboard
from automl.study.run import Run
from automl.tuning.lock import run_dir_lock
from automl.tuning.outcome import StudyOutcome
from automl.tuning.selection import choose_best
from automl.tuning.trackers import TRACKERS, open_tracker

__all__ = ["finish_study"]


def _refit_note(info: dict[str, Any] | None, number: int) -> str | None:
    """One line on what the exported model was trained on, or why the refit failed."""
    if not info:
        return None
    if "failed" in info:
        return f"failed ({info['failed']}); exported trial #{number}'s own model"
    budget = describe_budget(info["budget"])
    return f"trial #{number}'s config retrained on {info['rows']} train+val rows ({budget})"


def _mark_best(run: Run, best: Any) -> str | None:
    """Tag the best trial's tracker run and attach ``best/``; a line when it could not be."""
    plan = run.plan
    logger = plan.trainer.logger
    if logger not in TRACKERS:
        return None
    run_id = record_of(best).tracker_run
    if run_id is None:
        return f"trainer.logger={logger}: trial #{best.number} has no tracker run to tag as best"
    try:
        tracker = open_tracker(logger, plan.run_dir, plan.study_name)
        assert tracker is not None
        tracker.mark_best(run_id, best.number, plan.run_dir / BEST_DIR)
    except Exception as exc:  # the study's result stands; the tracker misses a tag
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"trainer.logger={logger}: the best run was not tagged ({line[:300]})"
    return None


def finish_study(
    run: Run,
    study: optuna.Study,
    board: Leaderboard,
    header: dict[str, Any],
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
        header: ``study_header(run)`` (plus what the caller adds).
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
        if choice.why:
            outcome.export_note = choice.why
        if choice.trial is not None:
            best = choice.trial
            outcome.best_number, outcome.best_value = best.number, best.values[0]
            outcome.best_params = dict(best.params)
            val = dict(record_of(best).metrics)
            # After a stop signal the user wants out, not another training run.
            outcome.refit = run.refit_wanted() and stop_signal is None
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
                if not exported.failed:
                    tracked = _mark_best(run, best)
                    if tracked:
                        outcome.tracker_note = tracked
                if exported.test:
                    refit_note = _refit_note(exported.refit, best.number)
                    study.set_user_attr(
                        "best_test_metrics", {"trial": best.number, **outcome.test_metrics}
                    )
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
            )
        )
        for line in (
            outcome.stopped and f"stopped: {outcome.stopped}",
            outcome.export_note and f"best/ not written here: {outcome.export_note}",
            outcome.export_failed and f"best/ not written: {outcome.export_failed}",
            outcome.tracker_note,
        ):
            if line:
                console.print(f"automl: {line}", highlight=False, soft_wrap=True)
