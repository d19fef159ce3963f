"""Run an Optuna study in-process: one study across reruns and workers.

Opening checks the study's identity (``automl.identity``) against what is stored, so a changed
study is refused before anything runs. The loop counts the trials that count (complete, pruned,
and failures of the trial itself), starts one while the total is not reached, under a lock that
makes "count, ask, sample" one step across workers, and stops on a stop signal, the time
budget or a streak of failures. The end is the same however the loop stopped: the leaderboard
files, ``best/`` and the summary are written from a fresh read of the study (``finish_study``,
which the parent of several workers calls too, once they are done). A worker started by such a
parent (``automl.parallel``) runs the loop only and leaves the end to its parent.
"""

from __future__ import annotations

import functools
import logging
import math
import time
import warnings
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.console import Console
from rich.live import Live

from automl.errors import Interrupted, StudyError, signal_reason
from automl.finalize import BEST_DIR, describe_budget, export, select_trial
from automl.identity import diff
from automl.leaderboard import Leaderboard, row_from_trial, write_leaderboard
from automl.parallel.role import Role
from automl.plan import RunPlan
from automl.records import counts_toward_total, record_of
from automl.run import Run, prepare
from automl.rundir import record_invocation
from automl.search import sampler_keeps_state
from automl.signals import StopSignals
from automl.tuning.admission import admission
from automl.tuning.factories import build_sampler, study_pruner
from automl.tuning.lock import run_dir_lock
from automl.tuning.lost import fail_lost_trials
from automl.tuning.objective import SharedOutOfMemory, StorageLost, TrialRunner, start_trial
from automl.tuning.retry import enqueue_retry
from automl.tuning.sampling import StudySampler, distributions
from automl.tuning.selection import choose_best, search_attrs, search_header
from automl.tuning.storage import make_storage
from automl.tuning.warm import enqueue_first

__all__ = ["StudyOutcome", "run_study", "open_study", "tally", "finish_study", "study_header"]

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
_log = logging.getLogger("automl.study")
# Samplers that never repeat a point by construction (grid and quasi-random sequences) or
# whose draws must not be asked for twice in one trial (CMA-ES's generations): no redraws.
_NO_REDRAW = ("grid", "qmc", "cmaes")


@dataclass
class StudyOutcome:
    """What a study invocation left behind, and the exit code that says so.

    Attributes:
        n_complete, n_pruned, n_failed: Trials of the study by state (all workers).
        n_retried: Failed trials whose infrastructure failed (re-run, not counted).
        ran: Trials this invocation ran; ``ran_ok`` of them complete or pruned.
        signal: The stop signal received, if any.
        stopped: Why the loop stopped before the total (a failure streak, the storage).
        export_note: Why ``best/`` is not this worker's to write (the best trial's files are
            in another worker's run directory).
        export_failed: Why writing ``best/`` failed.
        worker: The invocation is a worker of a parent (``automl.parallel``): it runs trials,
            and the parent judges the study.
        backed_off: The worker gave its GPU slot up after a trial ran out of memory there.
    """

    study_name: str
    direction: str
    metric: str
    n_complete: int = 0
    n_pruned: int = 0
    n_failed: int = 0
    n_retried: int = 0
    best_number: int | None = None
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)
    signal: int | None = None
    refit: bool = False
    ran: int = 0
    ran_ok: int = 0
    stopped: str | None = None
    export_note: str | None = None
    export_failed: str | None = None
    worker: bool = False
    backed_off: bool = False

    @property
    def interrupted(self) -> bool:
        """A stop signal (SIGINT/SIGTERM) ended the invocation."""
        return self.signal is not None

    @property
    def exit_code(self) -> int:
        """128 + signal after a stop signal; 1 when the invocation failed to do its job (a
        failure streak, a lost storage, no trial of its own completed or pruned, no best
        model at all, an export that could not be written); else 0. A worker says only how it
        stopped (``automl.parallel.role``): its parent judges the study."""
        if self.signal is not None:
            return 128 + self.signal
        if self.worker:
            from automl.parallel.role import EXIT_BACKED_OFF, EXIT_STOPPED

            return EXIT_STOPPED if self.stopped else EXIT_BACKED_OFF if self.backed_off else 0
        if self.stopped or self.export_failed:
            return 1
        if self.ran and not self.ran_ok:
            return 1
        if self.ran and self.best_number is None:
            return 1
        return 0


def tally(trials: list[Any]) -> tuple[int, int]:
    """``(counted, running)``: trials that count toward ``sweep.n_trials``, and RUNNING ones."""
    counted = sum(counts_toward_total(t.state.name, record_of(t)) for t in trials)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    return counted, running


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
    if run.goal.multi:
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


def _total(run: Run) -> int:
    """``sweep.n_trials``, or the grid's size when a grid has fewer points."""
    grid = run.plan.sampler.grid
    if grid is None:
        return run.plan.sweep.n_trials
    return min(run.plan.sweep.n_trials, math.prod(len(v) for v in grid.values()))


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
        **search_header(run),
    }


