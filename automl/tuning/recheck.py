"""``sweep.recheck_top=k``: before the export, train the top ``k`` configurations again with
other seeds and choose on the mean.

A search picks its winner on one training run per configuration; on small validation splits
the top few are often within noise of each other (``automl.results.trust``). Each rechecked
configuration is trained ``sweep.recheck_seeds`` more times on the same split with seeds no
trial used, from its own saved config (``trials/NNNN/config.yaml``); the configuration with
the best mean of its values (the search's and the rechecks') is exported, as its own trial's
model. The values are stored on the study (its record's ``recheck``: trial -> values).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from automl.core.errors import Interrupted, reason
from automl.core.study_record import StudyRecord
from automl.results.finalize import select_trial
from automl.results.leaderboard import rank_rows, row_from_trial
from automl.study.run import Run
from automl.tuning.selection import Choice

__all__ = ["recheck", "SEED_STRIDE"]

SEED_STRIDE = 100_003
"""Recheck ``j`` of a trial trains with its seed plus ``j`` times this (no trial's seed)."""


def recheck(
    run: Run,
    study: optuna.Study,
    trials: list[FrozenTrial],
    choice: Choice,
    say: Callable[[str], None],
    interruptible: Callable[[], AbstractContextManager[Any]] | None = None,
) -> Choice:
    """Retrain the top ``sweep.recheck_top`` configurations and choose on the mean.

    Returns ``choice`` unchanged when there is nothing to recheck (fewer than two complete
    trials, several objectives, an objective measured after training) or a stop signal ends
    the rechecks; otherwise a ``Choice`` of the best mean, with its rule in words.
    """
    sweep, goal = run.plan.sweep, run.goal
    if not sweep.recheck_top or choice.trial is None or goal.multi or not goal.prunable:
        return choice
    complete = [t for t in trials if t.state.name == "COMPLETE" and t.values]
    ranked = rank_rows([row_from_trial(t) for t in complete], goal.directions[0], goal.names[0])
    by_number = {t.number: t for t in complete}
    top = [by_number[r.number] for r in ranked if r.rank is not None][: sweep.recheck_top]
    if len(top) < 2:
        return choice
    values: dict[int, list[float]] = {}
    try:
        with (interruptible or nullcontext)():
            for trial in top:
                selected = select_trial(run, trial)
                if isinstance(selected, str):
                    say(f"recheck: trial #{trial.number} left out ({selected})")
                    continue
                found = [float(trial.values[0])]
                for j in range(1, sweep.recheck_seeds + 1):
                    try:
                        result = run.services.fit(
                            selected.cfg,
                            family=selected.family,
                            seed=selected.seed + j * SEED_STRIDE,
                        )
                    except Interrupted:
                        raise
                    except Exception as exc:  # a seed that fails counts against the config
                        say(f"recheck: trial #{trial.number}, seed {j} failed ({reason(exc)})")
                        continue
                    found.append(float(result.value))
                values[trial.number] = found
    except Interrupted as exc:
        say(f"recheck stopped ({exc}); exporting the search's choice")
        return choice
    if len(values) < 2:
        return choice
    stored = StudyRecord(recheck={str(k): v for k, v in values.items()})
    for key, value in stored.attrs(("recheck",)).items():  # the study's record: its one writer
        study.set_user_attr(key, value)
    sign = 1.0 if goal.directions[0] == "maximize" else -1.0
    # Rank order breaks ties on the mean (the search's own tie-breaking).
    order = [t.number for t in top if t.number in values]
    best = max(order, key=lambda n: (sign * statistics.fmean(values[n]), -order.index(n)))
    out = Choice(run, trial=by_number[best])
    seeds = 1 + sweep.recheck_seeds
    means = ", ".join(
        f"#{n} {statistics.fmean(values[n]):.4g}±{statistics.pstdev(values[n]):.2g}" for n in order
    )
    was = "" if best == choice.trial.number else f"; the search alone picked #{choice.trial.number}"
    out.rule = (
        f"best mean {goal.names[0]} over {seeds} seeds of the top {len(order)} ({means}){was}"
    )
    return out
