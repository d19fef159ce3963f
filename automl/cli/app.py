"""The Hydra task: a composed config -> a run -> a study (``sweep=optuna``) or one fit (``none``).

Every check (plugins, space, sweep settings, data, preflight, the study's identity) runs before
anything is written; a refused invocation removes the run directory Hydra made for it when it
is still empty.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from automl.core.errors import Interrupted, OutOfTime, PluginCodeError, TrialTimeout, UserError
from automl.study.plan import RunPlan, make_plan
from automl.study.run import Run, prepare

if TYPE_CHECKING:
    from automl.core.plugin import DataPlugin, ModelPlugin
    from automl.core.registry import Registry

__all__ = ["run", "run_once"]


def run_once(run: Run, console: Console) -> int:
    """Train the model once with its (possibly overridden) config; export it to ``single/``.

    ``single/`` has the layout of a study's ``best/`` (``automl.results.predictor.load_best`` loads
    it). Returns the exit code (128 + signal when stopped).
    """
    from automl.results.finalize import SINGLE_DIR, Selected, describe_budget, export
    from automl.results.leaderboard import format_params
    from automl.study.rundir import record_invocation
    from automl.tuning.signals import StopSignals

    plan = run.plan
    record_invocation(plan.run_dir, plan.composed, plan.overrides)
    for note in run.notes:  # e.g. how the model reads the data's samples
        console.print(f"note: {note}", highlight=False, soft_wrap=True, markup=False)
    cfg = OmegaConf.to_object(plan.model_node)
    seed = run.seeds.training
    with StopSignals() as signals:
        try:
            times = _once_times(run)
            with signals.trial(plan.sweep.trial_timeout, times[1]):
                result = run.services.fit(cfg, seed=seed, deadline=times[0])
        except Interrupted as exc:
            console.print(f"stopped: {exc}; nothing exported", highlight=False)
            return exc.exit_code
        except OutOfTime as exc:  # no epoch to keep when the budget's cut came
            console.print(f"stopped: {exc}; nothing exported", highlight=False)
            return 1
        except TrialTimeout as exc:  # sweep.trial_timeout bounds the one fit too
            console.print(
                f"stopped: {exc} (sweep.trial_timeout); nothing exported", highlight=False
            )
            return 1
        selected = Selected(
            number=None,
            node=plan.model_node,
            cfg=cfg,
            budget=result.budget,
            val_metrics=result.metrics,
            seed=seed,
            model=result.model,
        )
        refit = run.refit and run.dataset.merged is not None
        exported = export(
            run, selected, plan.run_dir / SINGLE_DIR, refit=refit, interruptible=signals.trial
        )
    refit_line = []
    if exported.refit and "rows" in exported.refit:
        budget = describe_budget(result.budget)
        refit_line = [
            f"refit:      retrained on {exported.refit['rows']} train+val rows ({budget})"
        ]
    elif exported.refit:
        refit_line = [
            f"refit:      failed ({exported.refit['failed']}); exported the fit's own model"
        ]
    lines = [
        f"model={plan.model_name} data={plan.data_name} {run.steps}={result.epochs} "
        f"time={result.wall_time:.1f}s",
        *([f"stopped:    at the time budget {result.stopped}"] if result.stopped else []),
        f"validation: {format_params(result.metrics)}",
        *refit_line,
        f"test:       {format_params(exported.test)}",
        f"results:    {exported.directory or plan.run_dir}",
    ]
    if exported.failed:
        lines.append(f"automl: {SINGLE_DIR}/ not written: {exported.failed}")
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
    if signals.received is not None:
        return 128 + signals.received
    return 1 if exported.failed else 0


def _once_times(run: Run) -> tuple[float | None, tuple[float, float] | None]:
    """``sweep=none`` in a time budget: when its one fit stops (at its next report, keeping its
    best step) and when it is cut (``StopSignals.trial``)."""
    from automl.core.budget import wall_to_monotonic

    clock = run.budget.clock
    if clock is None:
        return None, None
    end = wall_to_monotonic(clock.trials_end)
    return end, (max(end, time.monotonic()) + clock.grace, clock.seconds)


def _printer(console: Console) -> Callable[[str], None]:
    """Print a line as written (no highlighting; a long path is not broken)."""
    return lambda line: console.print(line, highlight=False, soft_wrap=True)


def _report(plan: RunPlan, console: Console) -> None:
    """Write ``report/`` for the study, when it fits in the time budget; a failing report
    never fails the study."""
    from automl.core.budget import planned
    from automl.core.errors import reason

    budget = planned()
    if budget is not None and not budget.report:
        return  # said before the study: the report does not fit in the budget
    if budget is not None and budget.left() < budget.report_seconds:
        console.print(
            f"automl: report not written: the time budget (sweep.timeout={budget.seconds:g} s) "
            f"has {max(budget.left(), 0):.0f} s left and the report takes about "
            f"{budget.report_seconds:.0f} s here; draw it with: python -m automl report "
            f"{plan.run_dir}",
            highlight=False,
            soft_wrap=True,
        )
        return

    wall, cpu = time.perf_counter(), time.process_time()
    try:
        from automl.tuning.report import write_report

        storage = plan.sweep.storage or str(plan.run_dir)
        index = write_report(storage, plan.study_name, plan.run_dir)
    except Exception as exc:  # plotting is a courtesy; the study's results are written
        console.print(f"automl: report not written ({reason(exc)})", highlight=False)
        return
    # What the time budget reserves for it (automl.core.budget.REPORT_CPU_S) is measured here.
    logging.getLogger("automl.study").info(
        "report/: %.2f s, %.2f s CPU", time.perf_counter() - wall, time.process_time() - cpu
    )
    console.print(f"report:     {index}", highlight=False, soft_wrap=True)


def run(
    cfg: DictConfig,
    models: Registry[ModelPlugin],
    data: Registry[DataPlugin],
    console: Console | None = None,
    entry: Callable[[list[str]], int] | None = None,
) -> int:
    """Run the composed config; return the process exit code.

    ``entry`` is the command line's ``main``, handed to SLURM jobs (``automl.parallel``).

    Raises:
        UserError: A mistake found before anything was written (the run directory Hydra
            created for this invocation is removed again if it is empty).
    """
    from hydra.core.hydra_config import HydraConfig

    from automl.study.rundir import remove_if_new

    hc = HydraConfig.get()
    choices = hc.runtime.choices
    run_dir = Path(hc.runtime.output_dir)
    try:
        plan = make_plan(
            cfg, choices["model"], choices["data"], models, data, run_dir, list(hc.overrides.task)
        )
        console = console or Console()
        from automl.parallel import current_role, dispatch, with_storage

        role = current_role()
        plan = with_storage(plan, None if role is not None else _printer(console))
        # Several workers, a SLURM job: automl.parallel (the parent's StudyOutcome, or a
        # job's exit code).
        outcome = dispatch(plan, console, entry)
        if outcome is None:
            prepared = prepare(plan)
            if prepared.plan.sweep.engine == "none":
                return run_once(prepared, console)
            from automl.tuning import run_study

            outcome = run_study(prepared, console, role)
        code = outcome if isinstance(outcome, int) else outcome.exit_code
        # Once per study, not in its workers or jobs; not after a stop signal (a scheduler's
        # SIGKILL follows it) nor without a storage to read.
        wanted = not isinstance(outcome, int) and outcome.report_wanted
        if role is None and plan.sweep.report and wanted:
            _report(plan, console)
        return code
    except UserError as exc:
        remove_if_new(run_dir, Path.cwd())
        if isinstance(exc, PluginCodeError):
            from automl.core.plugin_code import save_details
            from automl.study.rundir import LOG_FILE

            # An existing study's directory keeps the traceback in its log; a new one is
            # gone again, so the line says which file holds it.
            save_details(exc, run_dir / LOG_FILE if run_dir.is_dir() else None)
        raise