def _refit_note(info: dict[str, Any] | None, number: int) -> str | None:
    """One line on what the exported model was trained on, or why the refit failed."""
    if not info:
        return None
    if "failed" in info:
        return f"failed ({info['failed']}); exported trial #{number}'s own model"
    budget = describe_budget(info["budget"])
    return f"trial #{number}'s config retrained on {info['rows']} train+val rows ({budget})"


def run_study(
    run: Run | RunPlan, console: Console | None = None, role: Role | None = None
) -> StudyOutcome:
    """Run (or resume) the run's study until ``sweep.n_trials`` trials count.

    Args:
        run: The prepared run (a plan is prepared here).
        console: Where the leaderboard and summary go (stdout by default).
        role: This process's role when a parent started it (``automl.parallel.role``): a
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
    study, sampler, storage = open_study(run, notes)
    enqueue_first(run, study, storage, notes)
    if not worker:  # the parent records the invocation once
        record_invocation(plan.run_dir, plan.composed, plan.overrides)
    console.print(run.backend.describe(), highlight=False, soft_wrap=True)
    for note in notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
        _log.info("note: %s", note)
    _log.info("study %s: model=%s data=%s device=%s sweep.n_trials=%d",
              plan.study_name, plan.model_name, plan.data_name, run.backend.device,
              sweep.n_trials)  # fmt: skip

    trials = study.get_trials(deepcopy=False)
    counted, running = tally(trials)
    header = study_header(run)
    board = Leaderboard(console, header, [t for t in trials if t.state in _FINISHED], sweep.top_k)
    if counted + running >= sweep.n_trials:
        console.print(
            f"study '{plan.study_name}' already has {counted} finished trials "
            f"(sweep.n_trials={sweep.n_trials}); raise sweep.n_trials to run more"
            + (f"; {running} still running in other workers" if running else "")
        )
    elif counted:
        console.print(
            f"resuming study '{plan.study_name}': {counted} trials done, "
            f"{sweep.n_trials - counted} to go"
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
    )
    live = board.live and sweep.live and counted + running < sweep.n_trials
    with signals, Live(board, console=console, refresh_per_second=4) if live else nullcontext():
        _loop(run, study, storage, runner, signals, board, outcome)
        outcome.signal = signals.received
        # One read of the final state: the live view's last frame, the files and the
        # summary all use it.
        board.running.clear()
        board.rows = {t.number: row_from_trial(t) for t in study.get_trials(deepcopy=False)}
    if worker:
        assert role is not None
        _worker_end(role, outcome, console)
        return outcome
    with signals:  # a signal during the export: finish writing, then exit with its code
        finish_study(
            run,
            study,
            board,
            header,
            outcome,
            console,
            stop_signal=signals.received,
            interruptible=signals.trial,
        )
        outcome.signal = signals.received
    _log.info(
        "done: %d complete, %d pruned, %d failed (%d re-run); best #%s; exit code %d%s",
        outcome.n_complete, outcome.n_pruned, outcome.n_failed, outcome.n_retried,
        outcome.best_number, outcome.exit_code,
        f"; {outcome.stopped}" if outcome.stopped else "",
    )  # fmt: skip
    return outcome


def _worker_end(role: Role, outcome: StudyOutcome, console: Console) -> None:
    """A worker's last lines in its log: what it ran, and why it stopped early."""
    console.print(
        f"{role.name}: ran {outcome.ran} trials, {outcome.ran_ok} complete or pruned",
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
    """Start trials until the total counts, a stop signal, the time budget or a streak."""
    sweep = run.plan.sweep
    deadline = time.monotonic() + sweep.timeout if sweep.timeout else None
    streak: Counter[str] = Counter()
    try:
        while signals.received is None:
            if deadline is not None and time.monotonic() > deadline:
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
            with admission(storage, run.plan.study_name):
                fail_lost_trials(study, sweep.max_retries)
                counted, running = tally(study.get_trials(deepcopy=False))
                if counted + running >= _total(run):
                    break
                trial, params = start_trial(run, study)
            try:
                try:
                    state = runner.run_trial(trial, params)
                except SharedOutOfMemory:
                    # The trial is re-run by another worker; this one gives its slot up.
                    state, outcome.backed_off = TrialState.FAIL, True
            finally:
                outcome.ran += 1
                frozen = study._storage.get_trial(trial._trial_id)
                board.sync(study.get_trials(deepcopy=False, states=_FINISHED))
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
    except StorageLost as exc:
        outcome.stopped = (
            f"the study storage stayed unreachable for sweep.grace_period="
            f"{sweep.grace_period} s ({exc}); the running trial is re-run when the study is next "
            "opened"
        )


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
        ):
            if line:
                console.print(f"automl: {line}", highlight=False, soft_wrap=True)
