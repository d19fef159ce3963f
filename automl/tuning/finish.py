"""The end of a study, however its loop stopped.

Leaderboard files, ``best/`` and the summary, from a fresh read of the study; the single
process and the parent of several workers (``automl.parallel``) both end here.

After a stop signal the end is bounded: a scheduler that sent SIGTERM sends SIGKILL soon
after (SLURM's ``KillWait``: 30 s). The leaderboard is written; ``best/`` is kept when it
already holds the chosen trial, and otherwise exported only if that takes at most
``STOP_EXPORT_S`` seconds (a large model's export can take longer: it is then left for the
next run of the command); the report is skipped (``automl.cli.app``).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console

from automl.core.errors import Interrupted, TrialTimeout, reason, signal_reason
from automl.core.records import counts_toward_total, ranked_values, record_of
from automl.core.study_record import StudyHeader, StudyRecord
from automl.results.finalize import (
    BEST_DIR,
    Exported,
    describe_budget,
    export,
    partial_dir,
    select_trial,
)
from automl.results.leaderboard import Leaderboard, row_from_trial, write_leaderboard
from automl.results.trust import trust_warnings
from automl.study.run import Run
from automl.tuning.lock import run_dir_lock
from automl.tuning.outcome import StudyOutcome
from automl.tuning.recheck import recheck
from automl.tuning.selection import choose_best
from automl.tuning.storage import StorageUnreachable
from automl.tuning.trackers import TRACKERS, open_tracker

__all__ = ["finish_study", "STOP_EXPORT_S"]

STOP_EXPORT_S = 10.0
"""Seconds the export of ``best/`` may take after a stop signal before it is abandoned (the
previous ``best/`` is kept): with the leaderboard and the workers' own stop, the process
exits well within the 30 s a scheduler leaves between SIGTERM and SIGKILL."""

_log = logging.getLogger("automl.study")


def _refit_note(info: dict[str, Any] | None, number: int) -> str | None:
    """One line on what the exported model was trained on, or why the refit failed."""
    if not info:
        return None
    if "failed" in info:
        return f"failed ({info['failed']}); exported trial #{number}'s own model"
    budget = describe_budget(info["budget"])
    return f"trial #{number}'s config retrained on {info['rows']} train+val rows ({budget})"


def _refit_skipped(run: Run, best: FrozenTrial) -> str | None:
    """Why the refit is skipped: it would not end within the time budget (``None``: it fits,
    or there is no budget)."""
    budget = run.budget.clock
    if budget is None:
        return None
    need = run.refit_seconds(record_of(best).train_s)
    spare = budget.left() - budget.export_seconds - (budget.report_seconds if budget.report else 0)
    if need <= spare:
        return None
    return (
        f"skipped: it would take about {need:.0f} s and the time budget "
        f"(sweep.timeout={budget.seconds:g} s) has {max(spare, 0):.0f} s left; exported trial "
        f"#{best.number}'s own model"
    )


def _mark_best(run: Run, best: FrozenTrial) -> str | None:
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


def _exported_test(best_dir: Path, study_name: str, number: int) -> dict[str, float] | None:
    """The test metrics in ``best/`` when it already holds trial ``number`` of the study."""
    import yaml

    try:
        config = yaml.safe_load((best_dir / "config.yaml").read_text())
        metrics = json.loads((best_dir / "metrics.json").read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return None
    if not isinstance(config, dict) or not isinstance(metrics, dict):
        return None
    if config.get("study") != study_name or config.get("trial") != number:
        return None
    test = metrics.get("test")
    if not isinstance(test, dict):
        return None
    return {str(k): float(v) for k, v in test.items() if isinstance(v, int | float)}


def _counted(trials: list[Any]) -> int:
    return sum(counts_toward_total(t.state.name, record_of(t)) for t in trials)


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
    bounded: Callable[[float], AbstractContextManager[Any]] | None = None,
) -> None:
    """Leaderboard files, ``best/`` and the summary, from a fresh read of the study.

    A storage that is unreachable (its outage outlasted ``sweep.storage_wait``) writes
    nothing: one line says so, and the next run of the command writes them.

    Args:
        run: The run (its data and backend test and export the best trial).
        study: The open study.
        board: The leaderboard (its rows are replaced by the fresh read).
        header: ``study_header(run)`` (with the parent's workers and launcher).
        outcome: Filled in: counts, best trial, test metrics, export notes.
        console: Where the summary goes.
        stop_signal: The stop signal the invocation received (skips the refit).
        interruptible: Wraps the refit so that a stop signal ends it.
        bounded: ``bounded(seconds)`` raises ``TrialTimeout`` in its block after ``seconds``
            (``StopSignals.bounded``): bounds the export after a stop signal.
    """
    try:
        _finish(run, study, board, header, outcome, console, stop_signal, interruptible, bounded)
    except StorageUnreachable as exc:
        outcome.storage_lost = True
        outcome.stopped = outcome.stopped or str(exc)
        console.print(
            f"automl: leaderboard and best/ not written: {exc}; run the same command again "
            "once the storage answers: it writes them (and runs any trials still missing)",
            highlight=False,
            soft_wrap=True,
        )


def _finish(
    run: Run,
    study: optuna.Study,
    board: Leaderboard,
    header: StudyHeader,
    outcome: StudyOutcome,
    console: Console,
    stop_signal: int | None,
    interruptible: Callable[[], AbstractContextManager[Any]] | None,
    bounded: Callable[[float], AbstractContextManager[Any]] | None,
) -> None:
    plan = run.plan
    wall, cpu = time.perf_counter(), time.process_time()
    # Workers sharing this run directory finish together: they take turns writing its files.
    with run_dir_lock(plan.run_dir):
        trials = study.get_trials(deepcopy=False)
        board.rows = {t.number: row_from_trial(t) for t in trials}
        try:
            write_leaderboard(board.ranked(), plan.run_dir, header)
        except OSError as exc:  # a full disk: the study is in its storage all the same
            outcome.leaderboard_failed = f"{reason(exc)}; the study's storage holds every trial"
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
            outcome.best_number = best.number
            outcome.best_value = (ranked_values(best) or [float("nan")])[0]
            outcome.best_params = dict(best.params)
            val = dict(record_of(best).metrics)
            # After a stop signal the user wants out, not another training run.
            outcome.refit = run.refit and stop_signal is None
            skipped = _refit_skipped(run, best) if outcome.refit else None
            if skipped:
                outcome.refit, refit_note = False, skipped
            selected = select_trial(run, best)
            known = _exported_test(plan.run_dir / BEST_DIR, plan.study_name, best.number)
            if isinstance(selected, str):
                outcome.export_note = selected
            elif stop_signal is not None and known is not None:
                outcome.test_metrics = known  # best/ already holds it: nothing to write
            else:
                choice.attach(selected)
                target = plan.run_dir / BEST_DIR
                if stop_signal is not None and bounded is not None:
                    try:
                        with bounded(STOP_EXPORT_S):
                            exported = export(run, selected, target, refit=False)
                    except (TrialTimeout, Interrupted):
                        # Outside the alarm: export's own cleanup may have been cut short.
                        shutil.rmtree(partial_dir(target), ignore_errors=True)
                        exported = Exported()
                        outcome.export_note = (
                            f"exporting trial #{best.number} takes longer than the "
                            f"{STOP_EXPORT_S:g} s left to it after the stop signal; the previous "
                            "best/ (if any) is unchanged. Run the same command with "
                            f"sweep.n_trials={_counted(trials)} to write it without more trials"
                        )
                else:
                    exported = export(
                        run, selected, target, refit=outcome.refit, interruptible=interruptible
                    )
                outcome.test_metrics = exported.test
                outcome.export_failed = outcome.export_failed or exported.failed
                if not exported.failed and outcome.export_note is None:
                    tracked = _mark_best(run, best)
                    if tracked:
                        outcome.tracker_note = tracked
                if exported.test:
                    if exported.refit:  # else a "refit skipped" note (the budget) stands
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
            outcome.leaderboard_failed
            and f"leaderboard.csv/.json not written: {outcome.leaderboard_failed}",
            outcome.export_note and f"best/ not written here: {outcome.export_note}",
            outcome.export_failed and f"best/ not written: {outcome.export_failed}",
            outcome.tracker_note,
        ):
            if line:
                console.print(f"automl: {line}", highlight=False, soft_wrap=True)
    # What the time budget reserves for this (automl.core.budget.EXPORT_CPU_S) is measured here.
    _log.info(
        "end of the study (leaderboard files, test, best/%s): %.2f s, %.2f s CPU",
        ", refit" if outcome.refit else "",
        time.perf_counter() - wall,
        time.process_time() - cpu,
    )
