"""Run an Optuna study in-process: one study across reruns and workers.

Opening checks the study's identity (``automl.study.identity``) against what is stored, so a changed
study is refused before anything runs. The loop counts the trials that count (complete, pruned,
and failures of the trial itself), starts one while the total is not reached, under a lock that
makes "count, start" one step across workers (the configuration drawn just before it,
``automl.tuning.drafts``), and stops on a stop signal, the time
budget or a streak of failures. The end is the same however the loop stopped: the leaderboard
files, ``best/`` and the summary are written from a fresh read of the study (``finish_study``,
which the parent of several workers calls too, once they are done). A worker started by such a
parent (``automl.parallel``) runs the loop only and leaves the end to its parent.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from contextlib import nullcontext

import optuna
from optuna.trial import TrialState
from rich.console import Console
from rich.live import Live

from automl.core.errors import Interrupted
from automl.core.records import counts_toward_total, ranked_values, record_of
from automl.results.leaderboard import Leaderboard, row_from_trial
from automl.results.leaderboard.text import trials as trials_text
from automl.study.plan import RunPlan
from automl.study.role import Role
from automl.study.run import Run, prepare
from automl.study.rundir import record_invocation
from automl.tuning.admission import admission
from automl.tuning.drafts import claim, open_claimed
from automl.tuning.finish import finish_study
from automl.tuning.lost import fail_lost_trials, fail_unowned
from automl.tuning.objective import (
    DiskFull,
    SharedOutOfMemory,
    StorageLost,
    TrialRunner,
    start_trial,
)
from automl.tuning.opening import mark_deadline, open_study, study_header
from automl.tuning.outcome import StudyOutcome, tally
from automl.tuning.signals import StopSignals
from automl.tuning.storage import StorageUnreachable
from automl.tuning.trackers import open_tracker
from automl.tuning.warm import enqueue_first, warm_configs

__all__ = ["StudyOutcome", "run_study", "open_study", "tally", "finish_study", "study_header"]

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
_log = logging.getLogger("automl.study")


def run_study(
    run: Run | RunPlan, console: Console | None = None, role: Role | None = None
) -> StudyOutcome:
    """Run (or resume) the run's study until ``sweep.n_trials`` trials count.

    Args:
        run: The prepared run (a plan is prepared here).
        console: Where the leaderboard and summary go (stdout by default).
        role: This process's role when a parent started it (``automl.study.role``): a
            worker runs trials and leaves the leaderboard files, ``best/`` and the summary to
            its parent.

    Returns:
        Counts, the best trial, its test metrics, and the exit code the command returns.
    """
    if isinstance(run, RunPlan):
        run = prepare(run)
    console = console or Console()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the leaderboard reports trials
    plan, sweep = run.plan, run.plan.sweep
    worker = role is not None and role.kind == "worker"
    notes = [*plan.sampler.notes, *run.notes]
    # Read before the study opens, read-only: a target that cannot be used is refused
    # before anything exists.
    warm, warm_notes = warm_configs(run) if sweep.warm_start else ([], [])
    notes += warm_notes
    tracker = open_tracker(plan.trainer.logger, plan.run_dir, plan.study_name)
    if tracker is not None:
        notes.append(f"trainer.logger={tracker.name}: each trial is a run: {tracker.where}")
    study, sampler, storage = open_study(run, notes)
    enqueue_first(run, study, storage, notes, warm)
    if not worker:  # the parent records the invocation once
        record_invocation(plan.run_dir, plan.composed, plan.overrides)
    console.print(run.describe, highlight=False, soft_wrap=True)
    for note in notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True, markup=False)
        _log.info("note: %s", note)
    _log.info("study %s: model=%s data=%s device=%s sweep.n_trials=%d",
              plan.study_name, plan.model_name, plan.data_name, run.device,
              sweep.n_trials)  # fmt: skip

    trials = study.get_trials(deepcopy=False)
    counted, running = tally(trials)
    header = study_header(run)
    if not worker:  # a worker's parent records the invocation's deadline
        header = mark_deadline(study, header, sweep.timeout)
    board = Leaderboard(console, header, [t for t in trials if t.state in _FINISHED], sweep.top_k)
    total = run.budget.total
    if counted + running >= total:
        more = (
            "raise sweep.n_trials to run more"
            if total == sweep.n_trials
            else f"the space has no point left to run ({total} in all)"
        )
        console.print(
            f"study '{plan.study_name}' already has {counted} finished "
            f"{'trial' if counted == 1 else 'trials'} "
            f"(sweep.n_trials={sweep.n_trials}); {more}"
            + (f"; {running} still running in other workers" if running else "")
        )
    elif counted:
        console.print(
            f"resuming study '{plan.study_name}': {trials_text(counted)} done, "
            f"{total - counted} to go"
        )

    outcome = StudyOutcome(plan.study_name, run.goal.direction, run.goal.metric, worker=worker)
    # A worker's parent sends each stop signal it gets to every worker, and turns a second one
    # into SIGKILL: a repeat that reaches a worker directly as well (a SLURM job's processes
    # all get the scheduler's signal) must not cut its clean stop short.
    signals = StopSignals(exit_on_second=not worker)
    runner = TrialRunner(
        run,
        study,
        sampler,
        signals,
        on_start=board.trial_started,
        on_progress=board.trial_progress,
        shared=worker and role is not None and role.shared,
        tracker=tracker,
    )
    live = board.live and sweep.live and counted + running < total
    with signals, Live(board, console=console, refresh_per_second=4) if live else nullcontext():
        _loop(run, study, storage, runner, signals, board, outcome)
        outcome.signal = signals.received
        # One read of the final state: the live view's last frame, the files and the
        # summary all use it.
        board.running.clear()
        if not outcome.storage_lost:
            try:
                board.rows = {t.number: row_from_trial(t) for t in study.get_trials(deepcopy=False)}
            except StorageUnreachable as exc:
                outcome.storage_lost, outcome.stopped = True, str(exc)
    if worker:
        assert role is not None
        _worker_end(role, outcome, console)
        return outcome
    with signals:  # a signal during the export: finish writing, then exit with its code
        if outcome.storage_lost:
            _storage_gone(outcome, console)
        else:
            finish_study(
                run,
                study,
                board,
                header,
                outcome,
                console,
                stop_signal=signals.received,
                interruptible=signals.trial,
                bounded=signals.bounded,
            )
        outcome.signal = signals.received
    _log.info(
        "done: %d complete, %d pruned, %d failed (%d re-run); best #%s; exit code %d%s",
        outcome.n_complete, outcome.n_pruned, outcome.n_failed, outcome.n_retried,
        outcome.best_number, outcome.exit_code,
        f"; {outcome.stopped}" if outcome.stopped else "",
    )  # fmt: skip
    return outcome


def _has_result(study: optuna.Study) -> bool:
    """Whether the study holds a trial that could be exported (complete, or stopped early
    with its best step)."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    return any(ranked_values(t) for t in trials)


def _storage_gone(outcome: StudyOutcome, console: Console) -> None:
    """The end of a study whose storage is gone: one line each for why and what to do."""
    console.print(f"automl: stopped: {outcome.stopped}", highlight=False, soft_wrap=True)
    console.print(
        "automl: leaderboard and best/ not written (they are read from the storage); run the "
        "same command again once the storage answers: it writes them and runs any trials "
        "still missing",
        highlight=False,
        soft_wrap=True,
    )


def _worker_end(role: Role, outcome: StudyOutcome, console: Console) -> None:
    """A worker's last lines in its log: what it ran, and why it stopped early."""
    console.print(
        f"{role.name}: ran {trials_text(outcome.ran)}, {outcome.ran_ok} complete or pruned",
        highlight=False,
    )
    if outcome.backed_off:
        console.print(f"{role.name}: gave its GPU slot up (out of memory)", highlight=False)
    if outcome.stopped:
        console.print(f"automl: stopped: {outcome.stopped}", highlight=False, soft_wrap=True)


def _loop(
    run: Run,
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    runner: TrialRunner,
    signals: StopSignals,
    board: Leaderboard,
    outcome: StudyOutcome,
) -> None:
    """Start trials until the total counts, a stop signal, the time budget or a streak.

    Past the budget's end for trials no trial starts, except one when this invocation has
    run none and the study has nothing to export yet: it stops at its first report, so the
    command still ends with a model (and late).
    """
    sweep = run.plan.sweep
    clock = run.budget.clock
    streak: Counter[str] = Counter()
    try:
        while signals.received is None:
            if clock is not None and clock.trial_time_left() <= 0:
                if outcome.ran or _has_result(study):
                    break
            if (
                sweep.max_consecutive_failures
                and sum(streak.values()) >= sweep.max_consecutive_failures
            ):
                why, count = streak.most_common(1)[0]
                outcome.stopped = (
                    f"{sum(streak.values())} trials in a row failed "
                    f"(sweep.max_consecutive_failures={sweep.max_consecutive_failures}); the most "
                    f"common reason ({count}x): {why}"
                )
                break
            # Outside the lock: lost trials (gone processes, stale heartbeats) and the draft of
            # the next configuration; inside it only the count and one write (tuning.drafts).
            fail_lost_trials(study, sweep.max_retries)
            draft = runner.sampler.draft(study, study.get_trials(deepcopy=False))
            asked = time.monotonic()
            with admission(storage, run.plan.study_name):
                waited = time.monotonic() - asked
                trials = study.get_trials(deepcopy=False)
                if fail_unowned(study, trials, sweep.max_retries):
                    trials, draft = study.get_trials(deepcopy=False), None  # a retry waits
                counted, running = tally(trials)
                if counted + running >= run.budget.total:
                    break
                claimed = claim(study, runner.sampler, draft, trials, waited)
                if claimed is None:
                    trial, params = start_trial(run, study, waited)
            if claimed is not None:
                assert draft is not None
                trial, params = open_claimed(run, study, runner.sampler, claimed, draft)
            try:
                try:
                    state = runner.run_trial(trial, params)
                except SharedOutOfMemory:
                    # The trial is re-run by another worker; this one gives its slot up.
                    state, outcome.backed_off = TrialState.FAIL, True
            finally:
                outcome.ran += 1
                # One read: the ended trial, and other workers' trials finished meanwhile.
                trials = study.get_trials(deepcopy=False)
                frozen = next(t for t in trials if t.number == trial.number)
                board.sync([t for t in trials if t.state in _FINISHED])
                board.trial_finished(frozen)
                _log.info(board.plain_line(row_from_trial(frozen)))
            record = record_of(frozen)
            if outcome.backed_off:
                break
            if state in (TrialState.COMPLETE, TrialState.PRUNED):
                outcome.ran_ok += 1
                streak.clear()
            elif counts_toward_total(state.name, record):
                streak[record.error or "no reason recorded"] += 1
    except Interrupted:
        pass  # the trial is failed with the signal as its reason and will be re-run
    except (StorageLost, StorageUnreachable) as exc:
        outcome.storage_lost = True
        text = str(exc)
        if not text.startswith("the study storage"):
            text = f"the study storage failed ({text})"
        outcome.stopped = f"{text}; a trial it cut off is re-run when the study is next opened"
    except DiskFull as exc:
        outcome.stopped = str(exc)
